//! service-ctl as an operator runs it, without an engine: control tags with --dry-run against
//! the fixture's git repository (nothing pushed), status and emergency actions against a saved
//! cluster state (`--backend snapshot:FILE`), and every usage error with exit status 2. The
//! same commands on the real engine are in tests/jobs.rs.

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use testkit::{deployed_fixture_tree, in_tree, json_lines, ok, outcome};

/// The fixture tree with deployments.json generated (cluster `local`), and a saved state with
/// example_service.main's app at two tasks.
fn tree() -> tempfile::TempDir {
    let dir = deployed_fixture_tree();
    let task = |n: u32| {
        json!({"id": format!("t{n}"), "name": format!("task-{n}"), "host": "127.0.0.1",
               "port": 31000 + n, "state": "running", "health": "healthy",
               "started_at": 1_700_000_000, "restarts": 0})
    };
    let apps = json!([{"id": "example_service.main.gitaaaaaaaa.configbbbbbbbb",
        "service": "example_service", "instance": "main", "git_sha": "aaaaaaaa",
        "config_hash": "configbbbbbbbb", "tasks": [task(1), task(2)]}]);
    std::fs::write(dir.path().join("state.json"), apps.to_string()).unwrap();
    dir
}

fn ctl(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let snapshot = format!("--backend=snapshot:{}", dir.join("state.json").display());
    outcome(
        &in_tree(&mut Command::new(env!("CARGO_BIN_EXE_service-ctl")), dir)
            .arg(snapshot)
            .args(args)
            .output()
            .unwrap(),
    )
}

/// The one JSON line of a call that must succeed.
fn line(dir: &Path, args: &[&str]) -> Value {
    let (code, out, err) = ctl(dir, args);
    assert_eq!(code, 0, "{args:?}: {err}");
    let mut lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{out}");
    lines.remove(0)
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn tags(dir: &Path) -> String {
    ok(Command::new("git")
        .arg("--git-dir")
        .arg(dir.join("repos/example_service.git"))
        .args(["tag", "--list"])
        .output()
        .unwrap())
}

#[test]
fn control_tags_with_dry_run_name_the_tag_and_push_nothing() {
    let dir = tree();
    let before = tags(dir.path());
    for (action, state) in [("stop", "stop"), ("start", "start"), ("restart", "start")] {
        let l = line(dir.path(), &[action, "example_service.main", "--dry-run"]);
        assert_eq!(
            keys(&l),
            [
                "action",
                "service",
                "instance",
                "cluster",
                "tag",
                "git_sha",
                "desired_state",
                "force_bounce",
                "pushed",
                "next"
            ]
        );
        assert_eq!(l["action"], action);
        assert_eq!(l["desired_state"], state);
        assert_eq!(l["pushed"], false);
        let stamp = l["force_bounce"].as_str().unwrap();
        assert_eq!(
            l["tag"],
            format!("paasta-local.main-{stamp}-{state}"),
            "the tag carries the force_bounce"
        );
        assert_eq!(l["git_sha"].as_str().unwrap().len(), 40);
    }
    assert_eq!(tags(dir.path()), before, "--dry-run pushed a tag");
}

#[test]
fn status_of_a_long_running_instance() {
    let dir = tree();
    let l = line(dir.path(), &["status", "example_service.main"]);
    assert_eq!(
        keys(&l),
        [
            "service",
            "instance",
            "cluster",
            "type",
            "git_sha",
            "desired_state",
            "force_bounce",
            "app_id",
            "desired",
            "tasks"
        ]
    );
    assert_eq!(l["type"], "marathon");
    assert_eq!(l["desired_state"], "start");
    assert_eq!(l["desired"], 3);
    assert!(l["app_id"]
        .as_str()
        .unwrap()
        .starts_with("example--service.main.git086f9886."));
    let tasks = l["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(
        keys(&tasks[0]),
        [
            "app",
            "name",
            "state",
            "health",
            "host",
            "port",
            "started_at"
        ]
    );
    assert_eq!(tasks[1]["port"], 31002);
}

#[test]
fn status_of_a_scheduled_job() {
    let dir = tree();
    let l = line(dir.path(), &["status", "example_service.nightly"]);
    assert_eq!(l["type"], "chronos");
    assert_eq!(l["schedule"], "R/2026-01-01T03:00:00Z/P1D");
    assert_eq!(l["parents"], Value::Null);
    assert_eq!(l["disabled"], false);
    assert!(l["state"].is_string(), "{l}");
    assert!(l["next_due"].is_string(), "{l}");
    assert_eq!(l["runs"], json!([]));
    assert_eq!(l["reruns"], json!([]));
    let child = line(dir.path(), &["status", "example_service.nightly_report"]);
    assert_eq!(child["parents"], json!(["example_service.nightly"]));
    assert_eq!(child["state"], "waiting_for_parents");
}

#[test]
fn emergency_stop_says_what_it_would_kill_and_a_saved_state_is_read_only() {
    let dir = tree();
    let l = line(
        dir.path(),
        &["emergency-stop", "example_service.main", "--dry-run"],
    );
    assert_eq!(
        keys(&l),
        ["action", "service", "instance", "cluster", "dry_run", "actions"]
    );
    assert_eq!(l["action"], "emergency-stop");
    assert_eq!(l["dry_run"], true);
    let killed: Vec<&str> = l["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["action"], "kill");
            a["task"].as_str().unwrap()
        })
        .collect();
    assert_eq!(killed, ["task-1", "task-2"]);
    let (code, out, err) = ctl(dir.path(), &["emergency-stop", "example_service.main"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("can only be used with --dry-run"), "{err}");
}

#[test]
fn usage_errors_exit_2_and_print_nothing_on_stdout() {
    let dir = tree();
    let cases: &[(&[&str], &str)] = &[
        (&[], "Usage"),
        (&["status"], "<TARGET>"),
        (
            &["bounce", "example_service.main"],
            "unrecognized subcommand",
        ),
        (&["status", "example_service"], "expected SERVICE.INSTANCE"),
        (&["status", "example_service.nope"], "nope"),
        (&["status", "nobody.main"], "nobody"),
        (
            &["status", "example_service.main", "--lock-wait", "soon"],
            "soon",
        ),
    ];
    for (args, expected) in cases {
        let (code, out, err) = ctl(dir.path(), args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed {out}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}
