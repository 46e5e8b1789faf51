//! `calicoctl get` (a list without names, one Get per name) plus `-o name|jsonpath`,
//! `--no-headers`.

use std::io::Write;

use serde_json::Value;

use super::engine::{self, NsFlags};
use super::{CmdResult, Ctx, Failure};
use crate::cli::GetArgs;
use crate::datastore::ListOptions;
use crate::datastore::client::Client;
use crate::model::kinds::{ColumnCtx, KindId};
use crate::model::meta;
use crate::output::{self, OutputFormat, PrintOptions, Printed};

const PREFIX: &str = "failed to get resources: ";

pub async fn run(ctx: &mut Ctx, args: &GetArgs) -> CmdResult {
    let format = OutputFormat::parse(&args.output)?;
    if args.file.filename.is_none() && args.names.iter().any(|n| n.is_empty()) {
        return Err(Failure::Stderr(format!(
            "{PREFIX}resource name may not be empty"
        )));
    }
    let p = engine::prepare(
        ctx,
        &args.file,
        args.kind.as_deref(),
        &args.names,
        true,
        PREFIX,
    )
    .await?;
    if p.input.resources.is_empty() {
        return engine::no_resources(&mut ctx.out);
    }
    if let OutputFormat::CustomColumns(cols) = &format {
        output::check_headings(p.input.resources[0].kind, cols)?;
    }
    let flags = NsFlags {
        namespace: args.ns.namespace.clone(),
        all_namespaces: args.all_namespaces,
    };
    let listing = !p.input.from_file && args.names.is_empty();
    let print_namespace =
        args.all_namespaces || args.ns.namespace.as_deref().is_some_and(|n| !n.is_empty());
    // A namespace error is printed after the (empty) results, as the general path does.
    if listing
        && p.input.resources.len() == 1
        && output::stream::streamable(&format)
        && Client::streams_in_order(p.input.resources[0].kind)
        && engine::resolve_namespace(&mut p.input.resources[0].clone(), &flags).is_ok()
    {
        let mut res = p.input.resources.into_iter().next().expect("one resource");
        let ns = engine::resolve_namespace(&mut res, &flags)?;
        return stream_list(ctx, &p.client, res.kind, ns, args, &format, print_namespace).await;
    }
    let mut printed: Vec<Printed> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for mut res in p.input.resources {
        let ns = match engine::resolve_namespace(&mut res, &flags) {
            Ok(ns) => ns,
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        let kind = res.kind;
        if listing {
            let opts = list_options(kind, ns, args.all_namespaces);
            match p.client.list(kind, &opts).await {
                Ok(l) => printed.push(Printed::List {
                    kind,
                    items: l.items,
                    revision: l.revision,
                }),
                Err(e) => errors.push(e.to_string()),
            }
            continue;
        }
        if kind.namespaced && args.all_namespaces {
            errors.push("cannot use --all-namespace flag for getting a single resource".into());
            continue;
        }
        match p.client.get(kind, &ns, &meta::name(&res.obj)).await {
            Ok(mut obj) => {
                if args.export {
                    export(&mut obj);
                }
                printed.push(Printed::Object { kind, obj });
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let needs_asn = printed.iter().any(|pr| match pr {
        Printed::List { kind, .. } | Printed::Object { kind, .. } => kind.uses_default_asn(),
    }) || matches!(format, OutputFormat::GoTemplate(_));
    let column_ctx = ColumnCtx {
        default_asn: if needs_asn {
            default_asn(&p.client).await
        } else {
            String::new()
        },
    };
    let opts = PrintOptions {
        print_namespace,
        no_headers: args.no_headers,
        column_ctx,
    };
    output::print(&mut ctx.out, &printed, &format, &opts)?;
    if errors.is_empty() {
        Ok(0)
    } else {
        ctx.out.flush()?;
        Err(Failure::Stderr(errors.join("\n")))
    }
}

/// Prints one kind's list while reading it page by page (same bytes as the whole-list path).
async fn stream_list(
    ctx: &mut Ctx,
    client: &Client,
    kind: &'static crate::model::kinds::KindInfo,
    ns: String,
    args: &GetArgs,
    format: &OutputFormat,
    print_namespace: bool,
) -> CmdResult {
    let opts = PrintOptions {
        print_namespace,
        no_headers: args.no_headers,
        column_ctx: ColumnCtx {
            default_asn: if kind.uses_default_asn() {
                default_asn(client).await
            } else {
                String::new()
            },
        },
    };
    let list_opts = list_options(kind, ns, args.all_namespaces);
    let mut stream = output::stream::ListStream::new(&mut ctx.out, format, kind, &opts)?;
    let mut print_err: Option<output::OutputError> = None;
    let scanned = client
        .scan_pages(kind, &list_opts, &mut |rev, page| {
            if print_err.is_none()
                && let Err(e) = stream.page(rev, page)
            {
                print_err = Some(e);
            }
            Ok(())
        })
        .await;
    match scanned {
        Ok(rev) => {
            if let Some(e) = print_err {
                return Err(e.into());
            }
            stream.finish(&rev)?;
            Ok(0)
        }
        Err(e) => {
            drop(stream);
            ctx.out.flush()?;
            Err(Failure::Stderr(format!("{e}")))
        }
    }
}

/// What `get <kind>` lists: one namespace, or all with `-A` (cluster-scoped kinds: all).
fn list_options(
    kind: &'static crate::model::kinds::KindInfo,
    ns: String,
    all_namespaces: bool,
) -> ListOptions {
    ListOptions {
        namespace: (kind.namespaced && !all_namespaces).then_some(ns),
        name_prefix: None,
    }
}

/// `--export`: strip cluster-specific metadata.
fn export(obj: &mut Value) {
    meta::strip_server_fields(obj);
    meta::edit_meta(obj, |m| {
        m.remove("namespace");
    });
}

/// The cluster default AS number shown as `(64512)` in `get nodes -o wide`.
pub async fn default_asn(client: &Client) -> String {
    let k = KindId::BGPConfiguration.info();
    match client.get(k, "", "default").await {
        Ok(c) => c
            .get("spec")
            .and_then(|s| s.get("asNumber"))
            .and_then(Value::as_u64)
            .map(|n| n.to_string())
            .unwrap_or_else(|| "64512".into()),
        Err(e) if e.is_not_found() => "64512".into(),
        Err(_) => "unknown".into(),
    }
}
