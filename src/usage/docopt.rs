//! The docopt algorithm as calicoctl's docopt-go runs it: which command lines fit a usage
//! pattern, and the message for those that do not.
//!
//! A usage pattern is parsed into a tree (required and optional groups, alternatives,
//! repetition, positional arguments, command words, options); the command line is split into
//! options and positionals using the command's option declarations (long options may be
//! abbreviated to a unique prefix); then the tree is matched against that list, which must be
//! used up completely.

/// One option declaration of an `Options:` section, e.g. `-f --filename=<FILENAME>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptDecl {
    pub short: Option<String>,
    pub long: Option<String>,
    pub takes_arg: bool,
}

impl OptDecl {
    /// Parses the option part of a declaration line as docopt does: `,` and `=` separate words,
    /// `--x` is the long form, `-x` the short one, any other word means the option takes a value.
    pub fn parse(decl: &str) -> OptDecl {
        let mut d = OptDecl {
            short: None,
            long: None,
            takes_arg: false,
        };
        for w in decl.replace([',', '='], " ").split_whitespace() {
            if w.starts_with("--") {
                d.long = Some(w.to_string());
            } else if w.starts_with('-') {
                d.short = Some(w.to_string());
            } else {
                d.takes_arg = true;
            }
        }
        d
    }

    /// docopt's name of an option: the long form if there is one.
    pub fn name(&self) -> &str {
        self.long
            .as_deref()
            .or(self.short.as_deref())
            .unwrap_or_default()
    }
}

/// An element of a parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// A positional word.
    Arg(String),
    /// An option, by docopt name, with its value; `extra` marks options that are not in the
    /// declarations but accepted in addition (they take no part in matching).
    Opt {
        name: String,
        value: Option<String>,
        extra: bool,
    },
}

/// A usage pattern node.
#[derive(Debug, Clone)]
enum Pat {
    Required(Vec<Pat>),
    Optional(Vec<Pat>),
    Either(Vec<Pat>),
    OneOrMore(Box<Pat>),
    /// `[options]`: every declared option not named in the pattern, each optional.
    Shortcut,
    Argument,
    Command(String),
    Option(String),
}

/// A parsed usage section with its option declarations.
#[derive(Debug, Clone)]
pub struct Grammar {
    pattern: Pat,
    options: Vec<OptDecl>,
}

/// Splits a usage pattern into words, with brackets, bars and ellipses as words of their own.
fn pattern_words(source: &str) -> Vec<String> {
    let mut spaced = String::new();
    let mut rest = source;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("...") {
            spaced.push_str(" ... ");
            rest = &rest[3..];
        } else if "[]()|".contains(c) {
            spaced.push(' ');
            spaced.push(c);
            spaced.push(' ');
            rest = &rest[1..];
        } else {
            spaced.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    // A word holding `<...>` runs to the closing `>`, spaces and bars included
    // (`--x=<Enabled | Disabled>` is one word).
    let mut words = Vec::new();
    let mut rest = spaced.trim_start();
    while !rest.is_empty() {
        let run = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let end = match rest[..run].rfind('<') {
            Some(lt) => rest[lt..].find('>').map_or(run, |gt| lt + gt + 1),
            None => run,
        };
        words.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    words
}

/// `Usage: prog a | prog b` → `( a ) | ( b )`: every repetition of the program name starts an
/// alternative.
fn formal_usage(section: &str) -> String {
    let body = section.split_once(':').map(|(_, b)| b).unwrap_or(section);
    let words: Vec<&str> = body.split_whitespace().collect();
    let Some((prog, rest)) = words.split_first() else {
        return "( )".into();
    };
    let inner: Vec<&str> = rest
        .iter()
        .map(|w| if w == prog { ") | (" } else { w })
        .collect();
    format!("( {} )", inner.join(" "))
}

struct PatternParser<'a> {
    words: Vec<String>,
    pos: usize,
    options: &'a mut Vec<OptDecl>,
}

impl PatternParser<'_> {
    fn current(&self) -> Option<&str> {
        self.words.get(self.pos).map(String::as_str)
    }

    fn next(&mut self) -> Option<String> {
        let w = self.words.get(self.pos).cloned();
        self.pos += 1;
        w
    }

    fn expr(&mut self) -> Result<Vec<Pat>, DocoptError> {
        let seq = self.seq()?;
        if self.current() != Some("|") {
            return Ok(seq);
        }
        let group = |seq: Vec<Pat>| {
            if seq.len() > 1 {
                vec![Pat::Required(seq)]
            } else {
                seq
            }
        };
        let mut result = group(seq);
        while self.current() == Some("|") {
            self.next();
            let seq = self.seq()?;
            result.extend(group(seq));
        }
        Ok(if result.len() > 1 {
            vec![Pat::Either(result)]
        } else {
            result
        })
    }

    fn seq(&mut self) -> Result<Vec<Pat>, DocoptError> {
        let mut result = Vec::new();
        while !matches!(self.current(), None | Some("]" | ")" | "|")) {
            let mut atom = self.atom()?;
            if self.current() == Some("...") {
                self.next();
                atom = vec![Pat::OneOrMore(Box::new(Pat::Required(atom)))];
            }
            result.extend(atom);
        }
        Ok(result)
    }

    fn atom(&mut self) -> Result<Vec<Pat>, DocoptError> {
        let w = self.current().unwrap_or_default().to_string();
        match w.as_str() {
            "(" | "[" => {
                self.next();
                let inner = self.expr()?;
                let (close, node) = if w == "(" {
                    (")", Pat::Required(inner))
                } else {
                    ("]", Pat::Optional(inner))
                };
                if self.next().as_deref() != Some(close) {
                    return Err(DocoptError::Unmatched(w));
                }
                Ok(vec![node])
            }
            "options" => {
                self.next();
                Ok(vec![Pat::Shortcut])
            }
            _ if w.starts_with("--") && w != "--" => self.long(),
            _ if w.starts_with('-') && w != "-" && w != "--" => self.shorts(),
            _ if (w.starts_with('<') && w.ends_with('>')) || is_upper(&w) => {
                self.next();
                Ok(vec![Pat::Argument])
            }
            _ => {
                self.next();
                Ok(vec![Pat::Command(w)])
            }
        }
    }

    fn long(&mut self) -> Result<Vec<Pat>, DocoptError> {
        let w = self.next().unwrap_or_default();
        let (long, value) = match w.split_once('=') {
            Some((l, v)) => (l.to_string(), Some(v.to_string())),
            None => (w.clone(), None),
        };
        let found = self
            .options
            .iter()
            .find(|o| o.long.as_deref() == Some(&long))
            .cloned();
        match found {
            None => {
                let o = OptDecl {
                    short: None,
                    long: Some(long.clone()),
                    takes_arg: value.is_some(),
                };
                self.options.push(o);
            }
            Some(o) => {
                if !o.takes_arg && value.is_some() {
                    return Err(DocoptError::NoArgument(long));
                }
                if o.takes_arg && value.is_none() {
                    if matches!(self.current(), None | Some("--")) {
                        return Err(DocoptError::RequiresArgument(long));
                    }
                    self.next();
                }
            }
        }
        Ok(vec![Pat::Option(long)])
    }

    fn shorts(&mut self) -> Result<Vec<Pat>, DocoptError> {
        let w = self.next().unwrap_or_default();
        let mut left = w.trim_start_matches('-').to_string();
        let mut result = Vec::new();
        while let Some(c) = left.chars().next() {
            let short = format!("-{c}");
            left = left[c.len_utf8()..].to_string();
            let found = self
                .options
                .iter()
                .find(|o| o.short.as_deref() == Some(&short))
                .cloned();
            let name = match found {
                None => {
                    self.options.push(OptDecl {
                        short: Some(short.clone()),
                        long: None,
                        takes_arg: false,
                    });
                    short
                }
                Some(o) => {
                    if o.takes_arg {
                        if left.is_empty() {
                            if matches!(self.current(), None | Some("--")) {
                                return Err(DocoptError::RequiresArgument(short));
                            }
                            self.next();
                        }
                        left.clear();
                    }
                    o.name().to_string()
                }
            };
            result.push(Pat::Option(name));
        }
        Ok(result)
    }
}

/// A usage pattern or a command line that docopt refuses; the texts are docopt's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocoptError {
    #[error("unmatched '{0}'")]
    Unmatched(String),
    #[error("unexpected ending: {0:?}")]
    UnexpectedEnding(String),
    #[error("{0} must not have an argument")]
    NoArgument(String),
    #[error("{0} requires argument")]
    RequiresArgument(String),
    #[error("{prefix} is not a unique prefix: {candidates}?")]
    NotUniquePrefix { prefix: String, candidates: String },
    #[error("{short} is specified ambiguously {count} times")]
    Ambiguous { short: String, count: usize },
}

/// Python's `str.isupper()`: has cased letters and all of them are upper case.
fn is_upper(w: &str) -> bool {
    w.chars().any(char::is_alphabetic) && !w.chars().any(char::is_lowercase)
}

impl Grammar {
    /// Builds a grammar from a usage section (`Usage:` line and its indented continuation)
    /// and the option declarations of the command's `Options:` section.
    pub fn new(usage: &str, decls: &[&str]) -> Result<Grammar, DocoptError> {
        let mut options: Vec<OptDecl> = decls.iter().map(|d| OptDecl::parse(d)).collect();
        let mut p = PatternParser {
            words: pattern_words(&formal_usage(usage)),
            pos: 0,
            options: &mut options,
        };
        let seq = p.expr()?;
        if let Some(w) = p.current() {
            return Err(DocoptError::UnexpectedEnding(w.to_string()));
        }
        let pattern = Pat::Required(seq);
        Ok(Grammar { pattern, options })
    }

    /// The declared options (including those only the pattern names).
    pub fn options(&self) -> &[OptDecl] {
        &self.options
    }

    /// Splits a command line into options and positionals (docopt's `parse_argv`). `extra`
    /// options are recognised only by their exact spelling and are marked as such.
    pub fn parse_argv(
        &self,
        argv: &[String],
        extra: &[OptDecl],
        options_first: bool,
    ) -> Result<Vec<Tok>, DocoptError> {
        let mut options = self.options.clone();
        let mut out = Vec::new();
        let mut i = 0;
        while i < argv.len() {
            let a = argv[i].as_str();
            if a == "--" {
                out.extend(argv[i..].iter().cloned().map(Tok::Arg));
                return Ok(out);
            }
            if let Some(n) = extra_option(extra, argv, i, &mut out) {
                i = n;
            } else if a.starts_with("--") {
                i = parse_long(&mut options, argv, i, &mut out)?;
            } else if a.starts_with('-') && a != "-" {
                i = parse_shorts(&mut options, argv, i, &mut out)?;
            } else if options_first {
                out.extend(argv[i..].iter().cloned().map(Tok::Arg));
                return Ok(out);
            } else {
                out.push(Tok::Arg(a.to_string()));
                i += 1;
            }
        }
        Ok(out)
    }

    /// Whether the parsed command line fits the pattern exactly (extra options ignored).
    pub fn matches(&self, toks: &[Tok]) -> bool {
        let in_pattern = pattern_option_names(&self.pattern);
        let shortcut: Vec<Pat> = self
            .options
            .iter()
            .map(|o| o.name().to_string())
            .filter(|n| !in_pattern.contains(n))
            .map(Pat::Option)
            .collect();
        let left: Vec<Tok> = toks
            .iter()
            .filter(|t| !matches!(t, Tok::Opt { extra: true, .. }))
            .cloned()
            .collect();
        match_pat(&self.pattern, &shortcut, left).is_some_and(|l| l.is_empty())
    }
}

/// Consumes an extra option at `argv[i]` (exact long, `--long=value`, or short with its value
/// attached or following); returns the next index, or `None` when `argv[i]` is not one.
fn extra_option(extra: &[OptDecl], argv: &[String], i: usize, out: &mut Vec<Tok>) -> Option<usize> {
    let a = argv[i].as_str();
    let (o, inline) = extra.iter().find_map(|o| {
        if let Some(l) = &o.long {
            if a == l {
                return Some((o, None));
            }
            if let Some(v) = a.strip_prefix(l.as_str()).and_then(|r| r.strip_prefix('=')) {
                return Some((o, Some(v.to_string())));
            }
        }
        if let Some(s) = &o.short {
            if a == s {
                return Some((o, None));
            }
            if o.takes_arg && a.starts_with(s.as_str()) && !a.starts_with("--") {
                return Some((o, Some(a[s.len()..].to_string())));
            }
        }
        None
    })?;
    let (value, next) = match (o.takes_arg, inline) {
        (_, Some(v)) => (Some(v), i + 1),
        (true, None) => (argv.get(i + 1).cloned(), i + 2),
        (false, None) => (None, i + 1),
    };
    out.push(Tok::Opt {
        name: o.name().to_string(),
        value,
        extra: true,
    });
    Some(next.min(argv.len()))
}

fn parse_long(
    options: &mut Vec<OptDecl>,
    argv: &[String],
    mut i: usize,
    out: &mut Vec<Tok>,
) -> Result<usize, DocoptError> {
    let (long, value) = match argv[i].split_once('=') {
        Some((l, v)) => (l.to_string(), Some(v.to_string())),
        None => (argv[i].clone(), None),
    };
    i += 1;
    let mut similar: Vec<OptDecl> = options
        .iter()
        .filter(|o| o.long.as_deref() == Some(&long))
        .cloned()
        .collect();
    if similar.is_empty() {
        similar = options
            .iter()
            .filter(|o| o.long.as_deref().is_some_and(|l| l.starts_with(&long)))
            .cloned()
            .collect();
    }
    if similar.len() > 1 {
        let names: Vec<&str> = similar.iter().filter_map(|o| o.long.as_deref()).collect();
        return Err(DocoptError::NotUniquePrefix {
            prefix: long,
            candidates: names.join(", "),
        });
    }
    let Some(o) = similar.pop() else {
        let takes_arg = value.is_some();
        options.push(OptDecl {
            short: None,
            long: Some(long.clone()),
            takes_arg,
        });
        out.push(Tok::Opt {
            name: long,
            value,
            extra: false,
        });
        return Ok(i);
    };
    let long = o.long.clone().unwrap_or_default();
    let value = if !o.takes_arg {
        if value.is_some() {
            return Err(DocoptError::NoArgument(long));
        }
        None
    } else if value.is_none() {
        match argv.get(i).map(String::as_str) {
            None | Some("--") => return Err(DocoptError::RequiresArgument(long)),
            Some(v) => {
                i += 1;
                Some(v.to_string())
            }
        }
    } else {
        value
    };
    out.push(Tok::Opt {
        name: long,
        value,
        extra: false,
    });
    Ok(i)
}

fn parse_shorts(
    options: &mut Vec<OptDecl>,
    argv: &[String],
    mut i: usize,
    out: &mut Vec<Tok>,
) -> Result<usize, DocoptError> {
    let mut left = argv[i].trim_start_matches('-').to_string();
    i += 1;
    while let Some(c) = left.chars().next() {
        let short = format!("-{c}");
        left = left[c.len_utf8()..].to_string();
        let similar: Vec<OptDecl> = options
            .iter()
            .filter(|o| o.short.as_deref() == Some(&short))
            .cloned()
            .collect();
        if similar.len() > 1 {
            return Err(DocoptError::Ambiguous {
                short,
                count: similar.len(),
            });
        }
        let Some(o) = similar.into_iter().next() else {
            options.push(OptDecl {
                short: Some(short.clone()),
                long: None,
                takes_arg: false,
            });
            out.push(Tok::Opt {
                name: short,
                value: None,
                extra: false,
            });
            continue;
        };
        let mut value = None;
        if o.takes_arg {
            if left.is_empty() {
                match argv.get(i).map(String::as_str) {
                    None | Some("--") => return Err(DocoptError::RequiresArgument(short)),
                    Some(v) => {
                        i += 1;
                        value = Some(v.to_string());
                    }
                }
            } else {
                value = Some(std::mem::take(&mut left));
            }
        }
        out.push(Tok::Opt {
            name: o.name().to_string(),
            value,
            extra: false,
        });
    }
    Ok(i)
}

fn pattern_option_names(p: &Pat) -> Vec<String> {
    match p {
        Pat::Option(n) => vec![n.clone()],
        Pat::Required(c) | Pat::Optional(c) | Pat::Either(c) => {
            c.iter().flat_map(pattern_option_names).collect()
        }
        Pat::OneOrMore(c) => pattern_option_names(c),
        Pat::Shortcut | Pat::Argument | Pat::Command(_) => Vec::new(),
    }
}

/// Matches `p` against the front of `left`; the rest on success (docopt's `match`).
fn match_pat(p: &Pat, shortcut: &[Pat], left: Vec<Tok>) -> Option<Vec<Tok>> {
    match p {
        Pat::Option(name) => take(left, |t| matches!(t, Tok::Opt { name: n, .. } if n == name)),
        Pat::Argument => take(left, |t| matches!(t, Tok::Arg(_))),
        Pat::Command(name) => {
            let pos = left.iter().position(|t| matches!(t, Tok::Arg(_)))?;
            match &left[pos] {
                Tok::Arg(v) if v == name => {
                    let mut l = left;
                    l.remove(pos);
                    Some(l)
                }
                _ => None,
            }
        }
        Pat::Required(children) => children
            .iter()
            .try_fold(left, |l, c| match_pat(c, shortcut, l)),
        Pat::Optional(children) => Some(
            children
                .iter()
                .fold(left, |l, c| match_pat(c, shortcut, l.clone()).unwrap_or(l)),
        ),
        Pat::Shortcut => Some(
            shortcut
                .iter()
                .fold(left, |l, c| match_pat(c, shortcut, l.clone()).unwrap_or(l)),
        ),
        Pat::Either(children) => children
            .iter()
            .filter_map(|c| match_pat(c, shortcut, left.clone()))
            .reduce(|best, l| if l.len() < best.len() { l } else { best }),
        Pat::OneOrMore(child) => {
            let mut l = left;
            let mut times = 0;
            let mut previous: Option<Vec<Tok>> = None;
            while let Some(next) = match_pat(child, shortcut, l.clone()) {
                times += 1;
                l = next;
                if previous.as_ref() == Some(&l) {
                    break;
                }
                previous = Some(l.clone());
            }
            (times >= 1).then_some(l)
        }
    }
}

/// Removes the first element `pick` accepts (docopt's `single_match` for options and
/// arguments).
fn take(mut left: Vec<Tok>, pick: impl Fn(&Tok) -> bool) -> Option<Vec<Tok>> {
    let pos = left.iter().position(pick)?;
    left.remove(pos);
    Some(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn get() -> Grammar {
        Grammar::new(
            "Usage:\n  calicoctl get ( (<KIND> [<NAME>...]) |\n                --filename=<FILENAME> [--recursive] [--skip-empty] )\n                [--output=<OUTPUT>] [--config=<CONFIG>] [--namespace=<NS>] [--all-namespaces] [--export] [--context=<context>] [--allow-version-mismatch]",
            &[
                "-h --help",
                "-f --filename=<FILENAME>",
                "-R --recursive",
                "--skip-empty",
                "-o --output=<OUTPUT FORMAT>",
                "-c --config=<CONFIG>",
                "-n --namespace=<NS>",
                "-A --all-namespaces",
                "--export",
                "--context=<context>",
                "--allow-version-mismatch",
            ],
        )
        .unwrap()
    }

    fn fits(g: &Grammar, s: &str) -> Result<bool, String> {
        let toks = g
            .parse_argv(&argv(s), &[], false)
            .map_err(|e| e.to_string())?;
        Ok(g.matches(&toks))
    }

    #[test]
    fn get_lines() {
        let g = get();
        assert_eq!(fits(&g, "get ippool"), Ok(true));
        assert_eq!(fits(&g, "get ippool a b -o yaml"), Ok(true));
        assert_eq!(fits(&g, "get -f x.yaml -R"), Ok(true));
        assert_eq!(fits(&g, "get --out=yaml ippool"), Ok(true));
        assert_eq!(fits(&g, "get -Ao yaml ippool"), Ok(true));
        assert_eq!(fits(&g, "get"), Ok(false));
        assert_eq!(fits(&g, "get ippool -f x"), Ok(false));
        assert_eq!(fits(&g, "get ippool -o a -o b"), Ok(false));
        assert_eq!(fits(&g, "get ippool --bogus"), Ok(false));
        assert_eq!(fits(&g, "get -- ippool"), Ok(true));
        assert_eq!(
            fits(&g, "get ippool -o"),
            Err("-o requires argument".to_string())
        );
        assert_eq!(
            fits(&g, "get ippool --skip=1"),
            Err("--skip-empty must not have an argument".to_string())
        );
        assert_eq!(
            fits(&g, "get ippool --co=x"),
            Err("--co is not a unique prefix: --config, --context?".to_string())
        );
    }

    #[test]
    fn alternatives_and_options_first() {
        let label = Grammar::new(
            "Usage:\n  calicoctl label (<KIND> <NAME>\n  \t              ( <key>=<value> [--overwrite] |\n  \t                <key> --remove )\n                  [--config=<CONFIG>])",
            &["--overwrite", "--remove", "-c --config=<CONFIG>"],
        )
        .unwrap();
        assert_eq!(fits(&label, "label a b c=d"), Ok(true));
        assert_eq!(fits(&label, "label a b c --remove"), Ok(true));
        assert_eq!(fits(&label, "label a b c --overwrite"), Ok(true));
        assert_eq!(
            fits(&label, "label a b c=d --overwrite --remove"),
            Ok(false)
        );
        assert_eq!(fits(&label, "label a b"), Ok(false));
        let top = Grammar::new(
            "Usage:\n  calicoctl [options] <command> [<args>...]",
            &["-h --help", "-l --log-level=<level>"],
        )
        .unwrap();
        let toks = top
            .parse_argv(&argv("-l debug get --bogus"), &[], true)
            .unwrap();
        assert!(top.matches(&toks));
        assert_eq!(toks.len(), 3);
        let toks = top.parse_argv(&argv("-l debug"), &[], true).unwrap();
        assert!(!top.matches(&toks));
        let release = Grammar::new(
            "Usage:\n  calicoctl ipam release [--ip=<IP>] [--from-report=<REPORT>]... [--force]",
            &["--ip=<IP>", "--from-report=<REPORT>", "--force"],
        )
        .unwrap();
        assert_eq!(
            fits(&release, "ipam release --from-report=a --from-report b"),
            Ok(true)
        );
        assert_eq!(fits(&release, "ipam release --ip=a --ip=b"), Ok(false));
    }

    #[test]
    fn extra_options_are_skipped() {
        let g = get();
        let extra = [
            OptDecl::parse("--timeout=<D>"),
            OptDecl::parse("--no-headers"),
        ];
        let toks = g
            .parse_argv(&argv("get ippool --timeout 3s --no-headers"), &extra, false)
            .unwrap();
        assert!(g.matches(&toks));
        assert_eq!(toks.len(), 4);
    }
}
