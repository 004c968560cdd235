//! service-ctl on the Marathon backend, against the project's test Marathon: status lists the
//! app's tasks, emergency-stop kills them all (the app shrunk with scale=true), emergency-start
//! scales it back at once.

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use testkit::marathon::FakeMarathon;

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let reference = testkit::fixtures().join("reference/marathon-app");
    let st = std::process::Command::new("cp")
        .arg("-r")
        .arg(reference.join("soa"))
        .arg(reference.join("etc_paasta"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    dir
}

fn ctl(dir: &Path, url: &str, args: &[&str]) -> Value {
    let out = testkit::bin("service-ctl")
        .args(args)
        .arg("order_api.canary_eu")
        .arg("-y")
        .arg(dir.join("soa"))
        .args(["-c", "testcluster", "--backend", url])
        .env("PAASTA_SYSTEM_CONFIG_DIR", dir.join("etc_paasta"))
        .env("SETUP_SERVICE_LOCK_DIR", dir.join("locks"))
        .output()
        .unwrap();
    testkit::json_lines(&testkit::ok(out)).pop().unwrap()
}

#[test]
fn emergency_actions_and_status_on_marathon() {
    let m = FakeMarathon::start(None);
    let dir = tree();
    let url = format!("marathon:{}", m.url());
    let out = testkit::bin("setup-service")
        .arg("-d")
        .arg(dir.path().join("soa"))
        .args([
            "-c",
            "testcluster",
            "--backend",
            &url,
            "order_api.canary_eu",
        ])
        .env("PAASTA_SYSTEM_CONFIG_DIR", dir.path().join("etc_paasta"))
        .env("SETUP_SERVICE_LOCK_DIR", dir.path().join("locks"))
        .output()
        .unwrap();
    testkit::ok(out);

    let status = ctl(dir.path(), &url, &["status"]);
    let tasks = status["tasks"].as_array().unwrap().len();
    assert!(tasks >= 1, "{status}");
    assert_eq!(status["desired"], tasks);

    let stop = ctl(dir.path(), &url, &["emergency-stop"]);
    assert_eq!(stop["actions"].as_array().unwrap().len(), tasks, "{stop}");
    let kills = m
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v2/tasks/delete?scale=true&force=true")
        .count();
    assert_eq!(kills, tasks);
    assert_eq!(
        ctl(dir.path(), &url, &["status"])["tasks"],
        serde_json::json!([])
    );

    let start = ctl(dir.path(), &url, &["emergency-start"]);
    assert_eq!(start["actions"].as_array().unwrap().len(), tasks, "{start}");
    let put = m
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(put.body, format!(r#"{{"instances": {tasks}}}"#));
    testkit::wait_for(
        10,
        Duration::from_millis(100),
        "the tasks to come back",
        || {
            ctl(dir.path(), &url, &["status"])["tasks"]
                .as_array()
                .unwrap()
                .len()
                >= tasks
        },
    );
}
