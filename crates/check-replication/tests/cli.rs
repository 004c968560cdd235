//! check-replication as a monitoring host runs it. The cluster's state comes from a snapshot
//! file (the same apps and tasks the docker backend reports), so every case of §6 is set up
//! exactly; the path through a real engine is in tests/e2e.rs.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output};
use testkit::json_lines;

fn now() -> i64 {
    testkit::now() as i64
}

/// Services `web` (team web-team, threshold 50) with instances main (3) and canary (1), and
/// `quiet` (no team) with main (2); cluster `prod`.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let w = |p: &str, text: &str| {
        let path = dir.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    w("etc_paasta/cluster.json", r#"{"cluster": "prod"}"#);
    w("soa/web/service.yaml", "description: The web front\n");
    w(
        "soa/web/monitoring.yaml",
        "team: web-team\nrunbook: y/web\ntip: look at the logs\nalert_after: 5m\n",
    );
    w("soa/web/marathon-prod.yaml", "main:\n  instances: 3\ncanary:\n  instances: 1\n  replication_threshold: 100\n  monitoring:\n    slack_channels: ['#web']\n");
    w("soa/quiet/service.yaml", "description: nobody listens\n");
    w("soa/quiet/marathon-prod.yaml", "main:\n  instances: 2\n");
    dir
}

fn task(name: &str, health: &str, age: i64) -> Value {
    json!({"id": name, "name": name, "host": "127.0.0.1", "port": 31000, "state": "running",
           "health": health, "started_at": now() - age, "restarts": 0})
}

fn app(service: &str, instance: &str, tasks: Vec<Value>) -> Value {
    json!({"id": format!("{service}.{instance}.gitaaaaaaaa.configbbbbbbbb"), "service": service,
           "instance": instance, "git_sha": "aaaaaaaa", "config_hash": "configbbbbbbbb", "tasks": tasks})
}

fn check(dir: &Path, apps: &Value, args: &[&str]) -> (Output, Vec<Value>) {
    let snapshot = dir.join("snapshot.json");
    std::fs::write(&snapshot, apps.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_check-replication"))
        .env("SOA_DIR", dir.join("soa"))
        .env("PAASTA_SYSTEM_CONFIG_DIR", dir.join("etc_paasta"))
        .arg(format!("--backend=snapshot:{}", snapshot.display()))
        .args(args)
        .output()
        .unwrap();
    let lines = json_lines(&String::from_utf8_lossy(&out.stdout));
    (out, lines)
}

#[test]
fn events_per_instance_in_paastas_form() {
    let dir = tree();
    let apps = json!([
        app(
            "web",
            "main",
            vec![
                task("a", "healthy", 300),
                task("b", "unchecked", 300),
                task("c", "healthy", 10)
            ]
        ),
        app("web", "canary", vec![task("d", "healthy", 300)]),
    ]);
    let (out, lines) = check(dir.path(), &apps, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    // quiet has no team: no event.
    assert_eq!(lines.len(), 2, "{lines:?}");
    let main = &lines[0];
    assert_eq!(main["name"], "check_paasta_services_replication.web.main");
    assert_eq!(main["status"], 0);
    // The task that started 10 s ago does not count yet.
    assert_eq!(
        main["output"],
        "Service web.main has 2 out of 3 expected instances available!\n(threshold: 50%)"
    );
    let keys: Vec<&str> = main
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "name",
            "status",
            "output",
            "handler",
            "team",
            "runbook",
            "tip",
            "notification_email",
            "interval",
            "page",
            "realert_every",
            "dependencies",
            "alert_after",
            "ticket",
            "project",
            "priority",
            "source",
            "tags",
            "ttl",
            "irc_channels",
            "slack_channels",
            "description"
        ]
    );
    assert_eq!(main["team"], "web-team");
    assert_eq!(main["alert_after"], 300);
    assert_eq!(main["realert_every"], -1);
    assert_eq!(main["source"], "paasta-prod");
    assert_eq!(main["description"], "The web front");
    assert_eq!(
        lines[1]["output"],
        "Service web.canary has 1 out of 1 expected instances available!\n(threshold: 100%)",
        "replication_threshold is the instance's own key"
    );
    assert_eq!(lines[1]["slack_channels"], json!(["#web"]));
    assert_eq!(lines[1]["irc_channels"], Value::Null);
}

#[test]
fn under_the_threshold_is_critical_and_the_run_follows_crit_and_min_count() {
    let dir = tree();
    let apps = json!([
        app(
            "web",
            "main",
            vec![
                task("a", "healthy", 300),
                task("b", "starting", 300),
                task("c", "unhealthy", 300)
            ]
        ),
        app(
            "quiet",
            "main",
            vec![task("q1", "healthy", 300), task("q2", "healthy", 300)]
        )
    ]);
    let (out, lines) = check(dir.path(), &apps, &["--dry-run"]);
    assert_eq!(lines[0]["status"], 2, "1 of 3 is under 50%");
    assert_eq!(lines[1]["status"], 2, "canary: 0 of 1");
    // CRITICAL adds a blank line and what to do, naming the status command for this cluster.
    let text = lines[0]["output"].as_str().unwrap();
    assert!(
        text.starts_with(
            "Service web.main has 1 out of 3 expected instances available!\n(threshold: 50%)\n\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("service-ctl status web.main -c prod"),
        "{text}"
    );
    // 2 of 3 instances critical, but fewer than the 5 --min-count-critical asks for.
    assert_eq!(out.status.code(), Some(0));
    let (out, _) = check(
        dir.path(),
        &apps,
        &["--dry-run", "--min-count-critical", "2"],
    );
    assert_eq!(out.status.code(), Some(2));
    let (out, _) = check(
        dir.path(),
        &apps,
        &["--dry-run", "--min-count-critical", "2", "--crit", "70"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "2 of 3 instances is 66%, under --crit 70"
    );
}

#[test]
fn exactly_at_the_threshold_is_ok_and_stopped_instances_expect_nothing() {
    let dir = tree();
    std::fs::write(
        dir.path().join("soa/web/deployments.json"),
        json!({"v2": {"deployments": {}, "controls": {"web:prod.canary": {"desired_state": "stop", "force_bounce": null}}}}).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("soa/web/marathon-prod.yaml"),
        "main:\n  instances: 4\ncanary:\n  instances: 1\n",
    )
    .unwrap();
    let apps = json!([app(
        "web",
        "main",
        vec![task("a", "healthy", 300), task("b", "healthy", 300)]
    )]);
    let (_, lines) = check(dir.path(), &apps, &["--dry-run"]);
    assert_eq!(lines[0]["status"], 0, "50% is not under 50%");
    assert_eq!(lines[1]["status"], 0);
    assert_eq!(
        lines[1]["output"],
        "Service web.canary has 0 out of 0 expected instances available!\n(threshold: 50%)"
    );
}

#[test]
fn events_go_to_the_sensu_client_socket() {
    let dir = tree();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // One connection for the whole run, one event a line.
    let receiver = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        BufReader::new(s)
            .lines()
            .map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap())
            .collect::<Vec<_>>()
    });
    let (out, lines) = check(
        dir.path(),
        &json!([]),
        &["--sensu", &addr, "web.main", "web.canary"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(receiver.join().unwrap(), lines);
}

/// A dry run on the tree's `soa` directory (or another), with no engine answering.
fn without_engine(dir: &Path, soa: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_check-replication"))
        .env("SOA_DIR", dir.join(soa))
        .env("PAASTA_SYSTEM_CONFIG_DIR", dir.join("etc_paasta"))
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        .args(["--dry-run"])
        .output()
        .unwrap()
}

#[test]
fn an_unreadable_root_is_unknown_and_said_once() {
    let dir = tree();
    let out = without_engine(dir.path(), "nowhere");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        out.stdout.is_empty(),
        "no per-instance event for a tree that cannot be read"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "check-replication: error: {}: No such file or directory (os error 2)",
            dir.path().join("nowhere").display()
        )
    );
}

#[test]
fn an_unreachable_engine_is_unknown() {
    let dir = tree();
    let out = without_engine(dir.path(), "soa");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Docker engine answers"));
}

#[test]
fn a_bad_snapshot_names_the_file() {
    let dir = tree();
    let (out, _) = check(dir.path(), &json!({"not": "a list"}), &["--dry-run"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("snapshot.json") && err.contains("expected a JSON list of apps"),
        "{err}"
    );
}

/// A Sensu address that completes no connection (its listen queue is full, so the kernel drops
/// the handshake, as a firewall would) costs the run at most --sensu-timeout: every event is
/// still printed and the status is still Nagios'.
#[test]
fn a_blackholed_sensu_never_stalls_the_run() {
    let dir = tree();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Fill the listen queue: once a connect no longer completes, neither will the tool's.
    let mut held = Vec::new();
    for _ in 0..4096 {
        match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200)) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    assert!(held.len() < 4096, "the listen queue never filled");
    let started = std::time::Instant::now();
    let (out, lines) = check(
        dir.path(),
        &json!([]),
        &["--sensu", &addr.to_string(), "--sensu-timeout", "1"],
    );
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    assert_eq!(lines.len(), 2, "every event is printed");
    assert_eq!(lines[0]["status"], 2);
    assert_eq!(
        out.status.code(),
        Some(0),
        "2 critical, fewer than --min-count-critical"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("were not sent to Sensu"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(listener);
}
