//! etcd → Kubernetes migration round trip: seed etcd, lock, export, import into a real
//! kube-apiserver with the Calico CRDs, unlock; compare objects and `ipam show`; an import
//! interrupted part-way finishes on re-run without duplicates.

use crate::harness::*;
use serde_json::{Value, json};

const SEED: &str = "apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pool-a
spec:
  cidr: 10.70.0.0/16
  blockSize: 28
  ipipMode: Always
  natOutgoing: true
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  nodeToNodeMeshEnabled: false
  asNumber: 64512
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: tor-1
spec:
  peerIP: 10.0.0.254
  asNumber: 64513
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: deny-all
spec:
  selector: all()
  types: [Ingress]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-web
  namespace: default
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
---
apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: worker-1
spec:
  bgp:
    ipv4Address: 10.0.0.11/24
  orchRefs:
  - nodeName: worker-1
    orchestrator: k8s
---
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata:
  name: default
spec:
  prometheusMetricsEnabled: true
  defaultEndpointToHostAction: Accept
---
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata:
  name: node.worker-1
spec:
  logSeverityScreen: Debug
";

fn seeded_export() -> (Env, String) {
    let env = Env::new();
    env.apply(SEED);
    for (i, ip) in ["10.70.0.1", "10.70.0.2", "10.70.0.17", "10.70.0.40"]
        .iter()
        .enumerate()
    {
        env.ctl(&[
            "ipam",
            "assign",
            "--ip",
            ip,
            "--handle",
            &format!("h{i}"),
            "--node",
            "worker-1",
            "--attr",
            "namespace=default",
            "--attr",
            &format!("pod=p{i}"),
        ])
        .run()
        .ok();
    }
    env.ctl(&["datastore", "migrate", "export"])
        .run()
        .fails(1)
        .stderr_has("datastore is not locked. Run the `calicoctl datastore migrate lock` command in order to begin migration");
    env.ctl(&["datastore", "migrate", "lock"])
        .run()
        .ok()
        .stdout_is("Datastore locked.\n");
    let out = env.ctl(&["datastore", "migrate", "export"]).run();
    out.ok();
    (env, out.stdout.clone())
}

fn kdd_with_node(mode: CrdMode) -> Option<Store> {
    let store = Store::kdd(mode)?;
    let Store::Kdd(k, ..) = &store else {
        unreachable!()
    };
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1"}});
    assert_eq!(k.curl("POST", "/api/v1/nodes", Some(&node)).0, 201);
    Some(store)
}

fn yaml_of(store: &Store, args: &[&str]) -> String {
    let mut a = args.to_vec();
    a.extend(["-o", "yaml"]);
    let out = store.ctl(&a).run();
    out.ok();
    out.stdout.clone()
}

#[test]
fn export_format_is_calicoctls() {
    let (_env, text) = seeded_export();
    let parts: Vec<&str> = text.split("===\n").collect();
    assert_eq!(parts.len(), 3, "{text}");
    assert!(parts[0].starts_with("apiVersion: projectcalico.org/v3\nitems:\n- apiVersion: projectcalico.org/v3\n  kind: IPPool\n"), "{}", parts[0]);
    assert!(parts[0].contains("kind: IPPoolList\n"));
    assert!(
        !parts[0].contains("uid:") && !parts[0].contains("creationTimestamp"),
        "metadata must be cleaned"
    );
    assert!(
        parts[0].contains("defaultEndpointToHostAction: Accept"),
        "iptables actions are title-cased"
    );
    assert!(parts[0].ends_with("---\n"));
    let ci: Value = serde_json::from_str(parts[1].trim()).unwrap();
    assert_eq!(ci["kind"], "ClusterInformation");
    assert_eq!(ci["spec"]["datastoreReady"], false);
    let ipam: Value = serde_json::from_str(parts[2].trim()).unwrap();
    assert_eq!(ipam["blocks"].as_array().unwrap().len(), 3);
    assert_eq!(ipam["handles"].as_array().unwrap().len(), 4);
    assert_eq!(ipam["block_affinities"].as_array().unwrap().len(), 3);
    let first = &ipam["blocks"][0];
    assert!(
        first["Key"]
            .as_str()
            .unwrap()
            .starts_with("/calico/ipam/v2/assignment/")
    );
    assert_eq!(first["TTL"], 0);
}

fn round_trip(mode: CrdMode) {
    let Some(store) = kdd_with_node(mode) else {
        return;
    };
    let (env, text) = seeded_export();
    let f = store.file("export.txt", &text);
    // calicoctl checks the lock before the datastore type: a fresh cluster has no
    // ClusterInformation yet.
    store
        .ctl(&["datastore", "migrate", "export"])
        .run()
        .fails(1)
        .stderr_has("error while checking if datastore was locked: error retrieving ClusterInformation: resource does not exist: ClusterInformation(default)");
    env.ctl(&["datastore", "migrate", "import", "-f", &f])
        .run()
        .fails(1)
        .stderr_has("invalid datastore type: etcdv3 to import to for datastore migration. Datastore type must be kubernetes");
    let out = store
        .ctl(&["datastore", "migrate", "import", "-f", &f])
        .run();
    out.ok().stdout_is(
        "Successfully applied 11 resource(s)\nImporting IPAM resources\nSuccessfully applied 10 IPAM resource(s)\nDatastore information successfully imported. Please refer to the datastore migration documentation for next steps.\n",
    );
    // Still locked until unlocked, like calicoctl.
    let ci = yaml_of(&store, &["get", "clusterinformation", "default"]);
    assert!(ci.contains("datastoreReady: false"), "{ci}");
    store
        .ctl(&["datastore", "migrate", "unlock"])
        .run()
        .ok()
        .stdout_is("Datastore unlocked.\n");
    // Every object is there with the right shape.
    for (args, want) in [
        (vec!["get", "ippool", "pool-a"], "cidr: 10.70.0.0/16"),
        (
            vec!["get", "bgpconfiguration", "default"],
            "nodeToNodeMeshEnabled: false",
        ),
        (vec!["get", "bgppeer", "tor-1"], "peerIP: 10.0.0.254"),
        (
            vec!["get", "globalnetworkpolicy", "deny-all"],
            "selector: all()",
        ),
        (
            vec!["get", "networkpolicy", "allow-web", "-n", "default"],
            "selector: app == 'web'",
        ),
        (
            vec!["get", "felixconfiguration", "default"],
            "defaultEndpointToHostAction: Accept",
        ),
        (
            vec!["get", "felixconfiguration", "node.worker-1"],
            "logSeverityScreen: Debug",
        ),
        (vec!["get", "node", "worker-1"], "ipv4Address: 10.0.0.11/24"),
    ] {
        let y = yaml_of(&store, &args);
        assert!(y.contains(want), "{args:?}: {y}");
    }
    // Same IPAM numbers on both sides.
    for args in [
        vec!["ipam", "show", "--show-blocks"],
        vec!["ipam", "show", "--ip=10.70.0.17"],
    ] {
        let a = env.ctl(&args).run();
        let b = store.ctl(&args).run();
        a.ok();
        b.ok();
        assert_eq!(a.stdout, b.stdout, "{args:?}");
    }
    // A second import into a populated datastore is refused.
    store
        .ctl(&["datastore", "migrate", "import", "-f", &f])
        .run()
        .fails(1)
        .stderr_has(
            "datastore already has Calico resources: found existing Calico IPPool resource",
        );
}

#[test]
fn round_trip_into_kdd_v1() {
    round_trip(CrdMode::V1);
}

#[test]
fn round_trip_into_kdd_v3() {
    round_trip(CrdMode::V3);
}

#[test]
fn interrupted_import_finishes_on_rerun() {
    let Some(store) = kdd_with_node(CrdMode::V1) else {
        return;
    };
    let (env, text) = seeded_export();
    let f = store.file("export.txt", &text);
    for stop in ["3", "12"] {
        store
            .ctl(&[
                "datastore",
                "migrate",
                "import",
                "-f",
                &f,
                "--stop-after-steps",
                stop,
            ])
            .run()
            .fails(1)
            .stderr_has("datastore import stopped by --stop-after-steps");
    }
    store
        .ctl(&["datastore", "migrate", "import", "-f", &f])
        .run()
        .ok()
        .stdout_has("Successfully applied 10 IPAM resource(s)");
    let pools = store.ctl(&["get", "ippools", "-o", "name"]).run();
    pools.ok().stdout_is("ippool.projectcalico.org/pool-a\n");
    let a = env.ctl(&["ipam", "show", "--show-blocks"]).run();
    let b = store.ctl(&["ipam", "show", "--show-blocks"]).run();
    assert_eq!(a.stdout, b.stdout);
    // A different file is not a resume: the populated datastore is refused.
    let g = store.file("other.txt", &text.replace("pool-a", "pool-b"));
    store
        .ctl(&["datastore", "migrate", "import", "-f", &g])
        .run()
        .fails(1)
        .stderr_has("datastore already has Calico resources");
}

#[test]
fn malformed_file_is_refused_before_any_write() {
    let Some(store) = kdd_with_node(CrdMode::V1) else {
        return;
    };
    let f = store.file(
        "bad.txt",
        "apiVersion: projectcalico.org/v3\nkind: IPPoolList\nitems: []\n---\n",
    );
    store
        .ctl(&["datastore", "migrate", "import", "-f", &f])
        .run()
        .fails(1)
        .stderr_is(&format!("error while reading migration file: imported file: {f} is improperly formatted. Try recreating with 'calicoctl export'\n"));
    store
        .ctl(&["get", "ippools", "-o", "name"])
        .run()
        .ok()
        .stdout_is("");
}
