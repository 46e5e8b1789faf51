//! Secrets never reach output: passwords, tokens and private keys from config files,
//! environment and kubeconfigs are absent from everything a run prints — `config view`,
//! `--log-level debug`, connection and authentication errors, and the `node diags` bundle.

use std::process::Command;

use crate::harness::*;

const PASSWORD: &str = "pw-SECRET-4f1c9e";
const TOKEN: &str = "tok-SECRET-77ab02";

/// Fails naming the run whose output holds a secret.
fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{what} printed a secret ({s}):\n{text}");
    }
}

#[test]
fn no_secret_in_any_output() {
    let certs = Certs::new("ec");
    let etcd = Etcd::start_tls(&certs);
    let dir = tempdir();
    let key_pem = std::fs::read_to_string(certs.path("client.key")).unwrap();
    // The body lines of the private key (the header is not secret).
    let key_lines: Vec<String> = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
        .map(str::to_string)
        .collect();
    assert!(!key_lines.is_empty());
    let mut secrets: Vec<&str> = vec![PASSWORD, TOKEN];
    secrets.extend(key_lines.iter().map(String::as_str));

    let indent = |s: &str| s.lines().map(|l| format!("    {l}\n")).collect::<String>();
    let cfg = dir.path().join("inline.cfg");
    std::fs::write(
        &cfg,
        format!(
            "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  etcdEndpoints: {}\n  etcdUsername: admin\n  etcdPassword: {PASSWORD}\n  etcdCACertFile: {}\n  etcdCertFile: {}\n  etcdKey: |\n{}",
            etcd.endpoint,
            certs.path("ca.crt").display(),
            certs.path("client.crt").display(),
            indent(&key_pem)
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = cfg.to_string_lossy().into_owned();

    let mut runs: Vec<(String, Out)> = Vec::new();
    for args in [
        vec!["config", "view"],
        vec!["config", "view", "-o", "json"],
        vec!["--log-level", "debug", "get", "ippools"],
        vec!["--log-level", "debug", "ipam", "show"],
        vec!["--log-level", "debug", "apply", "-f", "-"],
        vec!["--log-level", "debug", "version"],
    ] {
        let mut a = args.clone();
        a.extend(["-c", cfg.as_str(), "--timeout", "3s"]);
        let out = calicoctl(&a)
            .stdin("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  cidr: 10.9.0.0/16\n")
            .run();
        runs.push((args.join(" "), out));
    }
    // `config view` shows that a password and key are set, without their values.
    let view = &runs[0].1;
    view.ok();
    assert!(view.stdout.contains("etcdPassword"), "{}", view.stdout);

    // The same secrets from the environment, against an endpoint that refuses.
    let dead = format!("https://127.0.0.1:{}", free_port());
    let out = calicoctl(&["--log-level", "debug", "get", "ippools", "--timeout", "2s"])
        .env("DATASTORE_TYPE", "etcdv3")
        .env("ETCD_ENDPOINTS", &dead)
        .env("ETCD_USERNAME", "admin")
        .env("ETCD_PASSWORD", PASSWORD)
        .env("ETCD_KEY_FILE", certs.path("client.key").to_str().unwrap())
        .env("ETCD_CERT_FILE", certs.path("client.crt").to_str().unwrap())
        .env("ETCD_CA_CERT_FILE", certs.path("ca.crt").to_str().unwrap())
        .run();
    out.fails(1);
    runs.push(("env config, refused endpoint".into(), out));
    // A password inside the endpoint URL.
    let with_password = dead.replace("https://", &format!("https://admin:{PASSWORD}@"));
    for args in [
        vec!["--log-level", "debug", "get", "ippools", "--timeout", "2s"],
        vec!["config", "view"],
    ] {
        let out = calicoctl(&args)
            .env("DATASTORE_TYPE", "etcdv3")
            .env("ETCD_ENDPOINTS", &with_password)
            .run();
        assert!(
            out.stdout.contains("admin:REDACTED@") || out.stderr.contains("admin:REDACTED@"),
            "{args:?}: {}{}",
            out.stdout,
            out.stderr
        );
        runs.push((format!("password in the endpoint URL: {args:?}"), out));
    }
    let out = calicoctl(&["config", "view"])
        .env("DATASTORE_TYPE", "etcdv3")
        .env("ETCD_ENDPOINTS", &dead)
        .env("ETCD_PASSWORD", PASSWORD)
        .run();
    runs.push(("config view from env".into(), out));

    // A kubeconfig token, with an API server that is not there.
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: {TOKEN}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n", free_port()),
    )
    .unwrap();
    std::fs::set_permissions(&kc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = calicoctl(&["--log-level", "debug", "get", "ippools", "--timeout", "2s"])
        .env("DATASTORE_TYPE", "kubernetes")
        .env("KUBECONFIG", kc.to_str().unwrap())
        .run();
    out.fails(1);
    runs.push(("kubeconfig token, refused API server".into(), out));
    let out = calicoctl(&["config", "view"])
        .env("DATASTORE_TYPE", "kubernetes")
        .env("KUBECONFIG", kc.to_str().unwrap())
        .run();
    runs.push(("config view, kubernetes".into(), out));

    for (what, out) in &runs {
        assert_clean(what, &format!("{}\n{}", out.stdout, out.stderr), &secrets);
        assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
    }

    // The diagnostics bundle (needs root, as calicoctl's).
    if unsafe { libc::geteuid() } == 0 {
        let tmp = tempdir();
        let logs = tempdir();
        let out = calicoctl(&["node", "diags", "--log-dir", logs.path().to_str().unwrap()])
            .env("TMPDIR", tmp.path().to_str().unwrap())
            .env("ETCD_PASSWORD", PASSWORD)
            .env("CALICO_ETCD_PASSWORD", PASSWORD)
            .env("ETCD_ENDPOINTS", &with_password)
            .run();
        out.ok();
        assert_clean(
            "node diags",
            &format!("{}{}", out.stdout, out.stderr),
            &secrets,
        );
        let bundle = out.diags_bundle();
        let x = tempdir();
        let st = Command::new("tar")
            .args(["-xzf", &bundle, "-C", x.path().to_str().unwrap()])
            .status()
            .unwrap();
        assert!(st.success());
        let grep = Command::new("grep")
            .args(["-rl", PASSWORD, x.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            grep.stdout.is_empty(),
            "diags bundle files hold the password: {}",
            String::from_utf8_lossy(&grep.stdout)
        );
    } else {
        skip("not root: the node diags bundle was not checked for secrets");
    }
}
