//! Go compatibility: the bottom layer. Byte-exact reimplementations of the Go libraries whose
//! output or parsing rules calicoctl users see (encoding/json, fmt's `%v`, yaml.v2,
//! text/tabwriter, olekukonko/tablewriter, text/template, kubectl's jsonpath). Pure functions
//! over `serde_json::Value` and strings, plus Go's rule for a broken standard output or error
//! (`stdio`) and Go's texts for OS errors (`goerr`): nothing here imports the model, the datastore or the
//! commands (see README.md for the entry points).

pub mod boxtable;
pub mod goerr;
pub mod gofmt;
pub mod gotemplate;
pub mod json;
pub mod jsonpath;
pub mod stdio;
pub mod tabwriter;
pub mod yaml;
pub mod yaml_resolve;
