//! Embeds every `src/model/schema/*.schema` file so the binary carries its model, and
//! generates the `KindId` enum of the kinds they define.
use std::{env, fs, path::Path};

fn main() {
    // The commit `calicoctl version` prints.
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=CALICOCTL_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    let dir = Path::new("src/model/schema");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("schema dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "schema"))
        .collect();
    files.sort();
    let mut out = String::from(
        "/// Embedded schema sources: (file name, text).\npub static SCHEMA_SOURCES: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        // Relative to the package, not an absolute path: a build script output reused from
        // another checkout sharing the target dir (scripts/fresh-clone.sh) must still resolve.
        let name = f.file_name().unwrap().to_string_lossy();
        out.push_str(&format!(
            "    ({name:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/src/model/schema/{name}\"))),\n",
        ));
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("schema_files.rs");
    fs::write(dest, out).expect("write schema_files.rs");
    let kinds = kind_names(&files);
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("kind_ids.rs");
    fs::write(dest, kind_id_enum(&kinds)).expect("write kind_ids.rs");
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("resource_list.rs");
    fs::write(dest, resource_list_macro(&kinds)).expect("write resource_list.rs");
}

/// `resource_list!()`: the CRUD help's "Valid resource types are:" text as one literal (clap's
/// attributes take `concat!` of literals).
fn resource_list_macro(kinds: &[String]) -> String {
    let mut names: Vec<String> = kinds.iter().map(|k| k.to_lowercase()).collect();
    names.sort();
    let mut text = String::from("Valid resource types are:");
    for n in &names {
        text.push_str(&format!("\n    - {n}"));
    }
    format!("macro_rules! resource_list {{\n    () => {{\n        {text:?}\n    }};\n}}\n")
}

/// The resource kinds the schemas define: every `v3.` struct with `kind` and `metadata`
/// fields, sorted (the registry `KINDS` keeps the same order).
fn kind_names(files: &[std::path::PathBuf]) -> Vec<String> {
    let mut kinds = Vec::new();
    for f in files {
        let text = fs::read_to_string(f).expect("read schema");
        let mut current: Option<(String, bool, bool)> = None;
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["struct", name, ..] => {
                    current = name
                        .strip_prefix("v3.")
                        .map(|n| (n.to_string(), false, false));
                }
                ["end", ..] => {
                    if let Some((name, true, true)) = current.take() {
                        kinds.push(name);
                    }
                }
                ["kind", ..] => {
                    if let Some(c) = current.as_mut() {
                        c.1 = true;
                    }
                }
                ["metadata", ..] => {
                    if let Some(c) = current.as_mut() {
                        c.2 = true;
                    }
                }
                _ => {}
            }
        }
    }
    kinds.sort();
    kinds
}

/// `KindId`: one variant per kind, in `kind_names` order.
fn kind_id_enum(kinds: &[String]) -> String {
    let mut out = String::from(
        "/// One variant per `projectcalico.org/v3` kind (generated from the schemas, sorted).\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\n\
         pub enum KindId {\n",
    );
    for k in kinds {
        out.push_str(&format!("    {k},\n"));
    }
    out.push_str("}\n\nimpl KindId {\n    /// Every kind, in declaration order.\n    pub const ALL: &[KindId] = &[\n");
    for k in kinds {
        out.push_str(&format!("        KindId::{k},\n"));
    }
    out.push_str("    ];\n\n    /// The Kind as written in manifests.\n    pub fn name(self) -> &'static str {\n        match self {\n");
    for k in kinds {
        out.push_str(&format!("            KindId::{k} => {k:?},\n"));
    }
    out.push_str("        }\n    }\n}\n");
    out
}
