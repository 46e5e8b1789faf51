//! create/apply/replace/delete/get/patch/label/validate against a real etcd, asserting the
//! messages, exit codes and the exact etcd keys and values (read back with etcdctl).

use crate::harness::*;
use serde_json::{Value, json};

const POOL_KEY: &str = "/calico/resources/v3/projectcalico.org/ippools/pool1";

fn pool(name: &str, cidr: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: {name}\nspec:\n  cidr: {cidr}\n  natOutgoing: true\n"
    )
}

/// Replaces the generated uid and creationTimestamp in a raw etcd value, checking their form.
fn scrub_raw(raw: &str) -> String {
    let uid = regex::Regex::new(
        r#""uid":"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})""#,
    )
    .unwrap();
    let ts = regex::Regex::new(r#""creationTimestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ""#).unwrap();
    assert!(uid.is_match(raw), "no v4 uid in {raw}");
    assert!(ts.is_match(raw), "no RFC 3339 creationTimestamp in {raw}");
    let s = uid.replace(raw, r#""uid":"UID""#);
    ts.replace(&s, r#""creationTimestamp":"TIME""#).to_string()
}

#[test]
fn create_writes_calicoctls_exact_value() {
    let env = Env::new();
    let f = env.file("p.yaml", &pool("pool1", "10.10.0.0/16"));
    env.ctl(&["create", "-f", &f])
        .run()
        .ok()
        .stdout_is("Successfully created 1 'IPPool' resource(s)\n");
    let raw = env.etcd.get(POOL_KEY).expect("pool key");
    assert_eq!(
        scrub_raw(&raw),
        r#"{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"pool1","uid":"UID","creationTimestamp":"TIME"},"spec":{"cidr":"10.10.0.0/16","vxlanMode":"Never","ipipMode":"Never","natOutgoing":true,"blockSize":26,"nodeSelector":"all()","allowedUses":["Workload","Tunnel"],"assignmentMode":"Automatic"}}"#
    );
    // EnsureInitialized: ClusterInformation and the default tiers appear.
    let ci = env
        .etcd
        .get_json("/calico/resources/v3/projectcalico.org/clusterinformations/default");
    let guid = ci["spec"]["clusterGUID"].as_str().unwrap();
    assert_eq!(guid.len(), 32);
    assert!(
        guid.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(ci["spec"]["datastoreReady"], json!(true));
    for t in ["default", "kube-admin", "kube-baseline"] {
        assert!(
            env.etcd
                .get(&format!("/calico/resources/v3/projectcalico.org/tiers/{t}"))
                .is_some(),
            "tier {t}"
        );
    }
    let tier = env
        .etcd
        .get("/calico/resources/v3/projectcalico.org/tiers/default")
        .unwrap();
    assert_eq!(
        scrub_raw(&tier),
        r#"{"kind":"Tier","apiVersion":"projectcalico.org/v3","metadata":{"name":"default","uid":"UID","creationTimestamp":"TIME"},"spec":{"order":1000000,"defaultAction":"Deny"},"status":{}}"#
    );
}

#[test]
fn create_existing_fails_and_skip_exists_succeeds() {
    let env = Env::new();
    let f = env.file("p.yaml", &pool("pool1", "10.10.0.0/16"));
    env.ctl(&["create", "-f", &f]).run().ok();
    env.ctl(&["create", "-f", &f])
        .run()
        .fails(1)
        .stdout_is("")
        .stderr_is("failed to create 'IPPool' resource: [resource already exists: IPPool(pool1) with error: <nil>]\n");
    env.ctl(&["create", "--skip-exists", "-f", &f])
        .run()
        .ok()
        .stdout_is("Successfully created 1 'IPPool' resource(s)\n");
}

#[test]
fn create_partial_success_messages() {
    let env = Env::new();
    env.apply(&pool("a", "10.1.0.0/16"));
    // Three pools: one exists → 2 of 3 succeed (successes outnumber failures).
    let f = env.file(
        "three.yaml",
        &format!(
            "{}---\n{}---\n{}",
            pool("a", "10.1.0.0/16"),
            pool("b", "10.2.0.0/16"),
            pool("c", "10.3.0.0/16")
        ),
    );
    env.ctl(&["create", "-f", &f])
        .run()
        .fails(1)
        .stdout_is("Partial success: created the first 2 out of 3 'IPPool' resources:\n")
        .stderr_is("hit error: [resource already exists: IPPool(a) with error: <nil>]\n");
    // All fail, more than one.
    env.ctl(&["create", "-f", &f])
        .run()
        .fails(1)
        .stderr_is("failed to create any 'IPPool' resources: [resource already exists: IPPool(a) with error: <nil> resource already exists: IPPool(b) with error: <nil> resource already exists: IPPool(c) with error: <nil>]\n");
}

#[test]
fn apply_creates_then_updates_keeping_identity() {
    let env = Env::new();
    env.apply(&pool("pool1", "10.10.0.0/16"))
        .stdout_is("Successfully applied 1 'IPPool' resource(s)\n");
    let before = env.etcd.get_json(POOL_KEY);
    let f = env.file(
        "p2.yaml",
        &pool("pool1", "10.10.0.0/16")
            .replace("natOutgoing: true", "natOutgoing: false\n  disabled: true"),
    );
    env.ctl(&["apply", "-f", &f])
        .run()
        .ok()
        .stdout_is("Successfully applied 1 'IPPool' resource(s)\n");
    let after = env.etcd.get_json(POOL_KEY);
    assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(
        after["metadata"]["creationTimestamp"],
        before["metadata"]["creationTimestamp"]
    );
    assert_eq!(after["spec"]["disabled"], json!(true));
    assert!(after["spec"].get("natOutgoing").is_none());
    assert!(
        after["metadata"].get("resourceVersion").is_none(),
        "resourceVersion is never stored"
    );
}

#[test]
fn replace_missing_reports_partial_success_quirk() {
    let env = Env::new();
    let f = env.file("p.yaml", &pool("nope", "10.10.0.0/16"));
    env.ctl(&["replace", "-f", &f])
        .run()
        .fails(1)
        .stdout_is("Partial success: replaced the first 1 out of 1 'IPPool' resources:\n")
        .stderr_is("hit error: resource does not exist: IPPool(nope) with error: <nil>\n");
}

#[test]
fn replace_with_stale_resource_version_conflicts() {
    let env = Env::new();
    env.apply(&pool("pool1", "10.10.0.0/16"));
    let f = env.file(
        "p.yaml",
        &pool("pool1", "10.10.0.0/16").replace(
            "  name: pool1\n",
            "  name: pool1\n  resourceVersion: \"1\"\n",
        ),
    );
    env.ctl(&["replace", "-f", &f])
        .run()
        .fails(1)
        .stderr_is("hit error: update conflict: IPPool(pool1)\n");
    // The current revision replaces fine.
    let rv = env.ctl(&["get", "ippool", "pool1", "-o", "json"]).run();
    let v: Value = serde_json::from_str(&rv.stdout).unwrap();
    let cur = v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let f = env.file(
        "p.yaml",
        &pool("pool1", "10.10.0.0/16").replace(
            "  name: pool1\n",
            &format!("  name: pool1\n  resourceVersion: \"{cur}\"\n"),
        ),
    );
    env.ctl(&["replace", "-f", &f])
        .run()
        .ok()
        .stdout_is("Successfully replaced 1 'IPPool' resource(s)\n");
}

#[test]
fn delete_by_name_with_missing_one() {
    let env = Env::new();
    env.apply(&format!(
        "{}---\n{}",
        pool("a", "10.1.0.0/16"),
        pool("b", "10.2.0.0/16")
    ));
    env.ctl(&["delete", "ippool", "a", "blah", "b"])
        .run()
        .fails(1)
        .stdout_is("Successfully deleted 2 'IPPool' resource(s)\n")
        .stderr_is("Failed to delete 'IPPool' resource: resource does not exist: IPPool(blah) with error: <nil>\n\n");
    assert!(
        env.etcd
            .keys("/calico/resources/v3/projectcalico.org/ippools/")
            .is_empty()
    );
    env.ctl(&["delete", "ippool", "blah", "--skip-not-exists"])
        .run()
        .ok()
        .stdout_is("Successfully deleted 1 'IPPool' resource(s)\n");
    env.ctl(&["delete", "ippool", ""])
        .run()
        .fails(1)
        .stderr_is("resource name may not be empty\n");
}

#[test]
fn get_missing_names_are_listed_without_prefix() {
    let env = Env::new();
    env.apply(&pool("a", "10.1.0.0/16"));
    let out = env.ctl(&["get", "ippool", "a", "blah", "-o", "yaml"]).run();
    out.fails(1)
        .stderr_is("resource does not exist: IPPool(blah) with error: <nil>\n");
    // Only `a` exists: printed alone, not as a one-element sequence.
    assert!(
        out.stdout
            .starts_with("apiVersion: projectcalico.org/v3\nkind: IPPool\n"),
        "{}",
        out.stdout
    );
    let none = env.ctl(&["get", "ippool", "x", "-o", "json"]).run();
    none.fails(1).stdout_is("null");
}

#[test]
fn get_table_formats() {
    let env = Env::new();
    env.apply(&pool("pool1", "10.10.0.0/16"));
    env.ctl(&["get", "ippools"])
        .run()
        .ok()
        .stdout_is("NAME    CIDR           SELECTOR   \npool1   10.10.0.0/16   all()      \n\n");
    env.ctl(&["get", "ippools", "-o", "wide"]).run().ok().stdout_is(concat!(
        "NAME    CIDR           NAT    IPIPMODE   VXLANMODE   DISABLED   DISABLEBGPEXPORT   SELECTOR   ASSIGNMENTMODE   \n",
        "pool1   10.10.0.0/16   true   Never      Never       false      false              all()      Automatic        \n\n"
    ));
    env.ctl(&["get", "ippools", "-o", "custom-columns=CIDR,NAME"])
        .run()
        .ok()
        .stdout_is("CIDR           NAME    \n10.10.0.0/16   pool1   \n\n");
    env.ctl(&["get", "ippools", "-o", "custom-columns=CIDR,BOGUS"])
        .run()
        .fails(1)
        .stderr_has("unknown heading BOGUS, valid values are: ");
    env.ctl(&["get", "ippool", "pool1", "--no-headers"])
        .run()
        .ok()
        .stdout_is("pool1   10.10.0.0/16   all()   \n\n");
    env.ctl(&["get", "ippools", "-o", "name"])
        .run()
        .ok()
        .stdout_is("ippool.projectcalico.org/pool1\n");
    env.ctl(&["get", "ippool", "-o", "bogus"])
        .run()
        .fails(1)
        .stderr_is("unrecognized output format 'bogus'\n");
    env.ctl(&["get", "ippools", "-n", "x"])
        .run()
        .fails(1)
        .stdout_is("")
        .stderr_is("IPPool is not namespaced\n");
    env.ctl(&["get", "ippools", "a", "-o", "custom-columns="])
        .run()
        .fails(1)
        .stderr_is("need to specify at least one column\n");
}

#[test]
fn empty_list_yaml_and_table() {
    let env = Env::new();
    let out = env.ctl(&["get", "bgppeers", "-o", "yaml"]).run();
    out.ok();
    let re = regex::Regex::new(r#"^apiVersion: projectcalico.org/v3\nitems: \[\]\nkind: BGPPeerList\nmetadata:\n  resourceVersion: "\d+"\n$"#).unwrap();
    assert!(re.is_match(&out.stdout), "{}", out.stdout);
    env.ctl(&["get", "bgppeers"])
        .run()
        .ok()
        .stdout_is("NAME   PEERIP   NODE   ASN   \n\n");
}

#[test]
fn namespaced_kinds() {
    let env = Env::new();
    let np = |name: &str, ns: Option<&str>| {
        let ns_line = ns
            .map(|n| format!("  namespace: {n}\n"))
            .unwrap_or_default();
        format!(
            "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n{ns_line}spec:\n  selector: app == 'web'\n  ingress:\n  - action: Allow\n"
        )
    };
    env.apply(&np("p1", None));
    env.apply(&np("p2", Some("prod")));
    let raw = env
        .etcd
        .get("/calico/resources/v3/projectcalico.org/networkpolicies/default/p1")
        .expect("default ns");
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        v["metadata"]["annotations"]["projectcalico.org/metadata"],
        json!("{\"name\":\"p1\"}")
    );
    assert_eq!(
        v["metadata"]["labels"]["projectcalico.org/tier"],
        json!("default")
    );
    assert_eq!(v["spec"]["types"], json!(["Ingress"]));
    assert!(
        env.etcd
            .get("/calico/resources/v3/projectcalico.org/networkpolicies/prod/p2")
            .is_some()
    );
    env.ctl(&["get", "networkpolicy"])
        .run()
        .ok()
        .stdout_is("NAME   TIER      \np1     default   \n\n");
    env.ctl(&["get", "networkpolicy", "-A"]).run().ok().stdout_is(
        "NAMESPACE   NAME   TIER      \ndefault     p1     default   \nprod        p2     default   \n\n",
    );
    env.ctl(&["get", "policy", "-n", "prod", "-o", "wide"]).run().ok().stdout_is(
        "NAMESPACE   NAME   TIER      ORDER   SELECTOR       \nprod        p2     default   <nil>   app == 'web'   \n\n",
    );
    env.ctl(&["get", "policy", "p2", "-A"])
        .run()
        .fails(1)
        .stderr_is("cannot use --all-namespace flag for getting a single resource\n");
    // The policy-name annotation is consumed on read.
    let y = env.ctl(&["get", "networkpolicy", "p1", "-o", "yaml"]).run();
    y.ok();
    assert!(
        !y.stdout.contains("projectcalico.org/metadata"),
        "{}",
        y.stdout
    );
    // Namespace mismatch between file and flag.
    let f = env.file("np.yaml", &np("p3", Some("prod")));
    env.ctl(&["apply", "-f", &f, "-n", "dev"]).run().fails(1).stderr_is(
        "failed to apply 'NetworkPolicy' resource: [resource namespace does not match client namespace. prod != dev]\n",
    );
    let pf = env.file(
        "pool.yaml",
        &pool("x", "10.9.0.0/16").replace("  name: x\n", "  name: x\n  namespace: foo\n"),
    );
    env.ctl(&["create", "-f", &pf]).run().fails(1).stderr_is(
        "failed to create 'IPPool' resource: [namespace should not be specified for a non-namespaced resource. IPPool is not a namespaced resource]\n",
    );
}

#[test]
fn label_set_update_remove() {
    let env = Env::new();
    env.apply(&pool("pool1", "10.10.0.0/16"));
    env.ctl(&["label", "ippools", "pool1", "rack=r1"])
        .run()
        .ok()
        .stdout_is("Successfully set label rack on ippools pool1\n");
    env.ctl(&["label", "ippools", "pool1", "rack=r2"]).run().fails(1).stderr_is(
        "failed to update label of ippools pool1, key rack is already present. please use '--overwrite' to set a new value\n",
    );
    env.ctl(&["label", "ippools", "pool1", "rack=r2", "--overwrite"])
        .run()
        .ok()
        .stdout_is("Successfully updated label rack on ippools pool1\n");
    assert_eq!(
        env.etcd.get_json(POOL_KEY)["metadata"]["labels"],
        json!({"rack": "r2"})
    );
    env.ctl(&["label", "ippools", "pool1", "rack", "--remove"])
        .run()
        .ok()
        .stdout_is("Successfully removed label rack from ippools pool1\n");
    env.ctl(&["label", "ippools", "pool1", "rack", "--remove"])
        .run()
        .fails(1)
        .stderr_is("cannot remove label of ippools pool1, key rack does not exist\n");
    env.ctl(&["label", "ippools", "nope", "a=b"])
        .run()
        .fails(1)
        .stderr_is("ippools nope not found\n");
    env.ctl(&["label", "ippools", "pool1", "a=b=c"])
        .run()
        .fails(1)
        .stderr_is("invalid label a=b=c\n");
}

#[test]
fn patch_merges_and_validates() {
    let env = Env::new();
    env.apply(&pool("pool1", "10.10.0.0/16"));
    env.ctl(&[
        "patch",
        "ippool",
        "pool1",
        "-p",
        r#"{"spec":{"disabled":true,"natOutgoing":null}}"#,
    ])
    .run()
    .ok()
    .stdout_is("Successfully patched 1 'IPPool' resource\n");
    let v = env.etcd.get_json(POOL_KEY);
    assert_eq!(v["spec"]["disabled"], json!(true));
    assert!(v["spec"].get("natOutgoing").is_none());
    env.ctl(&["patch", "ippool", "pool1", "-p", r#"{"spec":{"bogus":1}}"#])
        .run()
        .fails(1)
        .stderr_is("field in document is not recognized or is in the wrong location: bogus\n");
    env.ctl(&["patch", "ippool", "nope", "-p", "{}"])
        .run()
        .fails(1)
        .stderr_is("hit error: resource does not exist: IPPool(nope) with error: <nil>\n");
    env.ctl(&["patch", "ippool", "pool1", "-p", "[]"])
        .run()
        .fails(1)
        .stderr_has("hit error: performing strategic merge patch: ");
}

#[test]
fn validate_is_offline() {
    let dir = tempdir();
    let f = dir.path().join("p.yaml");
    std::fs::write(&f, pool("pool1", "10.10.0.0/16")).unwrap();
    // No config, no datastore: still works.
    calicoctl(&["validate", "-f", f.to_str().unwrap()])
        .run()
        .ok()
        .stdout_is("Successfully validated 1 'IPPool' resource(s)\n");
    std::fs::write(&f, pool("pool1", "10.0.250.0/32")).unwrap();
    calicoctl(&["validate", "-f", f.to_str().unwrap()]).run().fails(1).stderr_is(
        "failed to validate 'IPPool' resource: [error with field IPpool.CIDR = '10.0.250.0/32' (IP pool size is too small for use with Calico IPAM. It must be equal to or greater than the block size.)]\n",
    );
}

#[test]
fn skip_empty_and_empty_inputs() {
    let env = Env::new();
    // A document of only a comment is a resource without kind, as calicoctl reads it.
    let f = env.file("comment.yaml", "# nothing\n---\n");
    env.ctl(&["create", "-f", &f])
        .run()
        .fails(1)
        .stderr_is("failed to execute command: unknown resource type () and/or version ()\n");
    let f = env.file("empty.yaml", "");
    env.ctl(&["create", "-f", &f])
        .run()
        .fails(1)
        .stderr_is(&format!("no resources specified in file {f}\n"));
    env.ctl(&["create", "-f", &f, "--skip-empty"])
        .run()
        .ok()
        .stdout_is("No resources specified\n");
    let d = env.dir.path().join("emptydir");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("notes.txt"), "ignored").unwrap();
    let ds = d.to_string_lossy().to_string();
    env.ctl(&["apply", "-f", &ds])
        .run()
        .fails(1)
        .stderr_is(&format!("no resources specified in directory {ds}\n"));
    env.ctl(&["create", "-f", "-"])
        .stdin("")
        .run()
        .fails(1)
        .stderr_is("no resources specified in file -\n");
}

#[test]
fn directory_input_with_and_without_recursion() {
    let env = Env::new();
    env.file("manifests/a.yaml", &pool("a", "10.1.0.0/16"));
    env.file("manifests/b.JSON", r#"{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"b"},"spec":{"cidr":"10.2.0.0/16"}}"#);
    env.file("manifests/skip.txt", "not yaml");
    env.file("manifests/sub/c.yml", &pool("c", "10.3.0.0/16"));
    let d = env
        .dir
        .path()
        .join("manifests")
        .to_string_lossy()
        .to_string();
    env.ctl(&["create", "-f", &d])
        .run()
        .ok()
        .stdout_is("Successfully created 2 'IPPool' resource(s)\n");
    env.ctl(&["create", "-f", &d, "-R", "--skip-exists"])
        .run()
        .ok()
        .stdout_is("Successfully created 3 'IPPool' resource(s)\n");
    assert!(
        env.etcd
            .get("/calico/resources/v3/projectcalico.org/ippools/c")
            .is_some()
    );
}

#[test]
fn mixed_kinds_and_stdin() {
    let env = Env::new();
    let manifest = format!(
        "{}---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: rack1-tor\nspec:\n  peerIP: 192.168.1.1\n  asNumber: 64512\n  nodeSelector: rack == 'r1'\n",
        pool("pool1", "10.10.0.0/16")
    );
    env.ctl(&["apply", "-f", "-"])
        .stdin(&manifest)
        .run()
        .ok()
        .stdout_is("Successfully applied 2 resource(s)\n");
    let raw = env
        .etcd
        .get("/calico/resources/v3/projectcalico.org/bgppeers/rack1-tor")
        .unwrap();
    assert_eq!(
        scrub_raw(&raw),
        r#"{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{"name":"rack1-tor","uid":"UID","creationTimestamp":"TIME"},"spec":{"nodeSelector":"rack == 'r1'","peerIP":"192.168.1.1","asNumber":64512}}"#
    );
    env.ctl(&["get", "bgppeers"]).run().ok().stdout_is(
        "NAME        PEERIP        NODE           ASN     \nrack1-tor   192.168.1.1   rack == 'r1'   64512   \n\n",
    );
}

#[test]
fn clusterinformation_is_read_only() {
    let env = Env::new();
    let ci = "apiVersion: projectcalico.org/v3\nkind: ClusterInformation\nmetadata:\n  name: default\nspec: {}\n";
    let f = env.file("ci.yaml", ci);
    env.ctl(&["create", "-f", &f]).run().fails(1).stderr_is("failed to create 'ClusterInformation' resource: [operation create or apply is not supported on ClusterInformation]\n");
    env.ctl(&["apply", "-f", &f]).run().fails(1).stderr_is("failed to apply 'ClusterInformation' resource: [operation apply is not supported on ClusterInformation: resource is readonly]\n");
    env.ctl(&["replace", "-f", &f]).run().fails(1).stderr_is(
        "hit error: operation apply or replace is not supported on ClusterInformation\n",
    );
    env.ctl(&["delete", "clusterinfo", "default"]).run().fails(1).stderr_is("Failed to delete 'ClusterInformation' resource: operation delete is not supported on ClusterInformation\n\n");
}

#[test]
fn default_allow_profile_is_synthesised() {
    let env = Env::new();
    let out = env.ctl(&["get", "profiles"]).run();
    out.ok()
        .stdout_is("NAME                          \nprojectcalico-default-allow   \n\n");
    assert!(
        env.etcd
            .keys("/calico/resources/v3/projectcalico.org/profiles")
            .is_empty()
    );
    let y = env
        .ctl(&[
            "get",
            "profile",
            "projectcalico-default-allow",
            "-o",
            "yaml",
        ])
        .run();
    y.ok().stdout_is(concat!(
        "apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata:\n  name: projectcalico-default-allow\n  resourceVersion: \"1\"\n",
        "spec:\n  egress:\n  - action: Allow\n  ingress:\n  - action: Allow\n"
    ));
}

#[test]
fn version_mismatch_check() {
    let env = Env::new();
    env.etcd.put(
        "/calico/resources/v3/projectcalico.org/clusterinformations/default",
        r#"{"kind":"ClusterInformation","apiVersion":"projectcalico.org/v3","metadata":{"name":"default","uid":"b1","creationTimestamp":"2025-06-01T09:59:31Z"},"spec":{"clusterGUID":"0d6f3c2a9b8e4f11a2b3c4d5e6f70819","clusterType":"k8s,bgp","calicoVersion":"v3.31.0","datastoreReady":true}}"#,
    );
    let msg = "version mismatch.\nClient Version:   v3.32.1\nCluster Version:  3.31.0\nUse --allow-version-mismatch to override\n";
    env.ctl(&["get", "ippools"])
        .run()
        .fails(1)
        .stderr_is(&format!("failed to get resources: {msg}"));
    let f = env.file("p.yaml", &pool("a", "10.1.0.0/16"));
    env.ctl(&["create", "-f", &f]).run().fails(1).stderr_is(msg);
    env.ctl(&["label", "ippool", "a", "x=y"])
        .run()
        .fails(1)
        .stderr_is(&format!("failed to get ippool a, error {msg}"));
    env.ctl(&["--allow-version-mismatch", "get", "ippools"])
        .run()
        .ok();
    env.ctl(&["get", "ippools", "--allow-version-mismatch"])
        .run()
        .ok();
    // A matching version with a different suffix passes.
    env.etcd.put(
        "/calico/resources/v3/projectcalico.org/clusterinformations/default",
        r#"{"kind":"ClusterInformation","apiVersion":"projectcalico.org/v3","metadata":{"name":"default"},"spec":{"calicoVersion":"3.32.1-0.dev-12-gabc","clusterType":"k8s,bgp,kubeadm","datastoreReady":true}}"#,
    );
    env.ctl(&["get", "ippools"]).run().ok();
    let v = env.ctl(&["version"]).run();
    v.ok();
    assert!(
        v.stdout.ends_with(
            "Cluster Version:   3.32.1-0.dev-12-gabc\nCluster Type:      k8s,bgp,kubeadm\n"
        ),
        "{}",
        v.stdout
    );
}

#[test]
fn diff_and_dry_run_exit_codes() {
    let env = Env::new();
    let f = env.file("p.yaml", &pool("pool1", "10.10.0.0/16"));
    let out = env.ctl(&["diff", "-f", &f]).run();
    out.fails(1);
    assert!(
        out.stdout
            .contains("+++ merged/ippool.projectcalico.org/pool1"),
        "{}",
        out.stdout
    );
    env.ctl(&["apply", "--dry-run", "-f", &f])
        .run()
        .fails(1)
        .stdout_is("ippool.projectcalico.org/pool1 created (dry run)\n");
    assert!(env.etcd.get(POOL_KEY).is_none(), "dry run wrote nothing");
    env.apply(&pool("pool1", "10.10.0.0/16"));
    env.ctl(&["diff", "-f", &f]).run().ok().stdout_is("");
    env.ctl(&["apply", "--dry-run", "-f", &f])
        .run()
        .ok()
        .stdout_is("ippool.projectcalico.org/pool1 unchanged (dry run)\n");
    let f2 = env.file(
        "p2.yaml",
        &pool("pool1", "10.10.0.0/16").replace("natOutgoing: true", "natOutgoing: false"),
    );
    let d = env.ctl(&["diff", "-f", &f2]).run();
    d.fails(1);
    assert!(d.stdout.contains("-  natOutgoing: true"), "{}", d.stdout);
    env.ctl(&["apply", "--dry-run", "-f", &f2])
        .run()
        .fails(1)
        .stdout_is("ippool.projectcalico.org/pool1 configured (dry run)\n");
    let bad = env.file("bad.yaml", &pool("pool2", "10.0.250.0/32"));
    env.ctl(&["diff", "-f", &bad]).run().fails(2);
}

/// A large apply goes through batched creates on etcd; what it writes and prints must be what
/// applying the same resources one by one writes and prints.
#[test]
fn batched_apply_matches_one_at_a_time() {
    let gns = |i: usize, label: &str, net: &str| {
        format!(
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: set-{i:02}\n  labels: {{v: {label}}}\nspec:\n  nets: [{net}]\n---\n"
        )
    };
    let mut big = String::new();
    for i in 0..20 {
        let net = if i == 7 {
            "not-a-cidr".to_string()
        } else {
            format!("10.{i}.0.0/16")
        };
        big += &gns(i, "new", &net);
    }
    let existing = gns(3, "old", "10.3.0.0/16") + &gns(11, "old", "10.11.0.0/16");
    let batched = Env::new();
    let single = Env::new();
    for e in [&batched, &single] {
        e.apply(&existing);
    }
    let f = batched.file("big.yaml", &big);
    let out = batched.ctl(&["apply", "-f", &f]).run();
    // One at a time in the other datastore.
    let mut singles = Vec::new();
    for doc in big.split("---\n").filter(|d| !d.trim().is_empty()) {
        let f = single.file("one.yaml", doc);
        singles.push(single.ctl(&["apply", "-f", &f]).run());
    }
    out.fails(1).stdout_is(
        "Partial success: applied the first 19 out of 20 'GlobalNetworkSet' resources:\n",
    );
    let bad = &singles[7];
    bad.fails(1);
    let reason = bad
        .stderr
        .trim_end()
        .rsplit("resource: ")
        .next()
        .unwrap()
        .to_string();
    assert!(
        out.stderr.contains(&reason),
        "{}\nvs\n{}",
        out.stderr,
        bad.stderr
    );
    // Same keys, same values (uid and creationTimestamp differ per datastore by nature).
    let scrub =
        |m: std::collections::BTreeMap<String, String>| -> Vec<(String, serde_json::Value)> {
            m.into_iter()
                .filter(|(k, _)| k.contains("/globalnetworksets/"))
                .map(|(k, v)| {
                    let mut j: serde_json::Value = serde_json::from_str(&v).unwrap();
                    j["metadata"]["uid"] = "U".into();
                    j["metadata"]["creationTimestamp"] = "T".into();
                    (k, j)
                })
                .collect()
        };
    assert_eq!(scrub(batched.etcd.dump()), scrub(single.etcd.dump()));
    let b = batched
        .etcd
        .get_json("/calico/resources/v3/projectcalico.org/globalnetworksets/set-03");
    assert_eq!(
        b["metadata"]["labels"]["v"], "new",
        "existing objects are updated"
    );
}
