//! service-ctl on the Chronos backend, against the project's test Chronos: emergency-start
//! runs the job now, emergency-stop disables it (its description kept, so setup-service leaves
//! it disabled) and kills its tasks, status shows the job as Chronos has it.

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use testkit::chronos::FakeChronos;

fn ctl(dir: &Path, url: &str, args: &[&str]) -> (std::process::Output, Value) {
    let out = testkit::bin("service-ctl")
        .args(args)
        .arg("-y")
        .arg(dir.join("soa"))
        .args(["--backend", url])
        .env("PAASTA_SYSTEM_CONFIG_DIR", dir.join("etc_paasta"))
        .env("SETUP_SERVICE_LOCK_DIR", dir.join("locks"))
        .output()
        .unwrap();
    let line = testkit::json_lines(&String::from_utf8_lossy(&out.stdout))
        .pop()
        .unwrap_or(Value::Null);
    (out, line)
}

/// A service-ctl call that must succeed: its line.
fn ctl_ok(dir: &Path, url: &str, args: &[&str]) -> Value {
    let (out, line) = ctl(dir, url, args);
    testkit::ok(out);
    line
}

fn setup(dir: &Path, url: &str) {
    let out = testkit::bin("setup-service")
        .arg("-d")
        .arg(dir.join("soa"))
        .args(["--backend", url, "--all"])
        .env("PAASTA_SYSTEM_CONFIG_DIR", dir.join("etc_paasta"))
        .env("SETUP_SERVICE_LOCK_DIR", dir.join("locks"))
        .output()
        .unwrap();
    testkit::ok(out);
}

#[test]
fn emergency_actions_and_status_on_chronos() {
    let c = FakeChronos::start();
    let dir = tempfile::tempdir().unwrap();
    testkit::chronos::soa_tree(dir.path());
    let url = format!("chronos:{}", c.url());

    // Before setup-service sent it, there is no job to act on.
    let (out, _) = ctl(dir.path(), &url, &["emergency-start", "etl.nightly"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Chronos has no job \"etl nightly\""));
    setup(dir.path(), &url);

    let line = ctl_ok(dir.path(), &url, &["emergency-start", "etl.nightly"]);
    assert_eq!(
        line["actions"],
        serde_json::json!([{"action": "run_job", "job": "etl nightly"}])
    );
    assert!(c
        .requests()
        .iter()
        .any(|r| r.method == "PUT" && r.path == "/scheduler/job/etl%20nightly"));
    let every = Duration::from_millis(100);
    testkit::wait_for(10, every, "the run to end", || {
        c.runs_of("etl nightly").unwrap().1 >= 1
    });
    // Its parent succeeded, so Chronos ran the child too.
    testkit::wait_for(10, every, "the child to run", || {
        c.runs_of("etl load").unwrap().1 >= 1
    });

    let status = ctl_ok(dir.path(), &url, &["status", "etl.nightly"]);
    let job = &status["chronos"]["job"];
    assert_eq!(job["last_status"], "success", "{status}");
    assert_eq!(job["state"], "idle");
    assert_eq!(job["schedule"], "R/2026-01-01T03:00:00Z/P1D");
    assert_eq!(status["chronos"]["current"], true, "{status}");

    // emergency-stop: disabled (same description), then killed.
    let description = c.job("etl nightly").unwrap()["description"].clone();
    let line = ctl_ok(dir.path(), &url, &["emergency-stop", "etl.nightly"]);
    assert_eq!(
        line["actions"],
        serde_json::json!([{"action": "disable_job", "job": "etl nightly"}, {"action": "kill_job", "job": "etl nightly"}])
    );
    let job = c.job("etl nightly").unwrap();
    assert_eq!(job["disabled"], true);
    assert_eq!(job["description"], description);
    assert!(c
        .requests()
        .iter()
        .any(|r| r.method == "DELETE" && r.path == "/scheduler/task/kill/etl%20nightly"));
    // setup-service leaves it disabled: its config did not change.
    let before = c.requests().len();
    setup(dir.path(), &url);
    assert!(c.requests()[before..].iter().all(|r| r.method == "GET"));
    assert_eq!(c.job("etl nightly").unwrap()["disabled"], true);
    // A disabled job is not started.
    let (out, line) = ctl(dir.path(), &url, &["emergency-start", "etl.nightly"]);
    assert!(out.status.success());
    assert_eq!(line["actions"], serde_json::json!([]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("disabled"));

    // A long-running instance is Marathon's.
    let (out, _) = ctl(dir.path(), &url, &["status", "web.main"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Marathon"));
}
