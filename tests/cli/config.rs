//! Configuration: file vs env, the CALICO_ prefix rule, calicoctl's error texts, contexts.

use crate::harness::*;

#[test]
fn missing_non_default_config_is_on_stdout() {
    calicoctl(&["get", "ippools", "-c", "/nonexistent/calicoctl.cfg"])
        .run()
        .fails(1)
        .stdout_is("Error reading config file: /nonexistent/calicoctl.cfg\n")
        .stderr_is("");
}

#[test]
fn env_only_config_and_prefix_rule() {
    let etcd = Etcd::start();
    // Default config path absent → environment. CALICO_ETCD_ENDPOINTS wins over ETCD_ENDPOINTS.
    if std::path::Path::new("/etc/calico/calicoctl.cfg").exists() {
        skip("/etc/calico/calicoctl.cfg exists on this machine, so the environment is ignored");
        return;
    }
    calicoctl(&["get", "ippools"])
        .env("CALICO_ETCD_ENDPOINTS", &etcd.endpoint)
        .env("ETCD_ENDPOINTS", "http://127.0.0.1:1")
        .run()
        .ok();
    calicoctl(&["get", "ippools", "--timeout", "2s"])
        .env("CALICO_ETCD_ENDPOINTS", "http://127.0.0.1:1")
        .env("ETCD_ENDPOINTS", &etcd.endpoint)
        .run()
        .fails(1);
    // No endpoints at all → kubernetes default, which has no kubeconfig here.
    calicoctl(&["get", "ippools"])
        .env("DATASTORE_TYPE", "etcdv3")
        .run()
        .fails(1)
        .stdout_is("Failed to create Calico API client: no etcd endpoints specified\n");
    calicoctl(&["get", "ippools"])
        .env("DATASTORE_TYPE", "etcdv2")
        .run()
        .fails(1)
        .stdout_is("Failed to create Calico API client: unknown datastore type: etcdv2\n");
    calicoctl(&["get", "ippools"])
        .env("K8S_INSECURE_SKIP_TLS_VERIFY", "maybe")
        .run()
        .fails(1)
        .stdout_is("Failed to create Calico API client: failed to load config from env vars: envconfig.Process: assigning CALICO_K8S_INSECURE_SKIP_TLS_VERIFY to K8sInsecureSkipTLSVerify: converting 'maybe' to type bool. details: strconv.ParseBool: parsing \"maybe\": invalid syntax\n");
}

#[test]
fn file_replaces_environment() {
    let env = Env::new();
    // The file points at the real etcd; a bogus env var must be ignored.
    env.ctl(&["get", "ippools"])
        .env("ETCD_ENDPOINTS", "http://127.0.0.1:1")
        .env("DATASTORE_TYPE", "kubernetes")
        .run()
        .ok();
}

#[test]
fn config_file_errors() {
    let dir = tempdir();
    let cfg = dir.path().join("c.cfg");
    let c = cfg.to_str().unwrap();
    let case = |text: &str| {
        std::fs::write(&cfg, text).unwrap();
        calicoctl(&["get", "ippools", "-c", c]).run()
    };
    case("apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  etcdAuthority: 127.0.0.1:2379\n")
        .fails(1)
        .stdout_has(&format!("Failed to create Calico API client: syntax error in {c}: failed to parse config as YAML/JSON: error unmarshaling JSON: while decoding JSON: json: unknown field \"etcdAuthority\""));
    case("apiVersion: projectcalico.org/v2\nkind: CalicoAPIConfig\n")
        .fails(1)
        .stdout_is(&format!("Failed to create Calico API client: syntax error in {c}: invalid config file: unknown APIVersion 'projectcalico.org/v2'\n"));
    case("apiVersion: projectcalico.org/v3\nkind: Nope\n")
        .fails(1)
        .stdout_is(&format!("Failed to create Calico API client: syntax error in {c}: invalid config file: expected kind 'CalicoAPIConfig', got 'Nope'\n"));
    case("apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  etcdEndpoints: http://a:1\n  etcdDiscoverySrv: x.example\n")
        .fails(1)
        .stdout_is("Failed to create Calico API client: multiple discovery or bootstrap options specified, use either \"etcdEndpoints\" or \"etcdDiscoverySrv\"\n");
    case("apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  etcdEndpoints: http://a:1\n  etcdCACertFile: /x\n  etcdCert: abc\n")
        .fails(1)
        .stdout_is("Failed to create Calico API client: Cannot mix inline certificate-key and certificate / key files\n");
    // The v1 format: calicoctl's text plus what to change.
    let out = case(
        "apiVersion: v1\nkind: calicoApiConfig\nmetadata:\nspec:\n  datastoreType: etcdv2\n  etcdEndpoints: http://127.0.0.1:2379\n",
    );
    out.fails(1)
        .stdout_has(&format!(
            "syntax error in {c}: invalid config file: unknown APIVersion 'v1'"
        ))
        .stdout_has("etcdEndpoints: http://<host>:2379");
    assert_eq!(out.stdout.lines().count(), 1);
    // ipam/datastore-style commands return the error, which gets massaged.
    let out = case(
        "apiVersion: v1\nkind: calicoApiConfig\nmetadata:\nspec:\n  etcdAuthority: 127.0.0.1:2379\n",
    );
    out.fails(1);
}

#[test]
fn named_contexts() {
    let a = Etcd::start();
    let b = Etcd::start();
    let dir = tempdir();
    let cfg = dir.path().join("calicoctl.cfg");
    std::fs::write(
        &cfg,
        format!(
            "apiVersion: projectcalico.org/v3\nkind: CalicoctlConfig\ncurrentContext: alpha\ncontexts:\n- name: alpha\n  spec:\n    etcdEndpoints: {}\n- name: beta\n  spec:\n    datastoreType: etcdv3\n    etcdEndpoints: {}\n    etcdPassword: s3cret-pass\n",
            a.endpoint, b.endpoint
        ),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let pool = dir.path().join("p.yaml");
    std::fs::write(&pool, "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  cidr: 10.0.0.0/16\n").unwrap();
    calicoctl(&["apply", "-f", pool.to_str().unwrap(), "-c", c])
        .run()
        .ok();
    assert!(
        a.get("/calico/resources/v3/projectcalico.org/ippools/p")
            .is_some()
    );
    assert!(
        b.get("/calico/resources/v3/projectcalico.org/ippools/p")
            .is_none()
    );
    calicoctl(&[
        "--context",
        "beta",
        "apply",
        "-f",
        pool.to_str().unwrap(),
        "-c",
        c,
    ])
    .run()
    .ok();
    assert!(
        b.get("/calico/resources/v3/projectcalico.org/ippools/p")
            .is_some()
    );
    calicoctl(&["config", "current-context", "-c", c])
        .run()
        .ok()
        .stdout_is("alpha\n");
    calicoctl(&["config", "get-contexts", "-c", c])
        .run()
        .ok()
        .stdout_has("*         alpha")
        .stdout_has("beta");
    calicoctl(&["config", "use-context", "beta", "-c", c])
        .run()
        .ok()
        .stdout_is("Switched to context \"beta\".\n");
    calicoctl(&["config", "current-context", "-c", c])
        .run()
        .ok()
        .stdout_is("beta\n");
    calicoctl(&["config", "use-context", "gamma", "-c", c])
        .run()
        .fails(1)
        .stderr_has("context \"gamma\" not found");
    let view = calicoctl(&["config", "view", "-c", c]).run();
    view.ok();
    assert!(!view.stdout.contains("s3cret-pass"), "{}", view.stdout);
    assert!(
        view.stdout.contains("etcdPassword: REDACTED"),
        "{}",
        view.stdout
    );
    calicoctl(&["--context", "nope", "get", "ippools", "-c", c])
        .run()
        .fails(1)
        .stdout_has("Failed to create Calico API client: context \"nope\" not found");
    // A plain file still works with the config commands.
    let env = Env::new();
    env.ctl(&["config", "current-context"])
        .run()
        .ok()
        .stdout_is("default\n");
}

#[test]
fn world_readable_secrets_warn() {
    let env = Env::new();
    let text = std::fs::read_to_string(&env.cfg).unwrap()
        + "  etcdUsername: u\n  etcdPassword: hunter2-secret\n";
    std::fs::write(&env.cfg, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&env.cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env.ctl(&["config", "view"]).run();
    out.ok().stderr_has("readable by group or others");
    assert!(!out.stdout.contains("hunter2-secret") && !out.stderr.contains("hunter2-secret"));
    std::fs::set_permissions(&env.cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    env.ctl(&["config", "view"]).run().ok().stderr_is("");
}
