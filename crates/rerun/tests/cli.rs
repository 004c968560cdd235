//! rerun as an operator runs it, without an engine: --dry-run says what would run (one JSON
//! line per job, in the order they would run) and every refusal happens before anything runs,
//! with exit status 2 and a message naming what is wrong. Runs on the engine, and the exit
//! status of a failed rerun, are in tests/jobs.rs.

use serde_json::Value;
use std::process::Command;
use testkit::{deployed_fixture_tree as tree, in_tree, json_lines, outcome};

fn rerun(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    outcome(
        &in_tree(&mut Command::new(env!("CARGO_BIN_EXE_rerun")), dir)
            .args(args)
            .output()
            .unwrap(),
    )
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn dry_run_prints_the_run_it_would_start() {
    let dir = tree();
    let (code, out, err) = rerun(
        dir.path(),
        &[
            "-s",
            "example_service",
            "-i",
            "nightly",
            "-d",
            "2026-11-20T03:00:00",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{out}");
    let l = &lines[0];
    assert_eq!(
        keys(l),
        ["cluster", "service", "instance", "job", "kind", "date", "command", "run"]
    );
    assert_eq!(l["cluster"], "local");
    assert_eq!(l["kind"], "rerun");
    assert_eq!(l["date"], "2026-11-20T03:00:00Z");
    assert_eq!(l["command"], "echo reindexing for 2026-11-19");
    assert_eq!(l["run"], Value::Null);
    let job = l["job"].as_str().unwrap();
    assert!(
        job.starts_with("tmp-") && job.ends_with(" example_service nightly"),
        "{job}"
    );
}

#[test]
fn graph_lists_parents_before_children_across_services() {
    let dir = tree();
    let (code, out, err) = rerun(
        dir.path(),
        &[
            "-s",
            "example_service",
            "-i",
            "nightly_report",
            "-d",
            "2026-11-20",
            "-t",
            "graph",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let order: Vec<String> = json_lines(&out)
        .iter()
        .map(|l| {
            format!(
                "{}.{}",
                l["service"].as_str().unwrap(),
                l["instance"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(order[0], "example_service.nightly", "{order:?}");
    assert_eq!(order.len(), 3, "{order:?}");
    assert!(order.contains(&"example_service.nightly_report".to_string()));
    assert!(order.contains(&"reports.weekly".to_string()));
    // One temporary time for the whole rerun: the runs belong together.
    let stamps: Vec<String> = json_lines(&out)
        .iter()
        .map(|l| {
            l["job"]
                .as_str()
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] == w[1]), "{stamps:?}");
}

#[test]
fn refusals_exit_2_and_say_what_is_wrong_before_anything_runs() {
    let dir = tree();
    let d = dir.path();
    let cases: &[(&[&str], &str)] = &[
        (&["-i", "nightly"], "--service"),
        (
            &["-s", "example_service", "-i", "nightly", "-t", "tree"],
            "invalid value 'tree'",
        ),
        (
            &["-s", "example_service", "-i", "nightly", "-d", "yesterday"],
            "-d \"yesterday\" is not a date",
        ),
        (
            &["-s", "example_service", "-i", "nope", "-d", "2026-11-20"],
            "unknown job example_service.nope",
        ),
        (
            &["-s", "example_service", "-i", "nightly"],
            "uses time variables",
        ),
        (
            &["-s", "example_service", "-i", "main", "-d", "2026-11-20"],
            "unknown job example_service.main",
        ),
    ];
    for (args, expected) in cases {
        let mut all = args.to_vec();
        all.push("--dry-run");
        let (code, out, err) = rerun(d, &all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed {out}");
    }
}

#[test]
fn a_disabled_job_needs_force() {
    let dir = tree();
    let file = dir.path().join("soa/reports/chronos-local.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}  disabled: true\n")).unwrap();
    let args = [
        "-s",
        "reports",
        "-i",
        "weekly",
        "-d",
        "2026-11-20",
        "--dry-run",
    ];
    let (code, _, err) = rerun(dir.path(), &args);
    assert_eq!(code, 2);
    assert!(
        err.contains("the job reports.weekly is disabled") && err.contains("--force-disabled"),
        "{err}"
    );
    let mut forced = args.to_vec();
    forced.push("--force-disabled");
    let (code, out, err) = rerun(dir.path(), &forced);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json_lines(&out)[0]["instance"], "weekly");
}
