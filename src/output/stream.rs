//! Printing a `<Kind>List` while it is read, page by page.
//!
//! `get <kind> -o yaml|json|name|ps|wide|custom-columns` of one kind prints the same bytes as
//! [`super::print`] of the whole list, but holds only the current page of objects (tables keep
//! their row strings, which is the output). Memory stays proportional to a page plus the
//! output rather than to every decoded object.

use std::io::Write;

use serde_json::{Value, json};

use super::{OutputError, OutputFormat, PrintOptions, TableLayout, list_metadata};
use crate::gocompat::json::to_go_json_indent_at;
use crate::gocompat::tabwriter;
use crate::gocompat::yaml::to_yaml;
use crate::model::kinds::{API_VERSION, KindInfo};

/// Whether a format can be printed item by item (templates see the whole list at once).
pub fn streamable(format: &OutputFormat) -> bool {
    !matches!(
        format,
        OutputFormat::JsonPath(_) | OutputFormat::GoTemplate(_)
    )
}

/// A list being printed; feed it pages, then [`ListStream::finish`].
pub struct ListStream<'a> {
    out: &'a mut (dyn Write + Send),
    format: &'a OutputFormat,
    kind: &'static KindInfo,
    opts: &'a PrintOptions,
    table: Option<(TableLayout, Vec<Vec<String>>)>,
    count: usize,
}

impl<'a> ListStream<'a> {
    pub fn new(
        out: &'a mut (dyn Write + Send),
        format: &'a OutputFormat,
        kind: &'static KindInfo,
        opts: &'a PrintOptions,
    ) -> Result<Self, OutputError> {
        let table = match format {
            OutputFormat::Ps | OutputFormat::Wide | OutputFormat::CustomColumns(_) => {
                let layout = TableLayout::new(kind, format, opts)?;
                let mut rows = Vec::new();
                if !opts.no_headers {
                    rows.push(layout.headings.clone());
                }
                Some((layout, rows))
            }
            _ => None,
        };
        Ok(ListStream {
            out,
            format,
            kind,
            opts,
            table,
            count: 0,
        })
    }

    fn json_head(&mut self, revision: &str) -> Result<(), OutputError> {
        write!(
            self.out,
            "{{\n  \"kind\": {},\n  \"apiVersion\": {},\n  \"metadata\": {},\n  \"items\": ",
            to_go_json_indent_at(&Value::String(self.kind.list_kind()), 1),
            to_go_json_indent_at(&Value::String(API_VERSION.into()), 1),
            to_go_json_indent_at(&list_metadata(revision), 1),
        )?;
        Ok(())
    }

    /// Prints one page of the list; `revision` is the list's.
    pub fn page(&mut self, revision: &str, items: Vec<Value>) -> Result<(), OutputError> {
        for item in items {
            match self.format {
                OutputFormat::Json => {
                    if self.count == 0 {
                        self.json_head(revision)?;
                        self.out.write_all(b"[")?;
                    } else {
                        self.out.write_all(b",")?;
                    }
                    write!(self.out, "\n    {}", to_go_json_indent_at(&item, 2))?;
                }
                OutputFormat::Yaml => {
                    if self.count == 0 {
                        let head = to_yaml(&json!({ "apiVersion": API_VERSION }));
                        self.out.write_all(head.as_bytes())?;
                        self.out.write_all(b"items:\n")?;
                    }
                    // An item renders inside a sequence exactly as in a one-item list; the
                    // wrapper's key line is dropped.
                    let one = to_yaml(&json!({ "items": [item] }));
                    let body = one.strip_prefix("items:\n").unwrap_or(&one);
                    self.out.write_all(body.as_bytes())?;
                }
                OutputFormat::Name => {
                    writeln!(
                        self.out,
                        "{}.projectcalico.org/{}",
                        self.kind.kind.to_lowercase(),
                        crate::model::meta::name(&item)
                    )?;
                }
                _ => {
                    if let Some((layout, rows)) = &mut self.table {
                        rows.push(layout.row(self.kind, &item, self.opts)?);
                    }
                }
            }
            self.count += 1;
        }
        Ok(())
    }

    /// Ends the list (`revision` is the list's, for lists with no items).
    pub fn finish(mut self, revision: &str) -> Result<(), OutputError> {
        match self.format {
            OutputFormat::Json => {
                if self.count == 0 {
                    self.json_head(revision)?;
                    self.out.write_all(b"[]\n}")?;
                } else {
                    self.out.write_all(b"\n  ]\n}")?;
                }
            }
            OutputFormat::Yaml => {
                if self.count == 0 {
                    let head = to_yaml(&json!({ "apiVersion": API_VERSION, "items": [] }));
                    self.out.write_all(head.as_bytes())?;
                }
                let tail = to_yaml(
                    &json!({ "kind": self.kind.list_kind(), "metadata": list_metadata(revision) }),
                );
                self.out.write_all(tail.as_bytes())?;
            }
            OutputFormat::Name => {}
            _ => {
                if let Some((_, rows)) = &self.table {
                    self.out.write_all(tabwriter::tabwriter(rows).as_bytes())?;
                    self.out.write_all(b"\n")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::output::{Printed, print};

    fn items() -> Vec<Value> {
        let long = "x ".repeat(70);
        (0..5)
            .map(|i| {
                json!({"kind": "GlobalNetworkSet", "apiVersion": API_VERSION,
                    "metadata": {"name": format!("gns-{i}"), "resourceVersion": "7",
                        "labels": {"a": "1", "long": long.clone()}},
                    "spec": {"nets": ["10.0.0.0/8", "true"], "empty": [], "obj": {}}})
            })
            .collect()
    }

    /// Streamed output is byte-identical to printing the whole list, for every format, split
    /// into pages of every size, with and without items and a revision.
    #[test]
    fn streamed_equals_whole() {
        let kind = crate::model::kinds::KindId::GlobalNetworkSet.info();
        let formats = [
            OutputFormat::Json,
            OutputFormat::Yaml,
            OutputFormat::Name,
            OutputFormat::Ps,
            OutputFormat::Wide,
            OutputFormat::CustomColumns(vec!["NAME".into()]),
            OutputFormat::CustomColumns(vec![
                "N:.metadata.name".into(),
                "L:.metadata.labels.a".into(),
            ]),
        ];
        for all in [items(), Vec::new()] {
            for rev in ["", "42"] {
                for f in &formats {
                    for no_headers in [false, true] {
                        let opts = PrintOptions {
                            no_headers,
                            ..Default::default()
                        };
                        let mut whole = Vec::new();
                        let printed = [Printed::List {
                            kind,
                            items: all.clone(),
                            revision: rev.into(),
                        }];
                        print(&mut whole, &printed, f, &opts).unwrap();
                        for page in 1..=3 {
                            let mut streamed = Vec::new();
                            let mut s = ListStream::new(&mut streamed, f, kind, &opts).unwrap();
                            for chunk in all.chunks(page) {
                                s.page(rev, chunk.to_vec()).unwrap();
                            }
                            s.page(rev, Vec::new()).unwrap();
                            s.finish(rev).unwrap();
                            assert_eq!(
                                String::from_utf8(streamed).unwrap(),
                                String::from_utf8(whole.clone()).unwrap(),
                                "{f:?} rev={rev:?} page={page} n={}",
                                all.len()
                            );
                        }
                    }
                }
            }
        }
    }
}
