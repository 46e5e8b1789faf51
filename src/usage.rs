//! calicoctl's command-line grammar: which command lines it accepts, and what it prints for
//! the others (its docopt usage sections, byte for byte).
//!
//! Every command line passes through [`check`] before clap sees it. calicoctl's commands are
//! matched against calicoctl v3.32.1's own usage patterns and option declarations (the tables
//! below, checked against the clap definition in `cli.rs` by the tests): a line calicoctl
//! rejects is rejected with calicoctl's output; a line it accepts is handed to clap in a
//! normalised form (long options spelled out, positionals after `--`) so that both parsers
//! read it the same way. Options that are ours only (`--timeout`, `--dry-run`, ...) are
//! accepted in addition, by their exact spelling; commands that are ours only go to clap as
//! they are.

mod docopt;

use std::ffi::OsString;

use docopt::{Grammar, OptDecl, Tok};

/// A command of calicoctl that takes options and positionals (not a subcommand word).
struct Leaf {
    path: &'static [&'static str],
    /// The `Usage:` section, `<BINARY_NAME>` standing for the program name.
    usage: &'static str,
    /// The option part of each line of the `Options:` section.
    options: &'static [&'static str],
    /// Our own options (clap long names) this command accepts in addition.
    beyond: &'static [&'static str],
    /// The text calicoctl prints after `invalid option: 'calicoctl ARGS'.` when the command
    /// reports usage errors itself instead of through docopt.
    own_error: Option<&'static str>,
}

/// A command word of calicoctl that dispatches to subcommands.
struct Dispatcher {
    path: &'static [&'static str],
    /// The whole doc, as calicoctl prints it for an unknown subcommand.
    doc: &'static str,
}

/// Our options accepted by every calicoctl command (where calicoctl does not have them).
const GLOBAL_BEYOND: &[&str] = &["timeout", "context"];

/// calicoctl's top level (`calicoctl [options] <command> [<args>...]`, options first).
const TOP_DOC: &str = include_str!("usage/docs/top.txt");
const TOP_OPTIONS: &[&str] = &[
    "-h --help",
    "-l --log-level=<level>",
    "--context=<context>",
    "--allow-version-mismatch",
];

const DISPATCHERS: &[Dispatcher] = &[
    Dispatcher {
        path: &["ipam"],
        doc: include_str!("usage/docs/ipam.txt"),
    },
    Dispatcher {
        path: &["node"],
        doc: include_str!("usage/docs/node.txt"),
    },
    Dispatcher {
        path: &["datastore"],
        doc: include_str!("usage/docs/datastore.txt"),
    },
    Dispatcher {
        path: &["datastore", "migrate"],
        doc: include_str!("usage/docs/migrate.txt"),
    },
    Dispatcher {
        path: &["cluster"],
        doc: include_str!("usage/docs/cluster.txt"),
    },
];

/// calicoctl commands this implementation does not have.
const UNSUPPORTED: &[&[&str]] = &[&["node", "run"]];

const FILE_OPTIONS: [&str; 3] = ["-f --filename=<FILENAME>", "-R --recursive", "--skip-empty"];

const LEAVES: &[Leaf] = &[
    Leaf {
        path: &["create"],
        usage: "Usage:\n  <BINARY_NAME> create --filename=<FILENAME> [--recursive] [--skip-empty]\n                   [--skip-exists] [--config=<CONFIG>] [--namespace=<NS>] [--context=<context>] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            FILE_OPTIONS[0],
            FILE_OPTIONS[1],
            FILE_OPTIONS[2],
            "--skip-exists",
            "-c --config=<CONFIG>",
            "-n --namespace=<NS>",
            "--context=<context>",
            "--allow-version-mismatch",
        ],
        beyond: &[],
        own_error: None,
    },
    Leaf {
        path: &["replace"],
        usage: "Usage:\n  <BINARY_NAME> replace --filename=<FILENAME> [--recursive] [--skip-empty]\n                    [--config=<CONFIG>] [--namespace=<NS>] [--context=<context>] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            FILE_OPTIONS[0],
            FILE_OPTIONS[1],
            FILE_OPTIONS[2],
            "-c --config=<CONFIG>",
            "-n --namespace=<NS>",
            "--context=<context>",
            "--allow-version-mismatch",
        ],
        beyond: &[],
        own_error: None,
    },
    Leaf {
        path: &["apply"],
        usage: "Usage:\n  <BINARY_NAME> apply --filename=<FILENAME> [--recursive] [--skip-empty]\n                  [--config=<CONFIG>] [--namespace=<NS>] [--context=<context>] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            FILE_OPTIONS[0],
            FILE_OPTIONS[1],
            FILE_OPTIONS[2],
            "-c --config=<CONFIG>",
            "-n --namespace=<NS>",
            "--context=<context>",
            "--allow-version-mismatch",
        ],
        beyond: &["dry-run"],
        own_error: None,
    },
    Leaf {
        path: &["patch"],
        usage: "Usage:\n  <BINARY_NAME> patch <KIND> <NAME> --patch=<PATCH> [--type=<TYPE>] [--config=<CONFIG>] [--namespace=<NS>] [--context=<context>] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            "-p --patch=<PATCH>",
            "-t --type=<TYPE>",
            "-c --config=<CONFIG>",
            "-n --namespace=<NS>",
            "--context=<context>",
            "--allow-version-mismatch",
        ],
        beyond: &[],
        own_error: None,
    },
    Leaf {
        path: &["delete"],
        usage: "Usage:\n  <BINARY_NAME> delete ( (<KIND> [<NAME>...]) |\n                   --filename=<FILE> [--recursive] [--skip-empty] )\n                   [--skip-not-exists] [--config=<CONFIG>] [--namespace=<NS>] [--context=<context>] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            "-s --skip-not-exists",
            FILE_OPTIONS[0],
            FILE_OPTIONS[1],
            FILE_OPTIONS[2],
            "-c --config=<CONFIG>",
            "-n --namespace=<NS>",
            "--context=<context>",
            "--allow-version-mismatch",
        ],
        beyond: &[],
        own_error: None,
    },
    Leaf {
        path: &["get"],
        usage: "Usage:\n  <BINARY_NAME> get ( (<KIND> [<NAME>...]) |\n                --filename=<FILENAME> [--recursive] [--skip-empty] )\n                [--output=<OUTPUT>] [--config=<CONFIG>] [--namespace=<NS>] [--all-namespaces] [--export] [--context=<context>] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            FILE_OPTIONS[0],
            FILE_OPTIONS[1],
            FILE_OPTIONS[2],
            "-o --output=<OUTPUT FORMAT>",
            "-c --config=<CONFIG>",
            "-n --namespace=<NS>",
            "-A --all-namespaces",
            "--export",
            "--context=<context>",
            "--allow-version-mismatch",
        ],
        beyond: &["no-headers"],
        own_error: None,
    },
    Leaf {
        path: &["label"],
        usage: "Usage:\n  <BINARY_NAME> label (<KIND> <NAME>\n  \t              ( <key>=<value> [--overwrite] |\n  \t                <key> --remove )\n                  [--config=<CONFIG>] [--namespace=<NS>] [--context=<context>]) [--allow-version-mismatch]",
        options: &[
            "-h --help",
            "-c --config=<CONFIG>",
            "-n --namespace=<NS>",
            "--overwrite",
            "--remove",
            "--context=<context>",
            "--allow-version-mismatch",
        ],
        beyond: &[],
        own_error: None,
    },
    Leaf {
        path: &["validate"],
        usage: "Usage:\n  <BINARY_NAME> validate --filename=<FILENAME> [--recursive] [--skip-empty] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            FILE_OPTIONS[0],
            FILE_OPTIONS[1],
            FILE_OPTIONS[2],
            "--allow-version-mismatch",
        ],
        beyond: &[],
        own_error: None,
    },
    Leaf {
        path: &["version"],
        usage: "Usage:\n  <BINARY_NAME> version [--config=<CONFIG>] [--poll=<POLL>] [--allow-version-mismatch] [--client]",
        options: &[
            "-h --help",
            "-c --config=<CONFIG>",
            "--poll=<POLL>",
            "--allow-version-mismatch",
            "--client",
        ],
        beyond: &[],
        own_error: None,
    },
    Leaf {
        path: &["ipam", "check"],
        usage: "Usage:\n  <BINARY_NAME> ipam check [--config=<CONFIG>] [--show-all-ips] [--show-problem-ips] [-o <FILE>] [--kubeconfig <KUBECONFIG>] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            "-o --output=<FILE>",
            "--show-all-ips",
            "--show-problem-ips",
            "-c --config=<CONFIG>",
            "--kubeconfig=<KUBECONFIG>",
            "--allow-version-mismatch",
        ],
        beyond: &[],
        own_error: None,
    },
    Leaf {
        path: &["ipam", "release"],
        usage: "Usage:\n  <BINARY_NAME> ipam release [--ip=<IP>] [--from-report=<REPORT>]... [--config=<CONFIG>] [--force] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            "--ip=<IP>",
            "--from-report=<REPORT>",
            "--force",
            "-c --config=<CONFIG>",
            "--allow-version-mismatch",
        ],
        beyond: &[],
        own_error: None,
    },
    Leaf {
        path: &["ipam", "show"],
        usage: "Usage:\n  <BINARY_NAME> ipam show [--ip=<IP> | --show-blocks | --show-borrowed | --show-configuration] [--config=<CONFIG>] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            "--ip=<IP>",
            "--show-blocks",
            "--show-borrowed",
            "--show-configuration",
            "-c --config=<CONFIG>",
            "--allow-version-mismatch",
        ],
        beyond: &["output", "fail-above", "utilization"],
        own_error: None,
    },
    Leaf {
        path: &["ipam", "split"],
        usage: "Usage:\n  <BINARY_NAME> ipam split <NUMBER> [--cidr=<CIDR>] [--name=<POOL_NAME>] [--config=<CONFIG>] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            "-c --config=<CONFIG>",
            "--cidr=<CIDR>",
            "--name=<POOL_NAME>",
            "--allow-version-mismatch",
        ],
        beyond: &[],
        own_error: None,
    },
    Leaf {
        path: &["ipam", "configure"],
        usage: "Usage:\n  <BINARY_NAME> ipam configure [--strictaffinity=<true/false>]\n                               [--max-blocks-per-host=<number>]\n                               [--kubevirt-ip-persistence=<Enabled|Disabled>]\n                               [--config=<CONFIG>]\n                               [--allow-version-mismatch]",
        options: &[
            "-h --help",
            "--strictaffinity=<true/false>",
            "--max-blocks-per-host=<number>",
            "--kubevirt-ip-persistence=<Enabled|Disabled>",
            "-c --config=<CONFIG>",
            "--allow-version-mismatch",
        ],
        beyond: &[],
        own_error: None,
    },
    Leaf {
        path: &["node", "status"],
        usage: "Usage:\n  <BINARY_NAME> node status [--allow-version-mismatch]",
        options: &["-h --help", "--allow-version-mismatch"],
        beyond: &["bird-socket", "bird6-socket", "output", "check"],
        own_error: None,
    },
    Leaf {
        path: &["node", "diags"],
        usage: "Usage:\n  <BINARY_NAME> node diags [--log-dir=<LOG_DIR>] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            "--log-dir=<LOG_DIR>",
            "--allow-version-mismatch",
        ],
        beyond: &[],
        own_error: None,
    },
    Leaf {
        path: &["node", "checksystem"],
        usage: "Usage:\n  <BINARY_NAME> node checksystem [--kernel-config=<kernel-config>] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            "-f --kernel-config=<kernel-config>",
            "--allow-version-mismatch",
        ],
        beyond: &["host-root", "kernel-release"],
        own_error: None,
    },
    Leaf {
        path: &["datastore", "migrate", "export"],
        usage: "Usage:\n  <BINARY_NAME> datastore migrate export [--config=<CONFIG>] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            "-c --config=<CONFIG>",
            "--allow-version-mismatch",
        ],
        beyond: &[],
        own_error: None,
    },
    Leaf {
        path: &["datastore", "migrate", "import"],
        usage: "Usage:\n  <BINARY_NAME> datastore migrate import --filename=<FILENAME> [--config=<CONFIG>] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            FILE_OPTIONS[0],
            "-c --config=<CONFIG>",
            "--allow-version-mismatch",
        ],
        beyond: &["stop-after-steps"],
        own_error: None,
    },
    Leaf {
        path: &["datastore", "migrate", "lock"],
        usage: "Usage:\n  <BINARY_NAME> datastore migrate lock [--config=<CONFIG>] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            "-c --config=<CONFIG>",
            "--allow-version-mismatch",
        ],
        beyond: &[],
        own_error: None,
    },
    Leaf {
        path: &["datastore", "migrate", "unlock"],
        usage: "Usage:\n  <BINARY_NAME> datastore migrate unlock [--config=<CONFIG>] [--allow-version-mismatch]",
        options: &[
            "-h --help",
            "-c --config=<CONFIG>",
            "--allow-version-mismatch",
        ],
        beyond: &[],
        own_error: None,
    },
    Leaf {
        path: &["cluster", "diags"],
        usage: "Usage:\n  <BINARY_NAME> cluster diags [options]",
        options: &[
            "-h --help",
            "--since=<SINCE>",
            "--max-logs=<MAXLOGS>",
            "--max-parallelism=<MAXPARALLELISM>",
            "--focus-nodes=<NODES>",
            "-c --config=<CONFIG>",
            "--allow-version-mismatch",
            "--skip-temp-dir-cleanup",
        ],
        beyond: &[],
        own_error: Some(include_str!("usage/docs/cluster-diags.txt")),
    },
];

/// What to do with a command line.
#[derive(Debug)]
pub enum Verdict {
    /// Parse these arguments with clap. `usage` is calicoctl's usage error output (stderr) to
    /// print, exit code 1, should clap still reject them.
    Parse {
        args: Vec<OsString>,
        usage: Option<String>,
    },
    /// calicoctl's answer without running anything: print and exit.
    Exit {
        code: i32,
        stdout: String,
        stderr: String,
    },
}

/// The program name and description calicoctl puts in its texts.
struct Names {
    name: &'static str,
    desc: &'static str,
}

impl Names {
    fn fill(&self, text: &str) -> String {
        text.replace("<BINARY_NAME>", self.name)
            .replace("<BINARY_DESC>", self.desc)
    }
}

/// The `Usage:` section of a doc: its first line and the indented lines after it.
fn usage_section(doc: &str) -> String {
    let mut lines = doc.lines().skip_while(|l| !l.contains("Usage:"));
    let mut out: Vec<&str> = lines.next().into_iter().collect();
    out.extend(lines.take_while(|l| l.starts_with([' ', '\t'])));
    out.join("\n")
}

/// docopt's output for a command line that does not fit: the parser's message, if any, then
/// the usage section, trimmed, one newline.
fn usage_error(message: &str, usage: &str) -> String {
    format!("{}\n", format!("{message}\n{usage}").trim())
}

fn strings(args: &[OsString]) -> Option<Vec<String>> {
    args.iter()
        .map(|a| a.to_str().map(str::to_string))
        .collect()
}

fn has_help(toks: &[Tok]) -> bool {
    toks.iter()
        .any(|t| matches!(t, Tok::Opt { name, extra: false, .. } if name == "--help"))
}

/// Our own options a calicoctl command accepts in addition, as clap defines them.
fn beyond_decls(path: &[&str], beyond: &[&str], declared: &[OptDecl]) -> Vec<OptDecl> {
    let mut cmd = crate::cli_command(false);
    cmd.build();
    let mut sub = &cmd;
    for w in path {
        match sub.find_subcommand(w) {
            Some(s) => sub = s,
            None => return Vec::new(),
        }
    }
    let has = |long: &str| {
        declared
            .iter()
            .any(|d| d.long.as_deref() == Some(&format!("--{long}")))
    };
    sub.get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?;
            let wanted = beyond.contains(&long) || (GLOBAL_BEYOND.contains(&long) && !has(long));
            wanted.then(|| OptDecl {
                short: a.get_short().map(|c| format!("-{c}")),
                long: Some(format!("--{long}")),
                takes_arg: a.get_action().takes_values(),
            })
        })
        .collect()
}

/// Spells parsed options out for clap: `--long=value` or `--long`.
fn spelled(toks: &[Tok], out: &mut Vec<OsString>) {
    for t in toks {
        if let Tok::Opt { name, value, .. } = t {
            out.push(match value {
                Some(v) => format!("{name}={v}").into(),
                None => name.into(),
            });
        }
    }
}

fn positionals(toks: &[Tok]) -> impl Iterator<Item = &String> {
    toks.iter().filter_map(|t| match t {
        Tok::Arg(a) => Some(a),
        Tok::Opt { .. } => None,
    })
}

/// Whether `path` names one of our commands (clap's generated `help` is not one: calicoctl
/// has no such command).
fn is_clap_command(path: &[&str]) -> bool {
    if path.last() == Some(&"help") {
        return false;
    }
    let mut cmd = crate::cli_command(false);
    cmd.build();
    let mut sub = &cmd;
    for w in path {
        match sub.find_subcommand(w) {
            Some(s) => sub = s,
            None => return false,
        }
    }
    true
}

/// Decides what happens with `args` (argv[0] included), the way calicoctl's nested docopt
/// parsers would.
pub fn check(args: &[OsString], plugin: bool) -> Verdict {
    let names = if plugin {
        Names {
            name: "kubectl-calico",
            desc: "calico kubectl plugin",
        }
    } else {
        Names {
            name: "calicoctl",
            desc: "calicoctl command line tool",
        }
    };
    let original = || Verdict::Parse {
        args: args.to_vec(),
        usage: None,
    };
    let Some(argv) = strings(args.get(1..).unwrap_or_default()) else {
        return original();
    };
    let top_usage = names.fill(&usage_section(TOP_DOC));
    let top = Grammar::new(&top_usage, TOP_OPTIONS).expect("calicoctl's top-level usage parses");
    let top_extra = beyond_decls(&[], &[], top.options());
    let invalid = |message: &str| Verdict::Exit {
        code: 1,
        stdout: format!(
            "Invalid option: '{}'. Use flag '--help' to read about a specific subcommand.\n",
            argv.join(" ")
        ),
        stderr: usage_error(message, &top_usage),
    };
    let toks = match top.parse_argv(&argv, &top_extra, true) {
        Ok(t) => t,
        Err(m) => return invalid(&m.to_string()),
    };
    if has_help(&toks) {
        return original();
    }
    if toks
        .iter()
        .any(|t| matches!(t, Tok::Opt { name, .. } if name == "--version"))
    {
        return Verdict::Exit {
            code: 0,
            stdout: format!("Run '{} version' to see version information.\n", names.name),
            stderr: String::new(),
        };
    }
    if !top.matches(&toks) {
        return invalid("");
    }
    let (opts, rest): (Vec<Tok>, Vec<Tok>) =
        toks.into_iter().partition(|t| matches!(t, Tok::Opt { .. }));
    let mut words: Vec<String> = positionals(&rest).cloned().collect();
    // The top-level --allow-version-mismatch is passed on to the command, at the end.
    let allow_mismatch = opts.iter().any(
        |t| matches!(t, Tok::Opt { name, extra: false, .. } if name == "--allow-version-mismatch"),
    );
    if allow_mismatch {
        words.push("--allow-version-mismatch".into());
    }
    let mut out: Vec<OsString> = vec![args[0].clone()];
    spelled(&opts, &mut out);

    // Walk the dispatchers down to a leaf.
    let mut depth = 1;
    loop {
        let path: Vec<&str> = words[..depth].iter().map(String::as_str).collect();
        if let Some(leaf) = LEAVES.iter().find(|l| l.path == path.as_slice()) {
            return check_leaf(leaf, &names, &words, allow_mismatch, out);
        }
        if UNSUPPORTED.contains(&path.as_slice()) {
            return Verdict::Exit {
                code: 1,
                stdout: String::new(),
                stderr: format!(
                    "'{} {}' is not implemented: run calico/node with the operator, a manifest or a service unit\n",
                    names.name,
                    path.join(" ")
                ),
            };
        }
        if let Some(d) = DISPATCHERS.iter().find(|d| d.path == path.as_slice()) {
            match words.get(depth).map(String::as_str) {
                None => {
                    return Verdict::Exit {
                        code: 1,
                        stdout: String::new(),
                        stderr: usage_error("", &names.fill(&usage_section(d.doc))),
                    };
                }
                Some("-h" | "--help") => return original(),
                Some(_) => {
                    depth += 1;
                    let sub: Vec<&str> = words[..depth].iter().map(String::as_str).collect();
                    let known = LEAVES.iter().any(|l| l.path == sub.as_slice())
                        || DISPATCHERS.iter().any(|d| d.path == sub.as_slice())
                        || UNSUPPORTED.contains(&sub.as_slice());
                    if !known {
                        if is_clap_command(&sub) {
                            return original();
                        }
                        return Verdict::Exit {
                            code: 0,
                            stdout: names.fill(d.doc),
                            stderr: String::new(),
                        };
                    }
                    continue;
                }
            }
        }
        // Not a calicoctl command word.
        if depth == 1 && is_clap_command(&path) {
            return original();
        }
        return Verdict::Exit {
            code: 1,
            stdout: String::new(),
            stderr: format!(
                "unknown command: {}\n{}\n",
                serde_json::to_string(&path[0]).unwrap_or_default(),
                names.fill(TOP_DOC)
            ),
        };
    }
}

/// Checks a calicoctl command's own part of the line (`words` starts with its path).
fn check_leaf(
    leaf: &Leaf,
    names: &Names,
    words: &[String],
    allow_mismatch: bool,
    mut out: Vec<OsString>,
) -> Verdict {
    let usage = names.fill(leaf.usage);
    let grammar = Grammar::new(&usage, leaf.options).expect("calicoctl's usage patterns parse");
    let extra = beyond_decls(leaf.path, leaf.beyond, grammar.options());
    let mut argv: Vec<String> = words.to_vec();
    // calicoctl get takes `-a` for `-A`.
    if leaf.path == ["get"] {
        for a in argv.iter_mut().filter(|a| *a == "-a") {
            *a = "-A".into();
        }
    }
    let fail = |message: &str| Verdict::Exit {
        code: 1,
        stdout: String::new(),
        stderr: match leaf.own_error {
            Some(text) => format!(
                "invalid option: 'calicoctl {}'.\n\n{text}\n",
                argv.join(" ")
            ),
            None => usage_error(message, &usage),
        },
    };
    let toks = match grammar.parse_argv(&argv, &extra, false) {
        Ok(t) => t,
        Err(m) => return fail(&m.to_string()),
    };
    if has_help(&toks) {
        let words = &words[..words.len() - usize::from(allow_mismatch)];
        return Verdict::Parse {
            args: std::iter::once(out.swap_remove(0))
                .chain(words.iter().map(OsString::from))
                .collect(),
            usage: None,
        };
    }
    if !grammar.matches(&toks) {
        return fail("");
    }
    // Drop what the top level passed on: clap reads it there.
    let mut toks = toks;
    if allow_mismatch {
        toks.pop();
    }
    out.extend(leaf.path.iter().map(OsString::from));
    spelled(&toks, &mut out);
    let args: Vec<&String> = positionals(&toks).skip(leaf.path.len()).collect();
    if !args.is_empty() {
        out.push("--".into());
        out.extend(args.into_iter().map(OsString::from));
    }
    Verdict::Parse {
        args: out,
        usage: Some(usage_error("", &usage)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> Verdict {
        let args: Vec<OsString> = std::iter::once("calicoctl")
            .chain(line.split_whitespace())
            .map(OsString::from)
            .collect();
        check(&args, false)
    }

    fn parsed(line: &str) -> String {
        match run(line) {
            Verdict::Parse { args, .. } => args[1..]
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            v => panic!("{line}: {v:?}"),
        }
    }

    fn exit(line: &str) -> (i32, String, String) {
        match run(line) {
            Verdict::Exit {
                code,
                stdout,
                stderr,
            } => (code, stdout, stderr),
            v => panic!("{line}: {v:?}"),
        }
    }

    #[test]
    fn accepted_lines_are_normalised() {
        assert_eq!(parsed("get ippool"), "get -- ippool");
        assert_eq!(
            parsed("-l debug get --out=yaml ippool -A"),
            "--log-level=debug get --output=yaml --all-namespaces -- ippool"
        );
        assert_eq!(parsed("get -- ippool"), "get -- -- ippool");
        assert_eq!(
            parsed("--allow-version-mismatch ipam show --show-blocks"),
            "--allow-version-mismatch ipam show --show-blocks"
        );
        assert_eq!(
            parsed("apply -f x --dry-run --timeout 3s"),
            "apply --filename=x --dry-run --timeout=3s"
        );
        assert_eq!(parsed("get -a wep"), "get --all-namespaces -- wep");
        // Ours only: as typed.
        assert_eq!(parsed("diff -f x"), "diff -f x");
        assert_eq!(parsed("node cleanup --yes"), "node cleanup --yes");
    }

    #[test]
    fn rejected_lines_print_calicoctl_usage() {
        let (code, out, err) = exit("");
        assert_eq!(code, 1);
        assert_eq!(
            out,
            "Invalid option: ''. Use flag '--help' to read about a specific subcommand.\n"
        );
        assert_eq!(err, "Usage:\n  calicoctl [options] <command> [<args>...]\n");
        let (code, out, err) = exit("get ippool -o");
        assert_eq!((code, out.as_str()), (1, ""));
        assert!(err.starts_with("-o requires argument\nUsage:\n  calicoctl get ( (<KIND>"));
        assert!(
            exit("-c x get ippool")
                .1
                .starts_with("Invalid option: '-c x get ippool'")
        );
        assert!(
            exit("get ippool -l debug")
                .2
                .starts_with("Usage:\n  calicoctl get")
        );
        assert!(
            exit("--allow-version-mismatch get ippool --allow-version-mismatch")
                .2
                .starts_with("Usage:")
        );
        let (code, out, err) = exit("bogus");
        assert_eq!((code, out.as_str()), (1, ""));
        assert!(err.starts_with("unknown command: \"bogus\"\nUsage:\n"));
        let (code, out, _) = exit("ipam bogus");
        assert_eq!(code, 0);
        assert!(out.contains("calicoctl ipam <command>"));
        assert_eq!(
            exit("ipam").2,
            "Usage:\n  calicoctl ipam <command> [<args>...]\n"
        );
        assert_eq!(
            exit("--version").1,
            "Run 'calicoctl version' to see version information.\n"
        );
    }

    /// The tables agree with the clap definition: every calicoctl option exists in clap with
    /// the same value arity and short form, and every clap option of a calicoctl command is
    /// either calicoctl's or listed as ours.
    #[test]
    fn tables_match_clap() {
        let mut cmd = crate::cli_command(false);
        cmd.build();
        let strict_globals = ["log-level", "config", "allow-version-mismatch"];
        for leaf in LEAVES {
            let mut sub = &cmd;
            for w in leaf.path {
                sub = sub
                    .find_subcommand(w)
                    .unwrap_or_else(|| panic!("no clap command {:?}", leaf.path));
            }
            let g = Grammar::new(leaf.usage, leaf.options).unwrap();
            for d in g.options() {
                let long = d.long.as_deref().unwrap().trim_start_matches("--");
                if long == "help" {
                    continue;
                }
                let a = sub
                    .get_arguments()
                    .find(|a| a.get_long() == Some(long))
                    .unwrap_or_else(|| panic!("{:?}: clap has no --{long}", leaf.path));
                assert_eq!(
                    a.get_action().takes_values(),
                    d.takes_arg,
                    "{:?} --{long}",
                    leaf.path
                );
                if let Some(s) = &d.short {
                    assert_eq!(
                        a.get_short().map(|c| format!("-{c}")).as_ref(),
                        Some(s),
                        "{:?} --{long}",
                        leaf.path
                    );
                }
            }
            for a in sub.get_arguments() {
                let Some(long) = a.get_long() else { continue };
                if long == "help" {
                    continue;
                }
                let declared = g
                    .options()
                    .iter()
                    .any(|d| d.long.as_deref() == Some(&format!("--{long}")));
                let ours = leaf.beyond.contains(&long) || GLOBAL_BEYOND.contains(&long);
                let global_refused = a.is_global_set() && strict_globals.contains(&long);
                assert!(
                    declared || ours || global_refused,
                    "{:?}: --{long} is neither calicoctl's nor listed as ours",
                    leaf.path
                );
                assert!(
                    !(declared && leaf.beyond.contains(&long)),
                    "{:?}: --{long} is calicoctl's",
                    leaf.path
                );
            }
            for b in leaf.beyond {
                assert!(
                    sub.get_arguments().any(|a| a.get_long() == Some(b)),
                    "{:?}: beyond --{b} is not a clap option",
                    leaf.path
                );
            }
        }
        for d in DISPATCHERS {
            let mut sub = &cmd;
            for w in d.path {
                sub = sub.find_subcommand(w).unwrap();
            }
            let _ = sub;
        }
    }
}
