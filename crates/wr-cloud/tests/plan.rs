//! `wr-cloud cloud plan` through the binary: the cloud scheduler's decisions for a described
//! cloud and queue (fixtures/wr/cloud-plan.json), and bad descriptions named.

use serde_json::{json, Value};
use std::process::{Command, Output};
use testkit::{fixtures, ok};

fn plan(args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wr-cloud"));
    c.args(["cloud", "plan"]).args(args);
    match stdin {
        None => c.output().unwrap(),
        Some(text) => {
            use std::io::Write;
            let mut child = c
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        }
    }
}

/// Priority first (the 2-core group gets m1.large servers, one job each, as far as the RAM quota
/// allows), then size; room on the servers there are before any spawn (the bad one takes
/// nothing); max_spawns caps the spawns in flight; a 16-core job fits no flavor.
#[test]
fn the_plan_for_the_fixture_cloud() {
    let file = fixtures().join("wr/cloud-plan.json");
    let out: Value = serde_json::from_str(&ok(plan(&[file.to_str().unwrap()], None))).unwrap();
    assert_eq!(
        out,
        json!({
            "starts": [
                {"group": 0, "server": "localhost", "runners": 1},
                {"group": 0, "server": "wr-production-a1", "runners": 2}
            ],
            "spawns": [
                {"group": 1, "flavor": "m1.large", "servers": 2, "per_server": 1},
                {"group": 0, "flavor": "m1.small", "servers": 2, "per_server": 1}
            ],
            "refused": [
                {"group": 0, "reason": "5 more servers wanted than quota and limits allow now"},
                {"group": 3, "reason": "4 spawns in flight, the most max_spawns allows"}
            ],
            "impossible": [
                {"group": 2, "reason": "no flavor matching ^m1\\. has 16 vCPUs and 2048 MB"}
            ]
        })
    );
    // The same description on stdin.
    let text = std::fs::read_to_string(&file).unwrap();
    let again: Value = serde_json::from_str(&ok(plan(&[], Some(&text)))).unwrap();
    assert_eq!(again, out);
}

#[test]
fn bad_descriptions_are_named() {
    let base = json!({
        "flavors": [{"id": "1", "name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20}],
        "groups": [{"memory": 100, "count": 1}]
    });
    let fails = |v: &Value| {
        let out = plan(&[], Some(&v.to_string()));
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let mut typo = base.clone();
    typo["limits"] = json!({"max_spawn": 3});
    assert!(fails(&typo).contains("unknown field `max_spawn`"));
    let mut server = base.clone();
    server["servers"] = json!([{"name": "s", "flavor": "m9"}]);
    let e = fails(&server);
    assert!(
        e.contains("server s: flavor m9 is not among the flavors (m1.small)"),
        "{e}"
    );
    let mut pattern = base.clone();
    pattern["limits"] = json!({"flavor": "("});
    assert!(fails(&pattern).contains("does not parse"));
    assert!(fails(&json!({"flavors": [], "groups": []})).contains("no flavor"));
    assert!(fails(&json!([])).contains("not a cloud plan input"));
}
