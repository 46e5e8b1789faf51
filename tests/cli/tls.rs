//! etcd with client-certificate TLS: files, inline PEM, EC keys, wrong CA, missing cert,
//! plain HTTP to a TLS port.

use crate::harness::*;

fn pool_file(dir: &std::path::Path) -> String {
    let p = dir.join("p.yaml");
    std::fs::write(&p, "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: tlspool\nspec:\n  cidr: 10.5.0.0/16\n").unwrap();
    p.to_string_lossy().to_string()
}

#[test]
fn tls_with_client_cert_files() {
    let certs = Certs::new("rsa");
    let env = Env::tls(&certs);
    let f = pool_file(env.dir.path());
    env.ctl(&["apply", "-f", &f])
        .run()
        .ok()
        .stdout_is("Successfully applied 1 'IPPool' resource(s)\n");
    assert!(
        env.etcd
            .get("/calico/resources/v3/projectcalico.org/ippools/tlspool")
            .is_some()
    );
}

#[test]
fn tls_with_inline_pem_and_ec_key() {
    let certs = Certs::new("ec");
    let etcd = Etcd::start_tls(&certs);
    let dir = tempdir();
    let indent = |p: std::path::PathBuf| {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    let cfg = dir.path().join("c.cfg");
    std::fs::write(
        &cfg,
        format!(
            "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  etcdEndpoints: {}\n  etcdCACert: |\n{}  etcdCert: |\n{}  etcdKey: |\n{}",
            etcd.endpoint,
            indent(certs.path("ca.crt")),
            indent(certs.path("client.crt")),
            indent(certs.path("client.key"))
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let f = pool_file(dir.path());
    calicoctl(&["apply", "-f", &f, "-c", cfg.to_str().unwrap()])
        .run()
        .ok();
    assert!(
        etcd.get("/calico/resources/v3/projectcalico.org/ippools/tlspool")
            .is_some()
    );
}

/// `get ippools` (timeout 3s) with a config holding `spec`, which must end within `max_s`.
fn get_with_config(dir: &std::path::Path, spec: &str, max_s: u64) -> Out {
    let cfg = dir.join("c.cfg");
    std::fs::write(
        &cfg,
        format!("apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n{spec}"),
    )
    .unwrap();
    let start = std::time::Instant::now();
    let out = calicoctl(&[
        "get",
        "ippools",
        "--timeout",
        "3s",
        "--allow-version-mismatch",
        "-c",
        cfg.to_str().unwrap(),
    ])
    .run();
    assert!(start.elapsed() < std::time::Duration::from_secs(max_s));
    out
}

#[test]
fn tls_failures_are_distinct_one_line_errors() {
    let certs = Certs::new("rsa");
    let etcd = Etcd::start_tls(&certs);
    let dir = tempdir();
    let run = |spec: String| get_with_config(dir.path(), &spec, 20);
    let ep = &etcd.endpoint;
    let wrong_ca = run(format!(
        "  etcdEndpoints: {ep}\n  etcdCACertFile: {}\n  etcdCertFile: {}\n  etcdKeyFile: {}\n",
        certs.path("other-ca.crt").display(),
        certs.path("client.crt").display(),
        certs.path("client.key").display()
    ));
    wrong_ca.fails(1);
    assert!(wrong_ca.stderr.contains(ep), "{}", wrong_ca.stderr);
    assert!(wrong_ca.stderr.contains("CA"), "{}", wrong_ca.stderr);
    assert_eq!(wrong_ca.stderr.lines().count(), 1, "{}", wrong_ca.stderr);
    let no_cert = run(format!(
        "  etcdEndpoints: {ep}\n  etcdCACertFile: {}\n",
        certs.path("ca.crt").display()
    ));
    no_cert.fails(1);
    assert!(no_cert.stderr.contains(ep), "{}", no_cert.stderr);
    assert_ne!(no_cert.stderr, wrong_ca.stderr);
    let plain = run(format!(
        "  etcdEndpoints: {}\n",
        ep.replace("https://", "http://")
    ));
    plain.fails(1);
    assert!(plain.stderr.contains("127.0.0.1"), "{}", plain.stderr);
    assert!(
        plain.stderr.to_lowercase().contains("tls") || plain.stderr.contains("https"),
        "{}",
        plain.stderr
    );
    let missing = run(format!(
        "  etcdEndpoints: {ep}\n  etcdCACertFile: /nonexistent/ca.pem\n"
    ));
    missing.fails(1).stdout_is("Failed to create Calico API client: could not initialize etcdv3 client: open /nonexistent/ca.pem: no such file or directory\n");
}

/// Misconfigured TLS, each one line naming the file or endpoint and what to fix. Where
/// calicoctl v3.32.1 reports the problem (it checks the client key pair before connecting)
/// the line is its own; where it retries until the timeout (no client certificate, https:// to
/// a plain port, a CA file without a certificate) the line is ours.
#[test]
fn tls_misconfigurations_name_the_file_or_the_endpoint() {
    let certs = Certs::new("rsa");
    let etcd = Etcd::start_tls(&certs);
    let plain = Etcd::start();
    ossl(&certs, None, &["genrsa", "-out", "other.key", "2048"]);
    ossl(
        &certs,
        None,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ec.key",
        ],
    );
    std::fs::write(certs.path("notpem.crt"), "not a certificate\n").unwrap();
    let dir = tempdir();
    let p = |f: &str| certs.path(f).to_string_lossy().into_owned();
    let run = |ep: &str, ca: &str, cert: &str, key: &str| {
        let mut spec = format!("  etcdEndpoints: {ep}\n");
        for (k, v) in [
            ("etcdCACertFile", ca),
            ("etcdCertFile", cert),
            ("etcdKeyFile", key),
        ] {
            if !v.is_empty() {
                spec.push_str(&format!("  {k}: {v}\n"));
            }
        }
        get_with_config(dir.path(), &spec, 5)
    };
    let ep = etcd.endpoint.as_str();
    let client = "Failed to create Calico API client: could not initialize etcdv3 client: ";
    let (ca, crt) = (p("ca.crt"), p("client.crt"));
    // calicoctl's own lines.
    for (key, line) in [
        ("other.key", "tls: private key does not match public key"),
        (
            "ec.key",
            "tls: private key type does not match public key type",
        ),
        (
            "client.crt",
            "tls: found a certificate rather than a key in the PEM for the private key",
        ),
        (
            "notpem.crt",
            "tls: failed to find any PEM data in key input",
        ),
    ] {
        run(ep, &ca, &crt, &p(key))
            .fails(1)
            .stdout_is(&format!("{client}{line}\n"));
    }
    run(ep, &ca, &p("client.key"), &crt).fails(1).stdout_is(&format!(
        "{client}tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched\n"
    ));
    run(ep, &ca, &crt, "").fails(1).stdout_is(&format!(
        "{client}KeyFile and CertFile must both be present[key: , cert: {crt}]\n"
    ));
    let missing = p("missing.key");
    run(ep, &ca, &crt, &missing).fails(1).stdout_is(&format!(
        "{client}open {missing}: no such file or directory\n"
    ));
    // Ours, where calicoctl waits for the timeout.
    let notpem = p("notpem.crt");
    run(ep, &notpem, &crt, &p("client.key"))
        .fails(1)
        .stdout_is(&format!(
            "{client}etcd CA certificate {notpem} holds no PEM certificate (check etcdCACertFile)\n"
        ));
    run(ep, &ca, "", "").fails(1).stderr_is(&format!(
        "error connecting to etcd at {ep}: TLS: the server requires a client certificate (set etcdCertFile and etcdKeyFile)\n"
    ));
    let https_plain = plain.endpoint.replace("http://", "https://");
    run(&https_plain, "", "", "").fails(1).stderr_is(&format!(
        "error connecting to etcd at {https_plain}: TLS handshake failed: the endpoint does not speak TLS (use http:// in etcdEndpoints)\n"
    ));
    let http_tls = ep.replace("https://", "http://");
    run(&http_tls, "", "", "").fails(1).stderr_is(&format!(
        "error connecting to etcd at {http_tls}: the connection was dropped; if the endpoint uses TLS, use https:// and set the certificates\n"
    ));
}

/// Runs openssl in the certificate directory (optionally under faketime).
fn ossl(certs: &Certs, faketime: Option<&str>, args: &[&str]) {
    let mut cmd = match faketime {
        Some(t) => {
            let mut c = std::process::Command::new("faketime");
            c.arg(t).arg("openssl");
            c
        }
        None => std::process::Command::new("openssl"),
    };
    let out = cmd
        .args(args)
        .current_dir(certs.dir.path())
        .output()
        .expect("openssl/faketime installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Signs `<name>.csr` (with `<name>.ext`) by the test CA as a one-day certificate issued on
/// 2020-01-01, long expired.
fn sign_expired(certs: &Certs, name: &str, out: &str) {
    let (csr, ext) = (format!("{name}.csr"), format!("{name}.ext"));
    ossl(
        certs,
        Some("2020-01-01 00:00:00"),
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            out,
            "-days",
            "1",
            "-extfile",
            &ext,
        ],
    );
}

fn tls_cfg(dir: &std::path::Path, ep: &str, ca: &str, cert: &str, key: &str) -> String {
    let cfg = dir.join(format!("{}.cfg", key.replace('/', "_")));
    std::fs::write(
        &cfg,
        format!("apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  etcdEndpoints: {ep}\n  etcdCACertFile: {ca}\n  etcdCertFile: {cert}\n  etcdKeyFile: {key}\n"),
    )
    .unwrap();
    cfg.to_string_lossy().into_owned()
}

/// RSA keys as PKCS#1 and PKCS#8, EC keys as SEC1 and PKCS#8: all work.
#[test]
fn tls_key_formats() {
    for (kind, conversions) in [
        (
            "rsa",
            vec![
                (
                    "pkcs1.key",
                    vec![
                        "rsa",
                        "-in",
                        "client.key",
                        "-traditional",
                        "-out",
                        "pkcs1.key",
                    ],
                    "BEGIN RSA PRIVATE KEY",
                ),
                (
                    "pkcs8.key",
                    vec![
                        "pkcs8",
                        "-topk8",
                        "-nocrypt",
                        "-in",
                        "client.key",
                        "-out",
                        "pkcs8.key",
                    ],
                    "BEGIN PRIVATE KEY",
                ),
            ],
        ),
        (
            "ec",
            vec![
                (
                    "sec1.key",
                    vec!["ec", "-in", "client.key", "-out", "sec1.key"],
                    "BEGIN EC PRIVATE KEY",
                ),
                (
                    "pkcs8.key",
                    vec![
                        "pkcs8",
                        "-topk8",
                        "-nocrypt",
                        "-in",
                        "client.key",
                        "-out",
                        "pkcs8.key",
                    ],
                    "BEGIN PRIVATE KEY",
                ),
            ],
        ),
    ] {
        let certs = Certs::new(kind);
        let etcd = Etcd::start_tls(&certs);
        let dir = tempdir();
        for (file, args, header) in conversions {
            ossl(&certs, None, &args);
            let pem = std::fs::read_to_string(certs.path(file)).unwrap();
            assert!(pem.contains(header), "{kind} {file} is not {header}: {pem}");
            let cfg = tls_cfg(
                dir.path(),
                &etcd.endpoint,
                &certs.path("ca.crt").to_string_lossy(),
                &certs.path("client.crt").to_string_lossy(),
                &certs.path(file).to_string_lossy(),
            );
            calicoctl(&[
                "get",
                "ippools",
                "-o",
                "name",
                "--allow-version-mismatch",
                "-c",
                &cfg,
            ])
            .run()
            .ok();
        }
    }
}

/// An expired client certificate is named with its date before anything is sent; an expired
/// server certificate is reported as such.
#[test]
fn expired_certificates() {
    let certs = Certs::new("rsa");
    let etcd = Etcd::start_tls(&certs);
    let dir = tempdir();
    sign_expired(&certs, "client", "expired.crt");
    let expired = certs.path("expired.crt").to_string_lossy().into_owned();
    let cfg = tls_cfg(
        dir.path(),
        &etcd.endpoint,
        &certs.path("ca.crt").to_string_lossy(),
        &expired,
        &certs.path("client.key").to_string_lossy(),
    );
    let t = std::time::Instant::now();
    let out = calicoctl(&["get", "ippools", "--allow-version-mismatch", "-c", &cfg]).run();
    out.fails(1);
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains(&format!(
            "etcd client certificate {expired} expired on 2020-01-02"
        )),
        "{all}"
    );
    assert_eq!(all.trim().lines().count(), 1, "{all}");
    drop(etcd);

    // A server whose certificate has expired: the client refuses it and says why.
    sign_expired(&certs, "server", "server.crt");
    let old = Etcd::start_tls_unverifiable(&certs);
    let cfg = tls_cfg(
        dir.path(),
        &old.endpoint,
        &certs.path("ca.crt").to_string_lossy(),
        &certs.path("client.crt").to_string_lossy(),
        &certs.path("client.key").to_string_lossy(),
    );
    let t = std::time::Instant::now();
    let out = calicoctl(&[
        "get",
        "ippools",
        "--allow-version-mismatch",
        "--timeout",
        "3s",
        "-c",
        &cfg,
    ])
    .run();
    out.fails(1);
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains(&format!(
            "error connecting to etcd at {}: TLS: a certificate has expired",
            old.endpoint
        )),
        "{all}"
    );
    assert_eq!(all.trim().lines().count(), 1, "{all}");
}
