//! Accessors for the `metadata` of canonical objects, keeping Go's field order on writes.

use serde_json::{Map, Value};

use super::schema::schema;

/// `metadata.<field>` as a string, empty when absent.
pub fn meta_str(obj: &Value, field: &str) -> String {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub fn name(obj: &Value) -> String {
    meta_str(obj, "name")
}

pub fn namespace(obj: &Value) -> String {
    meta_str(obj, "namespace")
}

pub fn resource_version(obj: &Value) -> String {
    meta_str(obj, "resourceVersion")
}

pub fn kind(obj: &Value) -> String {
    obj.get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Labels as a sorted map.
pub fn labels(obj: &Value) -> std::collections::BTreeMap<String, String> {
    map_field(obj, "labels")
}

pub fn annotations(obj: &Value) -> std::collections::BTreeMap<String, String> {
    map_field(obj, "annotations")
}

fn map_field(obj: &Value, field: &str) -> std::collections::BTreeMap<String, String> {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets string fields of an already canonical `metadata` in place, each at its ObjectMeta
/// position (empty values are omitted, as omitempty does). The cheap path of [`edit_meta`] for
/// decoding lists, where every object gets its name and resourceVersion from the key/revision.
pub fn set_meta_strs(obj: &mut Value, fields: &[(&str, &str)]) {
    let order: Vec<&str> = schema()
        .get("metav1.ObjectMeta")
        .map(|d| d.fields.iter().map(|f| f.json.as_str()).collect())
        .unwrap_or_default();
    let Some(Value::Object(m)) = obj.get_mut("metadata") else {
        let owned: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        return edit_meta(obj, |m| {
            for (k, v) in owned {
                if !v.is_empty() {
                    m.insert(k, Value::String(v));
                }
            }
        });
    };
    for (field, value) in fields {
        if value.is_empty() {
            m.shift_remove(*field);
            continue;
        }
        if let Some(slot) = m.get_mut(*field) {
            *slot = Value::String(value.to_string());
            continue;
        }
        let rank = |k: &str| order.iter().position(|o| *o == k).unwrap_or(usize::MAX);
        let mine = rank(field);
        let at = m.keys().position(|k| rank(k) > mine).unwrap_or(m.len());
        m.shift_insert(at, field.to_string(), Value::String(value.to_string()));
    }
}

/// Edits `metadata` with `f` and restores canonical ObjectMeta order and omitempty rules.
pub fn edit_meta(obj: &mut Value, f: impl FnOnce(&mut Map<String, Value>)) {
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    let mut meta = match o.get("metadata") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    f(&mut meta);
    let canon = schema()
        .decode("metav1.ObjectMeta", &Value::Object(meta.clone()), false)
        .unwrap_or(Value::Object(meta));
    if o.contains_key("metadata") {
        o.insert("metadata".into(), canon);
    } else {
        // metadata comes right after kind/apiVersion.
        let mut rebuilt = Map::new();
        let mut placed = false;
        for (k, v) in std::mem::take(o) {
            if !placed && k != "kind" && k != "apiVersion" {
                rebuilt.insert("metadata".into(), canon.clone());
                placed = true;
            }
            rebuilt.insert(k, v);
        }
        if !placed {
            rebuilt.insert("metadata".into(), canon);
        }
        *o = rebuilt;
    }
}

/// Sets (or with `None` removes) a string field of `metadata`.
pub fn set_meta_str(obj: &mut Value, field: &str, value: Option<&str>) {
    edit_meta(obj, |m| match value {
        Some(v) => {
            m.insert(field.to_string(), Value::String(v.to_string()));
        }
        None => {
            m.remove(field);
        }
    });
}

/// Sets or removes one annotation.
pub fn set_annotation(obj: &mut Value, key: &str, value: Option<&str>) {
    edit_meta(obj, |m| {
        let mut ann = m
            .get("annotations")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        match value {
            Some(v) => {
                ann.insert(key.to_string(), Value::String(v.to_string()));
            }
            None => {
                ann.remove(key);
            }
        }
        if ann.is_empty() {
            m.remove("annotations");
        } else {
            m.insert("annotations".into(), Value::Object(ann));
        }
    });
}

/// Sets or removes one label.
pub fn set_label(obj: &mut Value, key: &str, value: Option<&str>) {
    edit_meta(obj, |m| {
        let mut l = m
            .get("labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        match value {
            Some(v) => {
                l.insert(key.to_string(), Value::String(v.to_string()));
            }
            None => {
                l.remove(key);
            }
        }
        if l.is_empty() {
            m.remove("labels");
        } else {
            m.insert("labels".into(), Value::Object(l));
        }
    });
}

/// Removes the fields the datastore assigns (identity, revision, timestamps, deletion state):
/// what `get --export` and `datastore migrate export` leave out.
pub fn strip_server_fields(obj: &mut Value) {
    edit_meta(obj, |m| {
        for f in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            m.remove(f);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn edits_keep_go_order() {
        let mut o = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {}});
        set_meta_str(&mut o, "resourceVersion", Some("5"));
        set_meta_str(&mut o, "uid", Some("u"));
        assert_eq!(
            serde_json::to_string(&o["metadata"]).unwrap(),
            r#"{"name":"a","uid":"u","resourceVersion":"5","labels":{"x":"1"}}"#
        );
        set_annotation(&mut o, "b", Some("2"));
        set_label(&mut o, "x", None);
        assert_eq!(
            serde_json::to_string(&o["metadata"]).unwrap(),
            r#"{"name":"a","uid":"u","resourceVersion":"5","annotations":{"b":"2"}}"#
        );
    }

    #[test]
    fn metadata_inserted_after_type_meta() {
        let mut o = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3", "spec": {}});
        set_meta_str(&mut o, "name", Some("n"));
        let keys: Vec<&String> = o.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["kind", "apiVersion", "metadata", "spec"]);
    }
}

#[cfg(test)]
mod set_meta_strs_tests {
    use super::*;
    use serde_json::json;

    /// The in-place setter gives the same object as the canonicalising `edit_meta`.
    #[test]
    fn same_as_edit_meta() {
        let metas = [
            json!({"kind": "X", "metadata": {}}),
            json!({"kind": "X", "metadata": {"name": "old", "uid": "u", "creationTimestamp": "2025-06-01T10:10:00Z"}}),
            json!({"kind": "X", "metadata": {"namespace": "ns", "labels": {"a": "b"}}}),
            json!({"kind": "X", "metadata": {"name": "n", "namespace": "ns", "resourceVersion": "1", "annotations": {"x": "y"}}}),
            json!({"kind": "X", "spec": {}}),
        ];
        let sets: [&[(&str, &str)]; 3] = [
            &[("name", "a"), ("namespace", "b"), ("resourceVersion", "9")],
            &[("resourceVersion", "9")],
            &[("name", "a"), ("namespace", ""), ("resourceVersion", "9")],
        ];
        for m in &metas {
            for set in sets {
                let mut fast = m.clone();
                set_meta_strs(&mut fast, set);
                let mut slow = m.clone();
                edit_meta(&mut slow, |mm| {
                    for (k, v) in set {
                        mm.insert(k.to_string(), Value::String(v.to_string()));
                    }
                });
                assert_eq!(
                    serde_json::to_string(&fast).unwrap(),
                    serde_json::to_string(&slow).unwrap(),
                    "{m} {set:?}"
                );
            }
        }
    }
}
