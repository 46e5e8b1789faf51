//! Dynamic shell completion: resource kinds, live resource names and context names.

use std::ffi::OsStr;

use clap_complete::engine::CompletionCandidate;

use crate::model::kinds::KINDS;

/// Kind names (every accepted CLI name).
pub fn kinds(current: &OsStr) -> Vec<CompletionCandidate> {
    let cur = current.to_string_lossy().to_lowercase();
    let mut names: Vec<&str> = KINDS.iter().flat_map(|k| k.names.iter().copied()).collect();
    names.sort();
    names
        .into_iter()
        .filter(|n| n.starts_with(&cur))
        .map(CompletionCandidate::new)
        .collect()
}

/// The command line being completed (after the `--` clap_complete passes).
fn words() -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--") {
        Some(i) => args[i + 1..].to_vec(),
        None => args,
    }
}

fn flag_value(words: &[String], short: &str, long: &str) -> Option<String> {
    for (i, w) in words.iter().enumerate() {
        if w == short || w == long {
            return words.get(i + 1).cloned();
        }
        if let Some(v) = w.strip_prefix(&format!("{long}=")) {
            return Some(v.to_string());
        }
    }
    None
}

/// Names of live resources of the kind typed earlier on the line.
pub fn names(current: &OsStr) -> Vec<CompletionCandidate> {
    let w = words();
    let verbs = ["get", "delete", "patch", "label"];
    let Some(vi) = w.iter().position(|x| verbs.contains(&x.as_str())) else {
        return Vec::new();
    };
    let Some(kind) = w[vi + 1..]
        .iter()
        .find(|x| !x.starts_with('-'))
        .and_then(|k| crate::model::kinds::by_cli_name(k))
    else {
        return Vec::new();
    };
    let config = flag_value(&w, "-c", "--config")
        .unwrap_or_else(|| crate::config::DEFAULT_CONFIG_PATH.into());
    let context = flag_value(&w, "--context", "--context");
    let ns = flag_value(&w, "-n", "--namespace");
    let cur = current.to_string_lossy().to_string();
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    rt.block_on(async {
        let Ok(loaded) =
            crate::config::load(&config, context.as_deref(), &crate::config::ProcessEnv)
        else {
            return Vec::new();
        };
        let Ok(client) =
            crate::datastore::connect(&loaded.spec, std::time::Duration::from_secs(2)).await
        else {
            return Vec::new();
        };
        let opts = crate::datastore::ListOptions {
            namespace: if kind.namespaced {
                Some(ns.unwrap_or_else(|| "default".into()))
            } else {
                None
            },
            name_prefix: None,
        };
        match client.list(kind, &opts).await {
            Ok(l) => l
                .items
                .iter()
                .map(crate::model::meta::name)
                .filter(|n| n.starts_with(&cur))
                .map(CompletionCandidate::new)
                .collect(),
            Err(_) => Vec::new(),
        }
    })
}

/// Context names from the config file.
pub fn contexts(current: &OsStr) -> Vec<CompletionCandidate> {
    let w = words();
    let config = flag_value(&w, "-c", "--config")
        .unwrap_or_else(|| crate::config::DEFAULT_CONFIG_PATH.into());
    let cur = current.to_string_lossy().to_string();
    match crate::config::list_contexts(&config) {
        Ok((names, _, true)) => names
            .into_iter()
            .filter(|n| n.starts_with(&cur))
            .map(CompletionCandidate::new)
            .collect(),
        _ => Vec::new(),
    }
}
