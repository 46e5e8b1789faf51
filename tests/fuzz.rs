//! Fuzzing the parsers that read untrusted text: manifests, config files, selectors, BIRD
//! replies and etcd IPAM values. Each target mutates seed inputs (byte flips, inserted syntax
//! tokens, deletions, duplications, truncation, line swaps) with proptest and requires that
//! every input either parses or yields an error — no panic, no hang — plus a round-trip
//! property where one exists.
//!
//! `cargo test --test fuzz` is the CI smoke run (`FUZZ_CASES`, default 20,000 per target);
//! `make fuzz` runs `FUZZ_CASES=5000000` in release. A failure prints the shrunk input.

use calicoctl::model::ipam::IpamKey;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "-",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "!!binary ",
    "!!str ",
    "<<: ",
    "---\n",
    "...\n",
    "\"",
    "'",
    "|",
    ">",
    "#",
    "\t",
    "\n",
    "\n  ",
    "\n    ",
    "~",
    "null",
    "0x1F",
    "1e999",
    "-9223372036854775809",
    "18446744073709551616",
    "\u{feff}",
    "\\u0000",
    "\\",
    "%",
    "[[[[[[[[[[[[[[[[",
    "{{{{{{{{",
    "?",
    "!",
    "&&",
    "||",
    "has(",
    ")",
    "(",
    " in {",
    "not in",
    "contains",
    "starts with",
    "ends with",
    "all()",
    "global()",
    "==",
    "!=",
    "'a'",
    "\"b\"",
    "1002-",
    "2002-",
    "0000 ",
    "8001 ",
    " BGP ",
    "Established",
    "/26",
    "/128",
    "::",
    "fd00::1",
    "10.0.0.0/8",
    "true",
    "no",
    "y",
    "0o17",
    ".inf",
    "é",
    "😀",
    "\u{0}",
    "\u{7f}",
    "\r\n",
];

/// Mutation ops: (position seed, op, byte, token index).
type Ops = Vec<(usize, u8, u8, usize)>;

fn mutate(seed: &str, ops: &Ops) -> String {
    let mut b = seed.as_bytes().to_vec();
    for &(pos, op, byte, tok) in ops {
        let len = b.len();
        let at = if len == 0 { 0 } else { pos % (len + 1) };
        let tok = TOKENS[tok % TOKENS.len()].as_bytes();
        match op % 8 {
            0 if len > 0 => {
                let i = pos % len;
                b[i] ^= byte | 1;
            }
            1 => {
                b.splice(at..at, tok.iter().copied());
            }
            2 if len > 0 => {
                let end = (at + (byte as usize % 16) + 1).min(len);
                b.drain(at.min(len)..end);
            }
            3 if len > 0 => {
                let end = (at + byte as usize * 4).min(len);
                let piece: Vec<u8> = b[at.min(len)..end].to_vec();
                b.splice(end..end, piece);
            }
            4 => b.truncate(at),
            5 => b.insert(at, byte),
            6 => {
                let text = String::from_utf8_lossy(&b).to_string();
                let mut lines: Vec<&str> = text.lines().collect();
                if lines.len() > 1 {
                    let i = pos % lines.len();
                    let j = (byte as usize) % lines.len();
                    lines.swap(i, j);
                }
                b = lines.join("\n").into_bytes();
            }
            _ => {
                // Replace a span with a token.
                let end = (at + (byte as usize % 8)).min(len);
                b.splice(at.min(len)..end, tok.iter().copied());
            }
        }
        if b.len() > 64 * 1024 {
            b.truncate(64 * 1024);
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
}

/// Runs `check` on mutated seeds; fails with the (shrunk) input on a panic or a false result.
fn fuzz(name: &str, seeds: Vec<String>, check: impl Fn(&str) -> Result<bool, String>) {
    let parsed = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::sample::select(seeds),
        prop::collection::vec(
            (any::<usize>(), any::<u8>(), any::<u8>(), any::<usize>()),
            0..12,
        ),
    )
        .prop_map(|(s, ops)| mutate(&s, &ops));
    let started = std::time::Instant::now();
    let result = runner.run(&strategy, |input| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input))) {
            Ok(Ok(ok)) => {
                if ok {
                    parsed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(())
            }
            Ok(Err(why)) => Err(TestCaseError::fail(why)),
            Err(_) => Err(TestCaseError::fail("panicked")),
        }
    });
    eprintln!(
        "fuzz {name}: {} cases ({} parsed, the rest rejected with an error) in {:.1}s",
        cases(),
        parsed.load(std::sync::atomic::Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("fuzz target {name} failed: {e}");
    }
}

/// The `*.ext` seed files of a repository folder. Panics when there are none, so a moved or
/// emptied seed folder fails the run instead of silently fuzzing fewer inputs.
fn read(dir: &str, ext: &str) -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let rd =
        std::fs::read_dir(&root).unwrap_or_else(|e| panic!("seed folder {}: {e}", root.display()));
    let mut out = Vec::new();
    for e in rd {
        let p = e.expect("seed folder entry").path();
        if p.extension().is_some_and(|x| x == ext) {
            out.push(
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
            );
        }
    }
    assert!(!out.is_empty(), "no *.{ext} seeds in {}", root.display());
    out
}

#[test]
fn fuzz_manifest_decoder() {
    let mut seeds = read("tests/cli/fixtures", "yaml");
    seeds.extend(read("demo", "yaml"));
    seeds.push("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  cidr: 10.0.0.0/16\n  ipipMode: Always\n".into());
    seeds.push("{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"List\",\"items\":[{\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{\"selector\":\"all()\",\"ingress\":[{\"action\":\"Allow\"}]}}]}".into());
    fuzz(
        "manifest",
        seeds,
        |text| match calicoctl::model::manifest::parse_stream(text, "fuzz.yaml") {
            Ok(resources) => {
                for r in &resources {
                    let _ = calicoctl::model::validate::validate(r.kind, &r.obj);
                }
                Ok(!resources.is_empty())
            }
            Err(_) => Ok(false),
        },
    );
}

#[test]
fn fuzz_config_parser() {
    let seeds = vec![
        "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata:\nspec:\n  datastoreType: etcdv3\n  etcdEndpoints: http://127.0.0.1:2379,https://e2:2379\n  etcdUsername: u\n  etcdPassword: p\n".to_string(),
        "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  datastoreType: kubernetes\n  kubeconfig: /root/.kube/config\n  k8sAPIEndpoint: https://1.2.3.4:6443\n".into(),
        "apiVersion: projectcalico.org/v3\nkind: CalicoctlConfig\ncurrent-context: a\ncontexts:\n- name: a\n  spec:\n    datastoreType: etcdv3\n    etcdEndpoints: http://127.0.0.1:2379\n- name: b\n  spec:\n    datastoreType: kubernetes\n".into(),
        "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"CalicoAPIConfig\",\"spec\":{\"datastoreType\":\"etcdv3\",\"etcdKey\":\"-----BEGIN EC PRIVATE KEY-----\\nMHc\\n-----END EC PRIVATE KEY-----\"}}".into(),
    ];
    fuzz("config", seeds, |text| {
        let a = calicoctl::config::parse_file("fuzz.cfg", text, None).is_ok();
        let _ = calicoctl::config::parse_file("fuzz.cfg", text, Some("b"));
        Ok(a)
    });
}

#[test]
fn fuzz_selector_parser() {
    let seeds: Vec<String> = [
        "all()",
        "global()",
        "role == 'db' && has(tier)",
        "!has(a) || b != \"x\"",
        "app in {'a', 'b'} && env not in {\"prod\"}",
        "name contains 'x' && name starts with 'a' || name ends with 'z'",
        "((a == 'b'))",
        "projectcalico.org/namespace == 'kube-system' && k8s-app == 'kube-dns'",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    fuzz("selector", seeds, |text| {
        use calicoctl::model::selector::parse;
        if let Ok(sel) = parse(text) {
            // Round trip: the canonical form parses to the same canonical form.
            let canon = sel.canonical();
            let again =
                parse(&canon).map_err(|e| format!("canonical {canon:?} of {text:?}: {e}"))?;
            if again.canonical() != canon {
                return Err(format!(
                    "canonical form not stable: {canon:?} -> {:?}",
                    again.canonical()
                ));
            }
            let labels = std::collections::BTreeMap::from([
                ("role".to_string(), "db".to_string()),
                ("a".to_string(), String::new()),
            ]);
            if sel.evaluate_map(&labels) != again.evaluate_map(&labels) {
                return Err(format!("{text:?} and its canonical form disagree"));
            }
            return Ok(true);
        }
        Ok(false)
    });
}

#[test]
fn fuzz_bird_reply_parser() {
    let mut seeds = Vec::new();
    for t in read("tests/fuzz-seeds/bird", "txt") {
        // The raw reply blocks of the transcripts.
        for block in t
            .split("### <<< reply (raw bytes follow verbatim)\n")
            .skip(1)
        {
            if let Some(body) = block.split("### ").next() {
                seeds.push(body.to_string());
            }
        }
    }
    assert!(
        !seeds.is_empty(),
        "no reply blocks in tests/fuzz-seeds/bird"
    );
    seeds.push("2002-name     proto    table    state  since       info\n1002-Mesh_10_0_0_2 BGP      master   up     01:04:54    Established\n0000 \n".into());
    seeds.push("2002-Name       Proto      Table      State  Since         Info\n1002-Node_fd00__2 BGP        ---        up     2026-11-24 01:04:54  Established\n0000 \n".into());
    fuzz("bird", seeds, |text| {
        Ok(calicoctl::bird::parse_reply(text).is_ok_and(|p| !p.is_empty()))
    });
}

#[test]
fn fuzz_ipam_block_decoder() {
    let seeds = vec![
        "{\"cidr\":\"10.0.0.0/30\",\"affinity\":\"host:node-1\",\"allocations\":[0,null,1,null],\"unallocated\":[1,3],\"attributes\":[{\"handle_id\":\"k8s-pod-network.abc\",\"secondary\":{\"namespace\":\"default\",\"node\":\"node-1\",\"pod\":\"p\"}},{\"handle_id\":\"ipip-tunnel-addr-node-1\",\"secondary\":null}],\"deleted\":false,\"sequenceNumber\":3,\"sequenceNumberForAllocation\":{\"0\":1,\"2\":2}}".to_string(),
        "{\"cidr\":\"fd00::/126\",\"affinity\":null,\"strictAffinity\":false,\"allocations\":[null,null,null,null],\"unallocated\":[0,1,2,3],\"attributes\":[],\"deleted\":true}".into(),
    ];
    let keys = [
        IpamKey::Block("10.0.0.0/30".parse().unwrap()),
        IpamKey::Block("fd00::/126".parse().unwrap()),
        IpamKey::Handle("k8s-pod-network.abc".into()),
    ];
    fuzz("ipam-block", seeds, |text| {
        use calicoctl::datastore::etcd::ipam::{decode, encode};
        let mut any = false;
        for key in &keys {
            if let Ok(v) = decode(key, text) {
                any = true;
                // What we would write back decodes to the same value.
                let text2 = encode(&v);
                let v2 = decode(key, &text2).map_err(|e| format!("re-decode of {text2}: {e}"))?;
                if encode(&v2) != text2 {
                    return Err(format!("encode/decode not stable for {text:?}"));
                }
            }
        }
        Ok(any)
    });
}

/// Inputs a mutator rarely reaches: very deep nesting and very long lines must be errors (or
/// parse), never a stack overflow.
#[test]
fn deep_and_long_inputs() {
    let deep = [
        "[".repeat(100_000),
        "{a: ".repeat(50_000),
        "- ".repeat(50_000),
        format!(
            "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: {}\n",
            "x".repeat(1_000_000)
        ),
        // A "billion laughs" alias bomb: 9^9 nodes if expanded naively.
        (0..9)
            .map(|i| {
                let prev = if i == 0 {
                    "\"lol\"".to_string()
                } else {
                    format!("*l{}", i - 1)
                };
                format!("l{i}: &l{i} [{}]\n", vec![prev; 9].join(", "))
            })
            .collect::<String>(),
    ];
    for d in &deep {
        let _ = calicoctl::model::manifest::parse_stream(d, "deep.yaml");
        let _ = calicoctl::config::parse_file("deep.cfg", d, None);
    }
    let sel = format!("{}a == 'b'{}", "(".repeat(50_000), ")".repeat(50_000));
    let _ = calicoctl::model::selector::parse(&sel);
    let _ = calicoctl::model::selector::parse(&"!".repeat(100_000));
    let _ = calicoctl::bird::parse_reply(&"1002-".repeat(100_000));
}

#[test]
fn fuzz_certificate_validity_reader() {
    let pem = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-seeds/cert.pem"),
    )
    .unwrap();
    // The seed itself must be read (10-year self-signed certificate made with openssl).
    assert_eq!(
        calicoctl::datastore::certcheck::check(pem.as_bytes(), "seed", chrono::Utc::now()),
        None
    );
    let der_b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    fuzz("certificate", vec![pem.clone(), der_b64], |text| {
        // Mutations of the PEM text, and of the base64 body re-wrapped as PEM.
        use base64::Engine;
        let _ = calicoctl::datastore::certcheck::check(text.as_bytes(), "c", chrono::Utc::now());
        let wrapped = format!("-----BEGIN CERTIFICATE-----\n{text}\n-----END CERTIFICATE-----\n");
        let _ = calicoctl::datastore::certcheck::check(wrapped.as_bytes(), "c", chrono::Utc::now());
        // The DER reader itself on whatever the mutated body decodes to.
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        Ok(base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .ok()
            .and_then(|der| calicoctl::datastore::certcheck::validity(&der))
            .is_some())
    });
}
