//! The CRUD suite run against every backend: etcd, KDD with crd.projectcalico.org/v1 CRDs and
//! KDD with projectcalico.org/v3 CRDs (real kube-apiservers; skipped with a reason when the
//! binary is not built, a failure in CI).

use crate::harness::*;
use serde_json::{Value, json};

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod etcd {
            $(#[test] fn $name() { if let Some(s) = crate::harness::Store::etcd() { super::$name(&s) } })*
        }
        mod kdd_v1 {
            $(#[test] fn $name() { if let Some(s) = crate::harness::Store::kdd(crate::harness::CrdMode::V1) { super::$name(&s) } })*
        }
        mod kdd_v3 {
            $(#[test] fn $name() { if let Some(s) = crate::harness::Store::kdd(crate::harness::CrdMode::V3) { super::$name(&s) } })*
        }
    };
}

on_every_backend!(
    crud_lifecycle,
    namespaced_policies_and_labels,
    ipam_config_and_show
);

fn pool(name: &str, cidr: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: {name}\n  labels:\n    team: net\nspec:\n  cidr: {cidr}\n  natOutgoing: true\n"
    )
}

fn crud_lifecycle(s: &Store) {
    let f = s.file("p.yaml", &pool("pool1", "10.10.0.0/16"));
    s.ctl(&["create", "-f", &f])
        .run()
        .ok()
        .stdout_is("Successfully created 1 'IPPool' resource(s)\n");
    s.ctl(&["create", "-f", &f])
        .run()
        .fails(1)
        .stderr_has("resource already exists: IPPool(pool1)");
    s.ctl(&["get", "ippools"])
        .run()
        .ok()
        .stdout_is("NAME    CIDR           SELECTOR   \npool1   10.10.0.0/16   all()      \n\n");
    let y = s.ctl(&["get", "ippool", "pool1", "-o", "yaml"]).run();
    y.ok();
    for line in [
        "  labels:\n    team: net\n",
        "  cidr: 10.10.0.0/16\n",
        "  natOutgoing: true\n",
        "  blockSize: 26\n",
        "kind: IPPool\n",
    ] {
        assert!(
            y.stdout.contains(line),
            "{line:?} missing in:\n{}",
            y.stdout
        );
    }
    let v: Value = serde_json::from_str(
        &s.ctl(&["get", "ippool", "pool1", "-o", "json"])
            .run()
            .stdout,
    )
    .unwrap();
    let uid = v["metadata"]["uid"].as_str().unwrap().to_string();
    // apply updates in place: identity preserved.
    let f2 = s.file(
        "p2.yaml",
        &pool("pool1", "10.10.0.0/16").replace("natOutgoing: true", "disabled: true"),
    );
    s.ctl(&["apply", "-f", &f2])
        .run()
        .ok()
        .stdout_is("Successfully applied 1 'IPPool' resource(s)\n");
    let v2: Value = serde_json::from_str(
        &s.ctl(&["get", "ippool", "pool1", "-o", "json"])
            .run()
            .stdout,
    )
    .unwrap();
    assert_eq!(v2["metadata"]["uid"], json!(uid));
    assert_eq!(v2["spec"]["disabled"], json!(true));
    assert!(v2["spec"].get("natOutgoing").is_none());
    s.ctl(&["replace", "-f", &f])
        .run()
        .ok()
        .stdout_is("Successfully replaced 1 'IPPool' resource(s)\n");
    s.ctl(&[
        "patch",
        "ippool",
        "pool1",
        "-p",
        r#"{"spec":{"nodeSelector":"rack == 'r1'"}}"#,
    ])
    .run()
    .ok()
    .stdout_is("Successfully patched 1 'IPPool' resource\n");
    s.ctl(&[
        "get",
        "ippool",
        "pool1",
        "-o",
        "custom-columns=NAME,SELECTOR",
    ])
    .run()
    .ok()
    .stdout_is("NAME    SELECTOR       \npool1   rack == 'r1'   \n\n");
    // A stale resourceVersion is a conflict.
    let stale = s.file(
        "stale.yaml",
        &pool("pool1", "10.10.0.0/16").replace(
            "  name: pool1\n",
            "  name: pool1\n  resourceVersion: \"1\"\n",
        ),
    );
    s.ctl(&["replace", "-f", &stale])
        .run()
        .without_kube_warnings()
        .fails(1)
        .stderr_is("hit error: update conflict: IPPool(pool1)\n");
    s.ctl(&["delete", "ippool", "pool1", "nope"]).run().fails(1).stdout_is("Successfully deleted 1 'IPPool' resource(s)\n").stderr_is(&format!(
        "Failed to delete 'IPPool' resource: resource does not exist: IPPool(nope) with error: {}\n\n",
        s.not_found("ippools", "nope")
    ));
    s.ctl(&["get", "ippool", "pool1"])
        .run()
        .fails(1)
        .stderr_is(&format!(
            "resource does not exist: IPPool(pool1) with error: {}\n",
            s.not_found("ippools", "pool1")
        ));
}

fn namespaced_policies_and_labels(s: &Store) {
    let np = |name: &str, ns: &str| {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  selector: app == 'web'\n  ingress:\n  - action: Allow\n    protocol: TCP\n    destination:\n      ports: [80]\n"
        )
    };
    s.ensure_namespace("prod");
    s.apply(&format!("{}---\n{}", np("p1", "default"), np("p2", "prod")))
        .stdout_is("Successfully applied 2 'NetworkPolicy' resource(s)\n");
    s.ctl(&["get", "networkpolicy", "-A", "-o", "wide"]).run().ok().stdout_is(
        "NAMESPACE   NAME   TIER      ORDER   SELECTOR       \ndefault     p1     default   <nil>   app == 'web'   \nprod        p2     default   <nil>   app == 'web'   \n\n",
    );
    s.ctl(&["label", "networkpolicy", "p2", "-n", "prod", "owner=me"])
        .run()
        .ok()
        .stdout_is("Successfully set label owner on networkpolicy p2\n");
    let v: Value = serde_json::from_str(
        &s.ctl(&["get", "networkpolicy", "p2", "-n", "prod", "-o", "json"])
            .run()
            .stdout,
    )
    .unwrap();
    assert_eq!(v["metadata"]["labels"]["owner"], "me");
    assert_eq!(v["metadata"]["labels"]["projectcalico.org/tier"], "default");
    assert_eq!(v["spec"]["ingress"][0]["destination"]["ports"], json!([80]));
    s.ctl(&["delete", "networkpolicy", "p2", "-n", "prod"])
        .run()
        .ok();
    s.ctl(&["get", "networkpolicy", "-A"])
        .run()
        .ok()
        .stdout_is("NAMESPACE   NAME   TIER      \ndefault     p1     default   \n\n");
}

fn ipam_config_and_show(s: &Store) {
    s.apply(&pool("pool1", "10.10.0.0/16"));
    s.ctl(&[
        "ipam",
        "configure",
        "--strictaffinity=true",
        "--max-blocks-per-host=3",
    ])
    .run()
    .ok()
    .stdout_is(
        "Successfully set StrictAffinity to: true\nSuccessfully set MaxBlocksPerHost to: 3\n",
    );
    // calicoctl prints the KubeVirt setting as a Go pointer: the table is as wide as the
    // address, so compare the cells.
    let out = s.ctl(&["ipam", "show", "--show-configuration"]).run();
    out.ok();
    let cells: Vec<Vec<String>> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| l.split('|').map(|c| c.trim().to_string()).collect())
        .collect();
    assert_eq!(cells[1][1..3], ["StrictAffinity", "true"]);
    assert_eq!(cells[2][1..3], ["AutoAllocateBlocks", "true"]);
    assert_eq!(cells[3][1..3], ["MaxBlocksPerHost", "3"]);
    assert_eq!(cells[4][1], "KubeVirtVMAddressPersistence");
    assert!(
        cells[4][2].starts_with("(*ipam.VMAddressPersistence)(0x"),
        "{}",
        out.stdout
    );
    s.ctl(&["ipam", "show"]).run().ok().stdout_is(concat!(
        "+----------+--------------+-----------+------------+--------------+\n",
        "| GROUPING |     CIDR     | IPS TOTAL | IPS IN USE |   IPS FREE   |\n",
        "+----------+--------------+-----------+------------+--------------+\n",
        "| IP Pool  | 10.10.0.0/16 |     65536 | 0 (0%)     | 65536 (100%) |\n",
        "+----------+--------------+-----------+------------+--------------+\n",
    ));
}
