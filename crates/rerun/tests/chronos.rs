//! rerun on the Chronos backend, against the project's test Chronos: the temporary job PaaSTA
//! sends (renamed, run once now, the command at the date), a graph rerun in order with renamed
//! parents, a failing rerun, and --dry-run printing the requests without sending them.

use serde_json::Value;
use std::path::Path;
use testkit::chronos::FakeChronos;

fn rerun(dir: &Path, url: &str, args: &[&str]) -> (std::process::Output, Vec<Value>) {
    let out = testkit::bin("rerun")
        .args(args)
        .arg("-y")
        .arg(dir.join("soa"))
        .args(["--backend", url])
        .env("PAASTA_SYSTEM_CONFIG_DIR", dir.join("etc_paasta"))
        .output()
        .unwrap();
    let lines = testkit::json_lines(&String::from_utf8_lossy(&out.stdout));
    (out, lines)
}

/// A rerun that must succeed: its lines.
fn rerun_ok(dir: &Path, url: &str, args: &[&str]) -> Vec<Value> {
    let (out, _) = rerun(dir, url, args);
    testkit::json_lines(&testkit::ok(out))
}

fn posts(c: &FakeChronos) -> Vec<Value> {
    c.requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

#[test]
fn reruns_are_temporary_jobs() {
    let c = FakeChronos::start();
    let dir = tempfile::tempdir().unwrap();
    testkit::chronos::soa_tree(dir.path());
    let url = format!("chronos:{}", c.url());

    // --dry-run: the request, nothing sent.
    let lines = rerun_ok(
        dir.path(),
        &url,
        &[
            "-s",
            "etl",
            "-i",
            "nightly",
            "-d",
            "2026-11-01T00:00:00",
            "--dry-run",
        ],
    );
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["method"], "POST");
    assert_eq!(lines[0]["path"], "/scheduler/iso8601");
    assert!(c.requests().is_empty());

    // The job alone: renamed, run once now, the command at the date; waited for.
    let lines = rerun_ok(
        dir.path(),
        &url,
        &[
            "-s",
            "etl",
            "-i",
            "nightly",
            "-d",
            "2026-11-01T00:00:00",
            "--wait",
        ],
    );
    let sent = posts(&c);
    assert_eq!(sent.len(), 1);
    let tmp = &sent[0];
    let name = tmp["name"].as_str().unwrap();
    assert!(
        name.starts_with("tmp-") && name.ends_with(" etl nightly"),
        "{name}"
    );
    assert_eq!(tmp["schedule"], "R1//PT1M");
    assert_eq!(tmp["command"], "extract --day 2026-10-31");
    assert_eq!(lines[0]["job"], name);
    assert_eq!(lines[0]["result"], "succeeded");

    // -t graph from the middle: the three related jobs, parents first, parents renamed; only
    // the root has a schedule.
    let lines = rerun_ok(
        dir.path(),
        &url,
        &[
            "-s",
            "etl",
            "-i",
            "load",
            "-d",
            "2026-11-01T00:00:00",
            "-t",
            "graph",
        ],
    );
    let sent = posts(&c);
    let graph = &sent[1..];
    assert_eq!(graph.len(), 3);
    let stamp = graph[0]["name"]
        .as_str()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let names: Vec<&str> = graph.iter().map(|j| j["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            format!("{stamp} etl nightly"),
            format!("{stamp} etl load"),
            format!("{stamp} etl report")
        ]
    );
    assert_eq!(graph[0]["schedule"], "R1//PT1M");
    assert_eq!(
        graph[1]["parents"],
        serde_json::json!([format!("{stamp} etl nightly")])
    );
    assert!(graph[1].get("schedule").is_none());
    assert_eq!(graph[1]["command"], "load --day 2026-10-31");
    assert!(
        lines.iter().all(|l| l["result"] == "succeeded"),
        "{lines:?}"
    );

    // A failing job: exit 1, its result failed.
    let (out, lines) = rerun(dir.path(), &url, &["-s", "etl", "-i", "broken", "--wait"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines[0]["result"], "failed");

    // Chronos down: exit 2, named.
    c.fail_with(Some(503));
    let (out, _) = rerun(dir.path(), &url, &["-s", "etl", "-i", "broken"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Chronos answered"));
}
