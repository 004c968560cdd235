//! setup-service on the Chronos backend, against the project's test Chronos
//! (testkit::chronos): the jobs go out as PaaSTA sends them (a golden body, its description
//! checked with Python's own json.dumps), parents first; a second pass sends nothing; a config
//! change or a stop re-sends one job; --dry-run --show-definitions prints the requests and sends
//! none; --all deletes jobs no longer configured and old temporary jobs; Chronos down or without
//! a leader is exit 2 with nothing sent; a refused job is exit 1, named.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use testkit::chronos::FakeChronos;

/// 2026-11-20T12:00:00Z: the time commands are interpolated at.
const NOW: &str = "2026-11-20T12:00:00Z";

struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        testkit::chronos::soa_tree(dir.path());
        Tree { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, backend: &str, args: &[&str]) -> (Output, Vec<Value>) {
        let out = Command::new(env!("CARGO_BIN_EXE_setup-service"))
            .arg("-d")
            .arg(self.path().join("soa"))
            .args(["--backend", backend, "--now", NOW])
            .args(args)
            .env("PAASTA_SYSTEM_CONFIG_DIR", self.path().join("etc_paasta"))
            .env("SETUP_SERVICE_LOCK_DIR", self.path().join("locks"))
            .output()
            .unwrap();
        let lines = testkit::json_lines(&String::from_utf8_lossy(&out.stdout));
        (out, lines)
    }

    fn ok(&self, backend: &str, args: &[&str]) -> Vec<Value> {
        let (out, lines) = self.run(backend, args);
        assert!(
            out.status.success(),
            "{lines:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        lines
    }
}

fn writes(c: &FakeChronos) -> Vec<testkit::marathon::Recorded> {
    c.requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect()
}

/// PaaSTA's config hash of a job, computed by Python's json module (the oracle).
fn python_hash(body: &str) -> String {
    let out = testkit::output_with_input(
        Command::new("python3").args([
            "-c",
            "import json,hashlib,sys\nd=json.load(sys.stdin)\nd.pop('description')\n\
             print('config'+hashlib.md5(json.dumps(d,sort_keys=True).encode()).hexdigest()[:8])",
        ]),
        body,
    );
    testkit::ok(out).trim().to_string()
}

#[test]
fn jobs_go_out_as_paasta_sends_them_and_only_when_changed() {
    let c = FakeChronos::start();
    let tree = Tree::new();
    let url = format!("chronos:{}", c.url());
    let lines = tree.ok(&url, &["--all"]);

    // One POST per job, parents before children; the long-running instance is left alone.
    let posts = writes(&c);
    let order: Vec<(String, String)> = posts
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_str(&r.body).unwrap();
            (r.path.clone(), v["name"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(order.len(), 4, "{order:?}");
    assert!(posts.iter().all(|r| r.method == "POST"));
    let at = |name: &str| order.iter().position(|(_, n)| n == name).unwrap();
    assert!(at("etl nightly") < at("etl load") && at("etl load") < at("etl report"));
    assert_eq!(order[at("etl load")].0, "/scheduler/dependency");
    assert_eq!(order[at("etl nightly")].0, "/scheduler/iso8601");
    assert_eq!(lines.len(), 4, "{lines:?}");

    // The scheduled job's body, byte for byte, and its description as Python computes it.
    let golden =
        std::fs::read_to_string(testkit::fixtures().join("chronos/etl-nightly-wire.json")).unwrap();
    let nightly = &posts[at("etl nightly")].body;
    assert_eq!(nightly, golden.trim_end());
    let sent: Value = serde_json::from_str(nightly).unwrap();
    assert_eq!(sent["description"], python_hash(nightly));
    let load: Value = serde_json::from_str(&posts[at("etl load")].body).unwrap();
    assert_eq!(load["parents"], serde_json::json!(["etl nightly"]));
    assert_eq!(load["command"], "load --day 2026-11-19");

    // Nothing changed: one look, nothing else.
    let before = c.requests().len();
    let (out, lines) = tree.run(&url, &["--all", "--verbose"]);
    assert!(out.status.success());
    assert_eq!(
        c.requests().len() - before,
        1,
        "{:?}",
        &c.requests()[before..]
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 Chronos API calls"));
    assert!(
        lines.iter().all(|l| l["actions"] == serde_json::json!([])),
        "{lines:?}"
    );

    // A new cpus value re-sends that job alone.
    let file = tree.path().join("soa/etl/chronos-testcluster.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, yaml.replace("cpus: 0.5", "cpus: 0.75")).unwrap();
    let before = c.requests().len();
    tree.ok(&url, &["--all"]);
    let new: Vec<_> = c.requests()[before..]
        .iter()
        .filter(|r| r.method != "GET")
        .cloned()
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(new[0].body.contains(r#""name": "etl nightly""#));
    assert!(new[0].body.contains(r#""cpus": 0.75"#));

    // A stop (desired_state stop) disables it; the job stays defined.
    let d = tree.path().join("soa/etl/deployments.json");
    let text = std::fs::read_to_string(&d).unwrap();
    std::fs::write(
        &d,
        text.replace(r#""desired_state": "start""#, r#""desired_state": "stop""#),
    )
    .unwrap();
    let lines = tree.ok(&url, &["etl.nightly"]);
    assert_eq!(lines[0]["disabled"], true, "{lines:?}");
    assert_eq!(c.job("etl nightly").unwrap()["disabled"], true);

    // --dry-run --show-definitions: the request that would go, and nothing sent.
    std::fs::write(&d, text).unwrap();
    let before = c.requests().len();
    let lines = tree.ok(&url, &["--dry-run", "--show-definitions", "--all"]);
    assert!(c.requests()[before..].iter().all(|r| r.method == "GET"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["method"], "POST");
    assert_eq!(lines[0]["path"], "/scheduler/iso8601");
    assert_eq!(lines[0]["body"]["name"], "etl nightly");
    assert_eq!(lines[0]["body"]["disabled"], false);
    // --show-definitions without --dry-run is refused by the parser.
    let (out, _) = tree.run(&url, &["--show-definitions", "--all"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn all_removes_what_is_no_longer_configured() {
    let c = FakeChronos::start();
    let tree = Tree::new();
    let url = format!("chronos:{}", c.url());
    tree.ok(&url, &["--all"]);
    // A job of an instance since removed, a temporary job from a rerun two days ago, a fresh
    // one, and a job that is not PaaSTA's.
    let post = |name: &str| {
        c.add_job(serde_json::json!({"name": name, "command": "true", "schedule": "R/2026-01-01T00:00:00Z/P1D"}));
    };
    post("etl retired");
    post("tmp-2026-11-18T101112123456 etl nightly");
    post("tmp-2026-11-20T113000000000 etl nightly");
    post("someone-elses-job");
    let lines = tree.ok(&url, &["--all"]);
    let deleted: Vec<String> = c
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        deleted,
        [
            "/scheduler/job/etl%20retired",
            "/scheduler/job/tmp-2026-11-18T101112123456%20etl%20nightly"
        ],
        "{lines:?}"
    );
    let names = c.job_names();
    assert!(names.contains(&"tmp-2026-11-20T113000000000 etl nightly".to_string()));
    assert!(names.contains(&"someone-elses-job".to_string()));
    // Named instances never delete anything.
    post("etl retired");
    tree.ok(&url, &["etl.nightly"]);
    assert!(c.job("etl retired").is_some());
}

#[test]
fn failures_are_named_and_leave_nothing_half_done() {
    let tree = Tree::new();
    // Nobody listens: exit 2, the URL named.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (out, _) = tree.run(&format!("chronos:http://127.0.0.1:{port}"), &["--all"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no Chronos answered") && err.contains(&port.to_string()),
        "{err}"
    );

    // No leader (503): exit 2, nothing sent; a second URL that answers is used.
    let c = FakeChronos::start();
    c.fail_with(Some(503));
    let (out, _) = tree.run(&format!("chronos:{}", c.url()), &["--all"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(c.requests().iter().all(|r| r.method == "GET"));
    let good = FakeChronos::start();
    tree.ok(&format!("chronos:{},{}", c.url(), good.url()), &["--all"]);
    assert_eq!(good.job_names().len(), 4);

    // A child whose parent Chronos lacks is refused by Chronos: exit 1, named.
    let fresh = FakeChronos::start();
    let (out, lines) = tree.run(&format!("chronos:{}", fresh.url()), &["etl.load"]);
    assert_eq!(out.status.code(), Some(1));
    let err = lines[0]["error"].as_str().unwrap();
    assert!(
        err.contains("400") && err.contains("Parent job etl nightly could not be found"),
        "{err}"
    );

    // A long-running instance named on Chronos, a cron schedule: errors naming them.
    let file = tree.path().join("soa/etl/chronos-testcluster.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        yaml.replace("R/2026-01-01T04:00:00Z/PT6H", "\"0 */6 * * *\""),
    )
    .unwrap();
    let (out, lines) = tree.run(
        &format!("chronos:{}", fresh.url()),
        &["web.main", "etl.broken"],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = format!("{lines:?}");
    assert!(
        text.contains("long-running instance") && text.contains("marathon"),
        "{text}"
    );
    assert!(
        text.contains("cron") && text.contains("chronos-testcluster.yaml"),
        "{text}"
    );
    assert!(fresh.job("etl broken").is_none());

    // `--backend chronos` alone: the system config's chronos_config.
    std::fs::write(
        tree.path().join("etc_paasta/chronos.json"),
        format!(
            r#"{{"chronos_config": {{"url": ["{}"], "user": "ops", "password": "pw"}}}}"#,
            fresh.url()
        ),
    )
    .unwrap();
    tree.ok("chronos", &["etl.nightly"]);
    assert!(fresh.job("etl nightly").is_some());
}
