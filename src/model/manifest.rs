//! Reading `-f` inputs (file, directory, stdin) into canonical resources, all before anything
//! is written (a parse error anywhere means nothing is applied, as in calicoctl).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::kinds::{API_VERSION, KindInfo, by_kind, by_list_kind};
use super::schema::{self, schema};
use super::yaml_in;
use crate::gocompat::goerr::open_error;

/// One resource read from input.
#[derive(Debug, Clone)]
pub struct Resource {
    pub kind: &'static KindInfo,
    /// Canonical object (strictly decoded).
    pub obj: Value,
}

/// Why input could not be read. `Display` gives calicoctl's texts (without the
/// `failed to execute command: ` prefix the commands add).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("{0}")]
    Io(String),
    #[error("unknown resource type ({kind}) and/or version ({api_version})")]
    UnknownType { kind: String, api_version: String },
    #[error("error unmarshaling JSON: while decoding JSON: {0}")]
    Decode(String),
    #[error("{0}")]
    Yaml(String),
    #[error("no resources specified in file {0}")]
    EmptyFile(String),
    #[error("no resources specified in directory {0}")]
    EmptyDir(String),
}

/// Reads `-f <path>` (`-` = stdin). `skip_empty` turns "no resources" into an empty result.
pub fn read_input(
    path: &str,
    recursive: bool,
    skip_empty: bool,
) -> Result<Vec<Resource>, ManifestError> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| ManifestError::Io(format!("read -: {e}")))?;
        let res = parse_stream(&s, "-")?;
        if res.is_empty() && !skip_empty {
            return Err(ManifestError::EmptyFile("-".into()));
        }
        return Ok(res);
    }
    let p = Path::new(path);
    let md = std::fs::metadata(p).map_err(|e| ManifestError::Io(open_error(path, &e)))?;
    if md.is_dir() {
        let mut files = Vec::new();
        walk(p, recursive, &mut files)?;
        let mut out = Vec::new();
        for f in files {
            // The walk picks files by name without following links: a linked directory named
            // `*.yaml` fails as Go's read does, and a FIFO or device is refused because reading
            // it would block (a pipe named on the command line, as `-f <(…)`, is read as given).
            match std::fs::metadata(&f) {
                Ok(m) if m.is_dir() => {
                    return Err(ManifestError::Io(format!(
                        "read {}: is a directory",
                        f.display()
                    )));
                }
                Ok(m) if !m.is_file() => {
                    return Err(ManifestError::Io(format!(
                        "read {}: not a regular file",
                        f.display()
                    )));
                }
                _ => {}
            }
            let text = read_file(&f)?;
            let name = f.to_string_lossy();
            let res = parse_stream(&text, &name)?;
            // Each file of a directory must hold something, as a single file must.
            if res.is_empty() && !skip_empty {
                return Err(ManifestError::EmptyFile(name.into_owned()));
            }
            out.extend(res);
        }
        if out.is_empty() && !skip_empty {
            return Err(ManifestError::EmptyDir(path.to_string()));
        }
        Ok(out)
    } else {
        let text = read_file(p)?;
        let res = parse_stream(&text, path)?;
        if res.is_empty() && !skip_empty {
            return Err(ManifestError::EmptyFile(path.to_string()));
        }
        Ok(res)
    }
}

fn read_file(p: &Path) -> Result<String, ManifestError> {
    let bytes =
        std::fs::read(p).map_err(|e| ManifestError::Io(open_error(&p.to_string_lossy(), &e)))?;
    String::from_utf8(bytes)
        .map_err(|_| ManifestError::Yaml(format!("{}: input is not valid UTF-8", p.display())))
}

/// Go's `filepath.Walk` as calicoctl uses it: lexical order, symlinks never followed as
/// directories (a link named `*.yaml` is read as a file), so a link loop cannot make the walk
/// revisit a directory; only `.yaml`/`.yml`/`.json` files; sub-directories only with -R.
fn walk(root: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let is_real_dir = std::fs::symlink_metadata(root).is_ok_and(|m| m.is_dir());
    if is_real_dir {
        walk_dir(root, recursive, out)
    } else {
        push_manifest(root, out);
        Ok(())
    }
}

fn walk_dir(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ManifestError::Io(open_error(&dir.to_string_lossy(), &e)))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if std::fs::symlink_metadata(&e).is_ok_and(|m| m.is_dir()) {
            if recursive {
                walk_dir(&e, recursive, out)?;
            }
        } else {
            push_manifest(&e, out);
        }
    }
    Ok(())
}

fn push_manifest(p: &Path, out: &mut Vec<PathBuf>) {
    let ext = p
        .extension()
        .map(|x| x.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if ext == "yaml" || ext == "yml" || ext == "json" {
        out.push(p.to_path_buf());
    }
}

/// Parses a whole stream (all documents) into resources, as calicoctl reads a file: documents
/// split on `---` lines (an exactly empty one is skipped), each read as one resource, a
/// `<Kind>List`, or a sequence of resources.
pub fn parse_stream(text: &str, name: &str) -> Result<Vec<Resource>, ManifestError> {
    let docs =
        yaml_in::split_documents(text).map_err(|e| ManifestError::Yaml(format!("{name}: {e}")))?;
    let mut out = Vec::new();
    for (doc, _) in docs {
        if doc.is_empty() {
            continue;
        }
        // Lines count from the document's own start, as calicoctl parses each one alone.
        let (v, dups) = yaml_in::yaml_to_json_lenient(&doc, 1)
            .map_err(|e| ManifestError::Yaml(format!("error converting YAML to JSON: {e}")))?;
        collect_document(v.unwrap_or(Value::Null), &dups, &mut out)?;
    }
    Ok(out)
}

/// calicoctl first reads a document's `kind`: a non-empty string means one resource (or a
/// `<Kind>List`); otherwise the document must be a sequence of resources, each a mapping with
/// a `kind`, all checked before any is decoded. A null or empty document is a resource of no
/// kind.
fn collect_document(
    v: Value,
    dups: &[yaml_in::DuplicateKey],
    out: &mut Vec<Resource>,
) -> Result<(), ManifestError> {
    if kind_of(&v).is_some() || v.is_null() {
        return collect_resource(&v, dups, out);
    }
    let items = match v {
        Value::Array(items) => items,
        other => {
            return Err(ManifestError::Decode(format!(
                "json: cannot unmarshal {} into Go value of type []unstructured.Unstructured",
                schema::json_kind(&other)
            )));
        }
    };
    for item in &items {
        match item {
            Value::Object(_) => {
                if kind_of(item).is_none() {
                    return Err(ManifestError::Decode(format!(
                        "Object 'Kind' is missing in '{}'",
                        crate::gocompat::json::to_go_json(&super::schema::normalize_any(item))
                    )));
                }
            }
            Value::Null => {
                return Err(ManifestError::Decode(
                    "Object 'Kind' is missing in 'null'".to_string(),
                ));
            }
            other => {
                return Err(ManifestError::Decode(format!(
                    "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    schema::json_kind(other)
                )));
            }
        }
    }
    for item in &items {
        collect_resource(item, dups, out)?;
    }
    Ok(())
}

/// The document's `kind` when it is a non-empty string.
fn kind_of(v: &Value) -> Option<&str> {
    v.get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
}

/// One resource or `<Kind>List`: the kind must be known before yaml.v2's strict mode reports
/// repeated keys, then the strict JSON decode runs.
fn collect_resource(
    v: &Value,
    dups: &[yaml_in::DuplicateKey],
    out: &mut Vec<Resource>,
) -> Result<(), ManifestError> {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api = v
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let unknown = || ManifestError::UnknownType {
        kind: kind.to_string(),
        api_version: api.to_string(),
    };
    if api != API_VERSION {
        return Err(unknown());
    }
    let single = by_kind(kind);
    let list = by_list_kind(kind);
    if single.is_none() && list.is_none() {
        return Err(unknown());
    }
    if !dups.is_empty() {
        return Err(ManifestError::Yaml(format!(
            "error converting YAML to JSON: {}",
            yaml_in::duplicate_keys_error(dups)
        )));
    }
    if let Some(k) = single {
        out.push(decode_one(k, v)?);
    } else if let Some(k) = list {
        for item in decode_list(k, v)? {
            out.push(Resource { kind: k, obj: item });
        }
    }
    Ok(())
}

/// Strictly decodes one resource of a known kind.
pub fn decode_one(kind: &'static KindInfo, v: &Value) -> Result<Resource, ManifestError> {
    let obj = schema()
        .decode_manifest(&kind.type_name(), v)
        .map_err(|e| ManifestError::Decode(e.to_string()))?;
    Ok(Resource { kind, obj })
}

/// Decodes a `<Kind>List` strictly and returns its items.
fn decode_list(kind: &'static KindInfo, v: &Value) -> Result<Vec<Value>, ManifestError> {
    let obj = v.as_object().cloned().unwrap_or_default();
    for key in obj.keys() {
        let known = ["kind", "apiVersion", "metadata", "items"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key));
        if !known {
            return Err(ManifestError::Decode(format!(
                "json: unknown field {key:?}"
            )));
        }
    }
    if let Some(meta) = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("metadata"))
        .map(|(_, v)| v)
    {
        schema()
            .decode_yaml("metav1.ListMeta", meta)
            .map_err(|e| ManifestError::Decode(e.to_string()))?;
    }
    let items = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("items"))
        .map(|(_, v)| v.clone())
        .unwrap_or(Value::Null);
    let items = match items {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        _ => {
            return Err(ManifestError::Decode(format!(
                "json: cannot unmarshal object into Go struct field {}List.items of type []v3.{}",
                kind.kind, kind.kind
            )));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for mut item in items {
        // Items of a typed list take their kind from the list.
        if let Some(m) = item.as_object_mut() {
            m.entry("kind")
                .or_insert_with(|| Value::String(kind.kind.to_string()));
            m.entry("apiVersion")
                .or_insert_with(|| Value::String(API_VERSION.to_string()));
        }
        out.push(decode_one(kind, &item)?.obj);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FIFO met by the walk is refused without opening it (opening would wait for a writer).
    #[test]
    fn fifo_in_a_walked_directory_does_not_block() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let fifo = sub.join("f.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let e = read_input(&d.path().to_string_lossy(), true, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("read {}: not a regular file", fifo.display())
        );
    }

    #[test]
    fn unknown_kind_text() {
        let e = parse_stream(
            "apiVersion: projectcalico.org/v3\nkind: Foo\nmetadata:\n  name: x\n",
            "f",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown resource type (Foo) and/or version (projectcalico.org/v3)"
        );
        let e = parse_stream("apiVersion: v1\nkind: IPPool\n", "f").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown resource type (IPPool) and/or version (v1)"
        );
    }

    #[test]
    fn lists_and_sequences() {
        let text = "apiVersion: projectcalico.org/v3\nkind: IPPoolList\nitems:\n- apiVersion: projectcalico.org/v3\n  kind: IPPool\n  metadata: {name: a}\n  spec: {cidr: 10.0.0.0/16}\n---\n- apiVersion: projectcalico.org/v3\n  kind: IPPool\n  metadata: {name: b}\n  spec: {cidr: 10.1.0.0/16}\n---\n";
        let r = parse_stream(text, "f").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].obj["metadata"]["name"], "b");
    }

    #[test]
    fn strict_decode_text() {
        let e = parse_stream("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: a}\nspec: {cidr: 10.0.0.0/16, foo: 1}\n", "f").unwrap_err();
        assert_eq!(
            e.to_string(),
            "error unmarshaling JSON: while decoding JSON: json: unknown field \"foo\""
        );
    }
}
