//! Where the datastore settings come from: `/etc/calico/calicoctl.cfg` (or `-c`), environment
//! variables, or a named context. Follows calicoctl's rules exactly:
//! a config file *replaces* the environment, unknown fields are errors, and defaults are applied
//! last. This module is the only reader of configuration environment variables.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::model::schema::schema;

pub const DEFAULT_CONFIG_PATH: &str = "/etc/calico/calicoctl.cfg";
pub const API_VERSION: &str = "projectcalico.org/v3";

/// The settings of one `CalicoAPIConfigSpec`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spec {
    pub datastore_type: String,
    pub etcd_endpoints: String,
    pub etcd_discovery_srv: String,
    pub etcd_username: String,
    pub etcd_password: String,
    pub etcd_key_file: String,
    pub etcd_cert_file: String,
    pub etcd_ca_cert_file: String,
    pub etcd_key: String,
    pub etcd_cert: String,
    pub etcd_ca_cert: String,
    pub kubeconfig: String,
    pub k8s_api_endpoint: String,
    pub k8s_key_file: String,
    pub k8s_cert_file: String,
    pub k8s_ca_file: String,
    pub k8s_api_token: String,
    pub k8s_insecure_skip_tls_verify: bool,
    pub k8s_disable_node_poll: bool,
    pub use_pod_cidr: bool,
    pub kubeconfig_inline: String,
    pub k8s_client_qps: f64,
    pub k8s_client_burst: i64,
    pub k8s_current_context: String,
    pub calico_api_group: String,
}

/// Where a loaded configuration came from (shown by `config view`/`current-context`).
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A plain CalicoAPIConfig file.
    File(PathBuf),
    /// A named context of a CalicoctlConfig file.
    Context { file: PathBuf, name: String },
    /// Environment variables only.
    Env,
}

/// The result of loading.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub spec: Spec,
    pub source: Source,
    /// Non-fatal notes for stderr (e.g. a world-readable file with secrets).
    pub warnings: Vec<String>,
}

/// Configuration errors; `Display` gives calicoctl's texts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A non-default `--config` path that does not exist. calicoctl prints this on stdout.
    #[error("Error reading config file: {0}")]
    Missing(String),
    #[error("syntax error in {path}: {inner}")]
    Syntax { path: String, inner: String },
    /// The file exists but cannot be read (raw OS error, not wrapped, as calicoctl).
    #[error("{0}")]
    Io(String),
    #[error("failed to load config from env vars: {0}")]
    Env(EnvError),
    #[error("{0}")]
    Context(String),
}

/// envconfig's error for an environment value that does not convert to its field's type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "envconfig.Process: assigning {key} to {field}: converting '{value}' to type {go_type}. details: strconv.{parse_func}: parsing {value:?}: invalid syntax"
)]
pub struct EnvError {
    /// The variable read (`CALICO_<NAME>`).
    key: String,
    /// The Go field name.
    field: &'static str,
    value: String,
    go_type: &'static str,
    /// `ParseBool`, `ParseFloat` or `ParseInt`.
    parse_func: &'static str,
}

impl EnvError {
    fn new(key: &str, field: &'static str, value: &str, go_type: &'static str) -> Self {
        EnvError {
            key: key.to_string(),
            field,
            value: value.to_string(),
            go_type,
            parse_func: match go_type {
                "bool" => "ParseBool",
                "float32" => "ParseFloat",
                _ => "ParseInt",
            },
        }
    }
}

/// A config document whose `apiVersion` or `kind` is not the expected one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum TypeMetaError {
    #[error("invalid config file: unknown APIVersion '{0}'")]
    ApiVersion(String),
    #[error("invalid config file: expected kind '{want}', got '{got}'")]
    Kind { want: String, got: String },
}

/// Access to the process environment, injectable for tests.
pub trait Env {
    fn get(&self, key: &str) -> Option<String>;
}

/// The real environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

/// The `HOME` directory as the config defaults see it.
fn home(env: &dyn Env) -> Option<String> {
    env.get("HOME").filter(|h| !h.is_empty())
}

/// Loads configuration as calicoctl does; `context` is `--context`.
pub fn load(path: &str, context: Option<&str>, env: &dyn Env) -> Result<Loaded, ConfigError> {
    let p = Path::new(path);
    match std::fs::metadata(p) {
        Err(_) if path != DEFAULT_CONFIG_PATH => Err(ConfigError::Missing(path.to_string())),
        Err(_) => {
            let mut spec = from_env(env, context)?;
            apply_defaults(&mut spec, env);
            Ok(Loaded {
                spec,
                source: Source::Env,
                warnings: Vec::new(),
            })
        }
        Ok(md) => {
            let text = std::fs::read_to_string(p).map_err(|e| ConfigError::Io(e.to_string()))?;
            let mut loaded = parse_file(path, &text, context)?;
            apply_defaults(&mut loaded.spec, env);
            if has_secrets(&loaded.spec) {
                use std::os::unix::fs::PermissionsExt;
                let mode = md.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    loaded.warnings.push(format!(
                        "Warning: config file {path} holds passwords, tokens or keys and is readable by group or others (mode {mode:04o}); run: chmod 600 {path}"
                    ));
                }
            }
            Ok(loaded)
        }
    }
}

fn has_secrets(s: &Spec) -> bool {
    !s.etcd_password.is_empty()
        || !s.etcd_key.is_empty()
        || !s.k8s_api_token.is_empty()
        || !s.kubeconfig_inline.is_empty()
}

/// Parses a config file's text: a plain `CalicoAPIConfig`, or a `CalicoctlConfig` with named
/// contexts.
pub fn parse_file(path: &str, text: &str, context: Option<&str>) -> Result<Loaded, ConfigError> {
    let syntax = |inner: String| ConfigError::Syntax {
        path: path.to_string(),
        inner,
    };
    let doc = crate::model::yaml_in::yaml_to_json(text)
        .map_err(|e| {
            syntax(format!(
                "failed to parse config as YAML/JSON: error converting YAML to JSON: {e}"
            ))
        })
        .map_err(|e| with_legacy_hint(e, text))?
        .unwrap_or(Value::Object(Map::new()));
    if doc.get("kind").and_then(Value::as_str) == Some("CalicoctlConfig") {
        return parse_contexts(path, &doc, context);
    }
    let canon = schema()
        .decode_yaml("apiconfig.CalicoAPIConfig", &doc)
        .map_err(|e| {
            syntax(format!(
                "failed to parse config as YAML/JSON: error unmarshaling JSON: while decoding JSON: {e}"
            ))
        })
        .map_err(|e| with_legacy_hint(e, text))?;
    check_type_meta(&canon, "CalicoAPIConfig")
        .map_err(|e| syntax(e.to_string()))
        .map_err(|e| with_legacy_hint(e, text))?;
    Ok(Loaded {
        spec: spec_from_value(canon.get("spec").unwrap_or(&Value::Null)),
        source: Source::File(PathBuf::from(path)),
        warnings: Vec::new(),
    })
}

fn check_type_meta(v: &Value, want_kind: &str) -> Result<(), TypeMetaError> {
    let api = v
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if api != API_VERSION {
        return Err(TypeMetaError::ApiVersion(api.to_string()));
    }
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind != want_kind {
        return Err(TypeMetaError::Kind {
            want: want_kind.to_string(),
            got: kind.to_string(),
        });
    }
    Ok(())
}

/// calicoctl's errors for a Calico v1 file are cryptic; say what to change.
fn with_legacy_hint(e: ConfigError, text: &str) -> ConfigError {
    let lower = text.to_lowercase();
    let legacy = lower.contains("calicoapiconfig") && text.contains("calicoApiConfig")
        || lower.contains("etcdv2")
        || lower.contains("etcdauthority")
        || lower.contains("etcdscheme")
        || text.lines().any(|l| l.trim() == "apiVersion: v1");
    match e {
        ConfigError::Syntax { path, inner } if legacy => ConfigError::Syntax {
            path,
            inner: format!(
                "{inner} (this looks like a Calico v1 'calicoApiConfig'/etcdv2 file, which calicoctl v3 cannot use: set 'apiVersion: projectcalico.org/v3', 'kind: CalicoAPIConfig', 'datastoreType: etcdv3' and replace 'etcdScheme'/'etcdAuthority' with 'etcdEndpoints: http://<host>:2379'; the data itself must have been upgraded with calico-upgrade)"
            ),
        },
        other => other,
    }
}

fn parse_contexts(path: &str, doc: &Value, context: Option<&str>) -> Result<Loaded, ConfigError> {
    let syntax = |inner: String| ConfigError::Syntax {
        path: path.to_string(),
        inner,
    };
    let canon = schema()
        .decode_yaml("calicoctl.CalicoctlConfig", doc)
        .map_err(|e| syntax(format!("failed to parse config as YAML/JSON: {e}")))?;
    check_type_meta(&canon, "CalicoctlConfig").map_err(|e| syntax(e.to_string()))?;
    let contexts = contexts_of(&canon);
    let current = canon
        .get("currentContext")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let wanted = context.unwrap_or(current);
    if wanted.is_empty() {
        return Err(ConfigError::Context(format!(
            "config file {path} has no current context: run 'calicoctl config use-context NAME' or pass --context NAME"
        )));
    }
    let spec = contexts
        .iter()
        .find(|(n, _)| n == wanted)
        .map(|(_, s)| s.clone())
        .ok_or_else(|| {
            let names: Vec<&str> = contexts.iter().map(|(n, _)| n.as_str()).collect();
            ConfigError::Context(format!(
                "context \"{wanted}\" not found in {path} (available: {})",
                names.join(", ")
            ))
        })?;
    Ok(Loaded {
        spec,
        source: Source::Context {
            file: PathBuf::from(path),
            name: wanted.to_string(),
        },
        warnings: Vec::new(),
    })
}

/// The (name, spec) pairs of a canonical CalicoctlConfig.
fn contexts_of(canon: &Value) -> Vec<(String, Spec)> {
    canon
        .get("contexts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        spec_from_value(c.get("spec").unwrap_or(&Value::Null)),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Context names in a config file and the current one (for `config get-contexts`).
pub fn list_contexts(path: &str) -> Result<(Vec<String>, String, bool), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|_| ConfigError::Missing(path.to_string()))?;
    let doc = crate::model::yaml_in::yaml_to_json(&text)
        .map_err(|e| ConfigError::Syntax {
            path: path.to_string(),
            inner: e.to_string(),
        })?
        .unwrap_or(Value::Null);
    if doc.get("kind").and_then(Value::as_str) == Some("CalicoctlConfig") {
        let canon = schema()
            .decode_yaml("calicoctl.CalicoctlConfig", &doc)
            .map_err(|e| ConfigError::Syntax {
                path: path.to_string(),
                inner: e.to_string(),
            })?;
        let names = contexts_of(&canon).into_iter().map(|(n, _)| n).collect();
        let cur = canon
            .get("currentContext")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok((names, cur, true))
    } else {
        parse_file(path, &text, None)?;
        Ok((vec!["default".to_string()], "default".to_string(), false))
    }
}

/// Rewrites `currentContext` in a contexts file, keeping everything else.
pub fn use_context(path: &str, name: &str) -> Result<(), ConfigError> {
    let (names, _, is_contexts) = list_contexts(path)?;
    if !is_contexts {
        return Err(ConfigError::Context(format!(
            "{path} holds a single CalicoAPIConfig, not named contexts (kind: CalicoctlConfig); see docs/config.md"
        )));
    }
    if !names.iter().any(|n| n == name) {
        return Err(ConfigError::Context(format!(
            "context \"{name}\" not found in {path} (available: {})",
            names.join(", ")
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io(e.to_string()))?;
    let mut replaced = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            if !replaced && l.starts_with("currentContext:") {
                replaced = true;
                format!("currentContext: {name}")
            } else {
                l.to_string()
            }
        })
        .collect();
    if !replaced {
        let pos = out
            .iter()
            .position(|l| l.starts_with("kind:"))
            .map(|i| i + 1)
            .unwrap_or(0);
        out.insert(pos, format!("currentContext: {name}"));
    }
    let mut s = out.join("\n");
    s.push('\n');
    write_atomically(path, &s).map_err(|e| ConfigError::Io(format!("cannot write {path}: {e}")))
}

/// Replace-by-rename so a crash never leaves a half-written config.
fn write_atomically(path: &str, content: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp-{}", std::process::id());
    std::fs::write(&tmp, content)?;
    if let Ok(md) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, md.permissions())?;
    }
    std::fs::rename(&tmp, path)
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn b(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

/// Reads a canonical `CalicoAPIConfigSpec` value.
pub fn spec_from_value(v: &Value) -> Spec {
    Spec {
        datastore_type: s(v, "datastoreType"),
        etcd_endpoints: s(v, "etcdEndpoints"),
        etcd_discovery_srv: s(v, "etcdDiscoverySrv"),
        etcd_username: s(v, "etcdUsername"),
        etcd_password: s(v, "etcdPassword"),
        etcd_key_file: s(v, "etcdKeyFile"),
        etcd_cert_file: s(v, "etcdCertFile"),
        etcd_ca_cert_file: s(v, "etcdCACertFile"),
        etcd_key: s(v, "etcdKey"),
        etcd_cert: s(v, "etcdCert"),
        etcd_ca_cert: s(v, "etcdCACert"),
        kubeconfig: s(v, "kubeconfig"),
        k8s_api_endpoint: s(v, "k8sAPIEndpoint"),
        k8s_key_file: s(v, "k8sKeyFile"),
        k8s_cert_file: s(v, "k8sCertFile"),
        k8s_ca_file: s(v, "k8sCAFile"),
        k8s_api_token: s(v, "k8sAPIToken"),
        k8s_insecure_skip_tls_verify: b(v, "k8sInsecureSkipTLSVerify"),
        k8s_disable_node_poll: b(v, "k8sDisableNodePoll"),
        use_pod_cidr: b(v, "usePodCIDR"),
        kubeconfig_inline: s(v, "kubeconfigInline"),
        k8s_client_qps: v.get("k8sClientQPS").and_then(Value::as_f64).unwrap_or(0.0),
        k8s_client_burst: v.get("k8sClientBurst").and_then(Value::as_i64).unwrap_or(0),
        k8s_current_context: s(v, "k8sCurrentContext"),
        calico_api_group: s(v, "calicoAPIGroup"),
    }
}

/// The spec as a canonical JSON value (for `config view`), optionally redacted.
pub fn spec_to_value(sp: &Spec, redact: bool) -> Value {
    let hide = |v: &str| {
        if redact && !v.is_empty() {
            "REDACTED".to_string()
        } else {
            v.to_string()
        }
    };
    let raw = serde_json::json!({
        "datastoreType": sp.datastore_type,
        "etcdEndpoints": if redact {
            crate::log::redact_url_passwords(&sp.etcd_endpoints)
        } else {
            sp.etcd_endpoints.clone()
        },
        "etcdDiscoverySrv": sp.etcd_discovery_srv,
        "etcdUsername": sp.etcd_username,
        "etcdPassword": hide(&sp.etcd_password),
        "etcdKeyFile": sp.etcd_key_file,
        "etcdCertFile": sp.etcd_cert_file,
        "etcdCACertFile": sp.etcd_ca_cert_file,
        "etcdKey": hide(&sp.etcd_key),
        "etcdCert": sp.etcd_cert,
        "etcdCACert": sp.etcd_ca_cert,
        "kubeconfig": sp.kubeconfig,
        "k8sAPIEndpoint": sp.k8s_api_endpoint,
        "k8sKeyFile": sp.k8s_key_file,
        "k8sCertFile": sp.k8s_cert_file,
        "k8sCAFile": sp.k8s_ca_file,
        "k8sAPIToken": hide(&sp.k8s_api_token),
        "k8sInsecureSkipTLSVerify": sp.k8s_insecure_skip_tls_verify,
        "k8sDisableNodePoll": sp.k8s_disable_node_poll,
        "usePodCIDR": sp.use_pod_cidr,
        "kubeconfigInline": hide(&sp.kubeconfig_inline),
        "k8sClientQPS": sp.k8s_client_qps,
        "k8sClientBurst": sp.k8s_client_burst,
        "k8sCurrentContext": sp.k8s_current_context,
        "calicoAPIGroup": sp.calico_api_group,
    });
    schema()
        .decode("apiconfig.CalicoAPIConfigSpec", &raw, false)
        .unwrap_or(raw)
}

/// One env-configurable field: (bare variable, Go field name, JSON name, kind).
struct EnvField {
    var: &'static str,
    go: &'static str,
    set: fn(&mut Spec, &str, &str) -> Result<(), EnvError>,
}

fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

macro_rules! string_field {
    ($var:literal, $go:literal, $field:ident) => {
        EnvField {
            var: $var,
            go: $go,
            set: |s, v, _| {
                s.$field = v.to_string();
                Ok(())
            },
        }
    };
}

macro_rules! bool_field {
    ($var:literal, $go:literal, $field:ident) => {
        EnvField {
            var: $var,
            go: $go,
            set: |s, v, key| {
                s.$field = parse_go_bool(v).ok_or_else(|| EnvError::new(key, $go, v, "bool"))?;
                Ok(())
            },
        }
    };
}

const ENV_FIELDS: &[EnvField] = &[
    string_field!("DATASTORE_TYPE", "DatastoreType", datastore_type),
    string_field!("ETCD_ENDPOINTS", "EtcdEndpoints", etcd_endpoints),
    string_field!("ETCD_DISCOVERY_SRV", "EtcdDiscoverySrv", etcd_discovery_srv),
    string_field!("ETCD_USERNAME", "EtcdUsername", etcd_username),
    string_field!("ETCD_PASSWORD", "EtcdPassword", etcd_password),
    string_field!("ETCD_KEY_FILE", "EtcdKeyFile", etcd_key_file),
    string_field!("ETCD_CERT_FILE", "EtcdCertFile", etcd_cert_file),
    string_field!("ETCD_CA_CERT_FILE", "EtcdCACertFile", etcd_ca_cert_file),
    string_field!("KUBECONFIG", "Kubeconfig", kubeconfig),
    string_field!("K8S_API_ENDPOINT", "K8sAPIEndpoint", k8s_api_endpoint),
    string_field!("K8S_KEY_FILE", "K8sKeyFile", k8s_key_file),
    string_field!("K8S_CERT_FILE", "K8sCertFile", k8s_cert_file),
    string_field!("K8S_CA_FILE", "K8sCAFile", k8s_ca_file),
    bool_field!(
        "K8S_INSECURE_SKIP_TLS_VERIFY",
        "K8sInsecureSkipTLSVerify",
        k8s_insecure_skip_tls_verify
    ),
    bool_field!(
        "K8S_DISABLE_NODE_POLL",
        "K8sDisableNodePoll",
        k8s_disable_node_poll
    ),
    bool_field!("USE_POD_CIDR", "K8sUsePodCIDR", use_pod_cidr),
    EnvField {
        var: "K8S_CLIENT_QPS",
        go: "K8sClientQPS",
        set: |s, v, key| {
            s.k8s_client_qps = v
                .parse::<f32>()
                .map_err(|_| EnvError::new(key, "K8sClientQPS", v, "float32"))?
                as f64;
            Ok(())
        },
    },
    EnvField {
        var: "K8S_CLIENT_BURST",
        go: "K8sClientBurst",
        set: |s, v, key| {
            s.k8s_client_burst = v
                .parse::<i64>()
                .map_err(|_| EnvError::new(key, "K8sClientBurst", v, "int"))?;
            Ok(())
        },
    },
    string_field!(
        "K8S_CURRENT_CONTEXT",
        "K8sCurrentContext",
        k8s_current_context
    ),
];

/// The env-var loader (envconfig with prefix `calico`): `CALICO_<NAME>` first, then `<NAME>`;
/// the first one that is *set* wins, even when empty.
pub fn from_env(env: &dyn Env, context: Option<&str>) -> Result<Spec, ConfigError> {
    let mut spec = Spec::default();
    for f in ENV_FIELDS {
        let key = format!("CALICO_{}", f.var);
        let mut value = env.get(&key).or_else(|| env.get(f.var));
        // `--context` sets K8S_CURRENT_CONTEXT for the process, as calicoctl does.
        if f.var == "K8S_CURRENT_CONTEXT"
            && let Some(c) = context
            && env.get(&key).is_none()
        {
            value = Some(c.to_string());
        }
        if let Some(v) = value {
            (f.set)(&mut spec, &v, &key).map_err(ConfigError::Env)?;
        }
        let _ = f.go;
    }
    // The k8sAPIToken tag typo means only CALICO_K8SAPITOKEN works.
    if let Some(t) = env.get("CALICO_K8SAPITOKEN") {
        spec.k8s_api_token = t;
    }
    // The tag already carries the prefix: CALICO_CALICO_API_GROUP, then CALICO_API_GROUP.
    if let Some(g) = env
        .get("CALICO_CALICO_API_GROUP")
        .or_else(|| env.get("CALICO_API_GROUP"))
    {
        spec.calico_api_group = g;
    }
    Ok(spec)
}

/// calicoctl's defaults: the datastore type from the endpoints, `$HOME/.kube/config` for KDD.
pub fn apply_defaults(spec: &mut Spec, env: &dyn Env) {
    if spec.datastore_type.is_empty() {
        spec.datastore_type = if spec.etcd_endpoints.is_empty() {
            "kubernetes".to_string()
        } else {
            "etcdv3".to_string()
        };
    }
    if spec.datastore_type == "kubernetes"
        && spec.kubeconfig.is_empty()
        && spec.k8s_api_endpoint.is_empty()
        && let Some(h) = home(env)
    {
        let p = format!("{h}/.kube/config");
        if Path::new(&p).exists() {
            spec.kubeconfig = p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<String, String>);
    impl Env for MapEnv {
        fn get(&self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }
    }
    fn env(pairs: &[(&str, &str)]) -> MapEnv {
        MapEnv(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn prefixed_env_wins_even_when_empty() {
        let e = env(&[
            ("CALICO_ETCD_ENDPOINTS", ""),
            ("ETCD_ENDPOINTS", "http://x:2379"),
        ]);
        let s = from_env(&e, None).unwrap();
        assert_eq!(s.etcd_endpoints, "");
        let e = env(&[("ETCD_ENDPOINTS", "http://x:2379")]);
        let mut s = from_env(&e, None).unwrap();
        apply_defaults(&mut s, &e);
        assert_eq!(s.datastore_type, "etcdv3");
    }

    #[test]
    fn bad_bool_env_text() {
        let e = env(&[("K8S_INSECURE_SKIP_TLS_VERIFY", "maybe")]);
        let err = from_env(&e, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to load config from env vars: envconfig.Process: assigning CALICO_K8S_INSECURE_SKIP_TLS_VERIFY to K8sInsecureSkipTLSVerify: converting 'maybe' to type bool. details: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
    }

    #[test]
    fn token_and_api_group_oddities() {
        let e = env(&[
            ("K8S_TOKEN", "a"),
            ("CALICO_K8SAPITOKEN", "b"),
            ("CALICO_API_GROUP", "projectcalico.org/v3"),
        ]);
        let s = from_env(&e, None).unwrap();
        assert_eq!(s.k8s_api_token, "b");
        assert_eq!(s.calico_api_group, "projectcalico.org/v3");
    }

    #[test]
    fn file_errors() {
        let err = parse_file(
            "/c.cfg",
            "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  etcdAuthority: x\n",
            None,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with(
            "syntax error in /c.cfg: failed to parse config as YAML/JSON: error unmarshaling JSON: while decoding JSON: json: unknown field \"etcdAuthority\""
        ), "{err}");
        let err =
            parse_file("/c.cfg", "apiVersion: v2\nkind: CalicoAPIConfig\n", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "syntax error in /c.cfg: invalid config file: unknown APIVersion 'v2'"
        );
        let err = parse_file(
            "/c.cfg",
            "apiVersion: projectcalico.org/v3\nkind: Foo\n",
            None,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "syntax error in /c.cfg: invalid config file: expected kind 'CalicoAPIConfig', got 'Foo'"
        );
        let v1 = "apiVersion: v1\nkind: calicoApiConfig\nmetadata:\nspec:\n  datastoreType: etcdv2\n  etcdEndpoints: http://x:2379\n";
        let err = parse_file("/c.cfg", v1, None).unwrap_err().to_string();
        assert!(
            err.starts_with("syntax error in /c.cfg: invalid config file: unknown APIVersion 'v1'"),
            "{err}"
        );
        assert!(err.contains("etcdEndpoints"), "{err}");
    }

    #[test]
    fn contexts() {
        let text = "apiVersion: projectcalico.org/v3\nkind: CalicoctlConfig\ncurrentContext: a\ncontexts:\n- name: a\n  spec:\n    etcdEndpoints: http://a:2379\n- name: b\n  spec:\n    datastoreType: kubernetes\n";
        let l = parse_file("/c.cfg", text, None).unwrap();
        assert_eq!(l.spec.etcd_endpoints, "http://a:2379");
        let l = parse_file("/c.cfg", text, Some("b")).unwrap();
        assert_eq!(l.spec.datastore_type, "kubernetes");
        let err = parse_file("/c.cfg", text, Some("zz")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "context \"zz\" not found in /c.cfg (available: a, b)"
        );
    }
}
