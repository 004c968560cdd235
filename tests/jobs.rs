//! Scheduled jobs end to end on the real engine: setup-service starts what is due on a
//! simulated clock (--now), rerun and service-ctl act on the same jobs, generate-deployments
//! reads service-ctl's control tags. Each test has a cluster of its own (runs carry its label)
//! and services named test_…, whose run containers bin/test-cleanup.sh also removes.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use testkit::{bin, busybox_image, json_lines, ok, top, ClusterGuard};

/// A soa tree with two services of scheduled jobs, a git repository per service (deploy tags
/// from fixtures/make-repo.sh), deployments.json and the images.
struct Jobs {
    dir: tempfile::TempDir,
    cluster: &'static str,
    _guard: ClusterGuard,
}

const JOBS: &str = r#"
nightly:
  cmd: "echo nightly {shortdate-1} at {ymdhm}"
  schedule: R/2026-01-01T03:00:00Z/P1D
  epsilon: PT10M
  deploy_group: prod
  mem: 64
report:
  cmd: "echo report {shortdate}"
  parents: [test_jobs.nightly]
  deploy_group: prod
  mem: 64
yearly:
  cmd: "echo %(year+1)s-%(month)s"
  schedule: "0 0 1 1 *"
  deploy_group: prod
  mem: 64
slow:
  cmd: "sleep 60"
  schedule: R/2026-01-01T00:00:00Z/PT1H
  deploy_group: prod
  mem: 64
"#;

const OTHER: &str = r#"
final:
  cmd: "echo final {shortdate}"
  parents: [test_jobs.report]
  deploy_group: prod
  mem: 64
"#;

impl Jobs {
    fn new(cluster: &'static str) -> Jobs {
        let dir = tempfile::tempdir().unwrap();
        let j = Jobs {
            dir,
            cluster,
            _guard: ClusterGuard::new(cluster),
        };
        let etc = j.etc();
        std::fs::create_dir_all(&etc).unwrap();
        for (file, text) in [
            ("cluster.json", format!(r#"{{"cluster": "{cluster}"}}"#)),
            ("clusters.json", format!(r#"{{"clusters": ["{cluster}"]}}"#)),
            (
                "docker_registry.json",
                r#"{"docker_registry": "paasta-test"}"#.to_string(),
            ),
            ("volumes.json", r#"{"volumes": []}"#.to_string()),
        ] {
            std::fs::write(etc.join(file), text).unwrap();
        }
        for (service, jobs) in [("test_jobs", JOBS), ("test_jobs_two", OTHER)] {
            let repo = j.dir.path().join(format!("repos/{service}.git"));
            std::fs::create_dir_all(repo.parent().unwrap()).unwrap();
            ok(Command::new("sh")
                .arg(top().join("fixtures/make-repo.sh"))
                .arg(&repo)
                .arg(service)
                .output()
                .unwrap());
            let sdir = j.soa().join(service);
            std::fs::create_dir_all(&sdir).unwrap();
            std::fs::write(
                sdir.join("service.yaml"),
                format!("description: jobs\ngit_url: {}\n", repo.display()),
            )
            .unwrap();
            std::fs::write(
                sdir.join("deploy.yaml"),
                "pipeline:\n  - step: prod\n  - step: canary\n",
            )
            .unwrap();
            std::fs::write(sdir.join(format!("chronos-{cluster}.yaml")), jobs).unwrap();
        }
        ok(j.cmd("generate-deployments").arg("--all").output().unwrap());
        let images: Vec<String> = ["test_jobs", "test_jobs_two"]
            .iter()
            .map(|s| format!("paasta-test/services-{s}:paasta-{}", j.sha(s)))
            .collect();
        busybox_image(&images.iter().map(String::as_str).collect::<Vec<_>>());
        j
    }

    fn soa(&self) -> PathBuf {
        self.dir.path().join("soa")
    }

    fn etc(&self) -> PathBuf {
        self.dir.path().join("etc_paasta")
    }

    fn deployments(&self, service: &str) -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.soa().join(service).join("deployments.json")).unwrap(),
        )
        .unwrap()
    }

    fn sha(&self, service: &str) -> String {
        self.deployments(service)["v2"]["deployments"]["prod"]["git_sha"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn cmd(&self, name: &str) -> Command {
        let mut c = bin(name);
        c.env("SOA_DIR", self.soa())
            .env("PAASTA_SYSTEM_CONFIG_DIR", self.etc())
            .env("SETUP_SERVICE_LOCK_DIR", self.dir.path().join("locks"));
        c
    }

    /// setup-service at simulated `now` for the given instances (none: --all); its lines.
    fn pass(&self, now: &str, instances: &[&str]) -> Vec<Value> {
        let mut c = self.cmd("setup-service");
        c.args(["--now", now]);
        if instances.is_empty() {
            c.arg("--all");
        } else {
            c.args(instances);
        }
        json_lines(&ok(c.output().unwrap()))
    }

    /// Containers of this cluster's runs: (name, status).
    fn runs(&self) -> Vec<(String, String)> {
        let out = Command::new("docker")
            .args(["ps", "-a", "--format", "{{.Names}} {{.Status}}", "--filter"])
            .arg(format!("label=paasta.cluster={}", self.cluster))
            .args(["--filter", "label=paasta.kind=run"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect()
    }

    /// Waits until no run of this cluster is up (the `slow` job's aside: it sleeps a minute).
    fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self
            .runs()
            .iter()
            .any(|(n, s)| s.starts_with("Up") && !n.contains(".slow-"))
        {
            assert!(
                Instant::now() < deadline,
                "runs still up: {:?}",
                self.runs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `rerun -t graph` of test_jobs' `instance` for `date`: its records, and the instances in
    /// the order they ran.
    fn rerun_graph(&self, instance: &str, date: &str) -> (Vec<Value>, Vec<String>) {
        let graph = json_lines(&ok(self
            .cmd("rerun")
            .args(["-s", "test_jobs", "-i", instance, "-t", "graph", "-d", date])
            .output()
            .unwrap()));
        let order = graph
            .iter()
            .map(|r| r["instance"].as_str().unwrap().to_string())
            .collect();
        (graph, order)
    }

    fn status(&self, target: &str) -> Value {
        serde_json::from_str(&ok(self
            .cmd("service-ctl")
            .args(["status", target])
            .output()
            .unwrap()))
        .unwrap()
    }
}

fn line<'a>(lines: &'a [Value], instance: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["instance"] == instance)
        .unwrap_or_else(|| panic!("no line for {instance}: {lines:?}"))
}

fn actions_of(l: &Value, kind: &str) -> Vec<Value> {
    l["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == kind)
        .cloned()
        .collect()
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A nightly job runs when due with its date interpolated; its child and the child's child in
/// another service follow, one pass each; the result is visible a day (simulated), then goes.
#[test]
fn jobs_run_when_due_children_follow_and_results_last_a_day() {
    let j = Jobs::new("e2e-jobs-due");
    let before = j.pass("2026-03-01T02:59:30Z", &[]);
    assert_eq!(line(&before, "nightly")["state"], "idle");
    assert_eq!(line(&before, "nightly")["next_due"], "2026-03-01T03:00:00Z");
    assert_eq!(line(&before, "report")["state"], "waiting_for_parents");

    let due = j.pass("2026-03-01T03:00:30Z", &[]);
    let start = actions_of(line(&due, "nightly"), "start_run");
    assert_eq!(start.len(), 1, "{due:?}");
    assert_eq!(start[0]["due"], "2026-03-01T03:00:00Z");
    assert_eq!(
        start[0]["command"],
        "echo nightly 2026-02-28 at 2026-03-01T03:00"
    );
    assert!(actions_of(line(&due, "report"), "start_run").is_empty());
    j.settle();

    let next = j.pass("2026-03-01T03:01:30Z", &[]);
    let report = actions_of(line(&next, "report"), "start_run");
    assert_eq!(
        report[0]["due"], "2026-03-01T03:00:00Z",
        "the parent's date"
    );
    assert_eq!(report[0]["command"], "echo report 2026-03-01");
    assert!(actions_of(line(&next, "final"), "start_run").is_empty());
    assert!(actions_of(line(&next, "nightly"), "start_run").is_empty());
    j.settle();
    let last = j.pass("2026-03-01T03:02:30Z", &[]);
    assert_eq!(actions_of(line(&last, "final"), "start_run").len(), 1);
    j.settle();
    let quiet = j.pass("2026-03-01T03:03:30Z", &[]);
    assert!(
        quiet.iter().all(|l| l["actions"] == serde_json::json!([])),
        "{quiet:?}"
    );

    let status = j.status("test_jobs.nightly");
    let run = &status["runs"][0];
    assert_eq!(run["result"], "succeeded");
    assert_eq!(run["exit_code"], 0);
    assert_eq!(
        run["output_tail"][0],
        "nightly 2026-02-28 at 2026-03-01T03:00"
    );

    // 23 h 59 min later the result is still there; the next day's run starts beside it, and
    // once the first ended a day ago it is removed.
    let nightly_runs = || {
        j.runs()
            .into_iter()
            .filter(|(n, _)| n.starts_with("paasta-scheduled-test_jobs.nightly-"))
            .count()
    };
    j.pass("2026-03-02T02:59:30Z", &["test_jobs.nightly"]);
    assert_eq!(nightly_runs(), 1);
    let day2 = j.pass("2026-03-02T03:00:30Z", &["test_jobs.nightly"]);
    assert_eq!(actions_of(&day2[0], "start_run").len(), 1);
    assert_eq!(nightly_runs(), 2);
    j.settle();
    let later = j.pass("2026-03-02T03:05:00Z", &["test_jobs.nightly"]);
    let expired = actions_of(&later[0], "expire_run");
    assert_eq!(expired.len(), 1, "{later:?}");
    assert!(expired[0]["run"]
        .as_str()
        .unwrap()
        .contains("-20260301T030000-"));
    assert_eq!(nightly_runs(), 1);
}

/// rerun: the command as at the date (both syntaxes), a temporary name, the child not
/// started; -t graph runs the chain in order, each after its parent succeeded.
#[test]
fn rerun_interpolates_the_date_and_graph_runs_the_chain_in_order() {
    let j = Jobs::new("e2e-jobs-rerun");
    let out = ok(j
        .cmd("rerun")
        .args([
            "-s",
            "test_jobs",
            "-i",
            "nightly",
            "-d",
            "2019-03-01T00:05:00",
            "--wait",
        ])
        .output()
        .unwrap());
    let rec: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        rec["command"],
        "echo nightly 2019-02-28 at 2019-03-01T00:05"
    );
    assert_eq!(rec["result"], "succeeded");
    let name = rec["job"].as_str().unwrap();
    assert!(
        name.starts_with("tmp-") && name.ends_with(" test_jobs nightly"),
        "{name}"
    );
    // Python's isoformat without ':' and '.': tmp-2026-03-02T101112123456.
    let stamp = &name[4..name.find(' ').unwrap()];
    assert_eq!(stamp.len(), 23, "{stamp}");
    let percent = ok(j
        .cmd("rerun")
        .args([
            "-s",
            "test_jobs",
            "-i",
            "yearly",
            "-d",
            "2019-12-15T00:00:00",
            "--dry-run",
        ])
        .output()
        .unwrap());
    assert_eq!(
        serde_json::from_str::<Value>(percent.trim()).unwrap()["command"],
        "echo 2020-12"
    );
    // The rerun's success does not trigger the child.
    let after = j.pass("2026-03-01T12:00:00Z", &["test_jobs.report"]);
    assert_eq!(after[0]["state"], "waiting_for_parents");
    assert!(actions_of(&after[0], "start_run").is_empty());
    let status = j.status("test_jobs.nightly");
    assert_eq!(
        status["reruns"][0]["output_tail"][0],
        "nightly 2019-02-28 at 2019-03-01T00:05"
    );
    assert_eq!(status["runs"], serde_json::json!([]));

    let (graph, order) = j.rerun_graph("report", "2019-03-01T00:00:00");
    let order: Vec<&str> = order.iter().map(String::as_str).collect();
    assert_eq!(order, ["nightly", "report", "final"]);
    assert!(
        graph.iter().all(|r| r["result"] == "succeeded"),
        "{graph:?}"
    );
    // Each started after its parent ended (the engine's own times).
    let times = |run: &str| -> (String, String) {
        let out = Command::new("docker")
            .args([
                "inspect",
                "-f",
                "{{.State.StartedAt}} {{.State.FinishedAt}}",
                run,
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let (a, b) = text.split_once(' ').unwrap();
        (a.to_string(), b.to_string())
    };
    let t: Vec<(String, String)> = graph
        .iter()
        .map(|r| times(r["run"].as_str().unwrap()))
        .collect();
    assert!(t[1].0 >= t[0].1 && t[2].0 >= t[1].1, "{t:?}");
}

/// A tron job of three actions (a; b and c require a) runs on its daily schedule: a when due,
/// then b and c after it, each once; rerun replays the actions for a past date, in order.
#[test]
fn a_tron_jobs_actions_run_on_its_schedule_in_dependency_order_and_rerun_for_a_date() {
    let j = Jobs::new("e2e-jobs-tron");
    std::fs::write(
        j.soa().join("test_jobs").join("tron-e2e-jobs-tron.yaml"),
        "etl:\n  schedule: daily 04:00:00\n  deploy_group: prod\n  actions:\n    \
         a: {command: \"echo a {shortdate}\", mem: 64}\n    \
         b: {command: \"echo b {shortdate}\", requires: [a], mem: 64}\n    \
         c: {command: \"echo c\", requires: [a], mem: 64}\n",
    )
    .unwrap();
    let names = ["test_jobs.etl.a", "test_jobs.etl.b", "test_jobs.etl.c"];
    let before = j.pass("2026-03-01T03:59:30Z", &names);
    assert_eq!(line(&before, "etl.a")["next_due"], "2026-03-01T04:00:00Z");
    assert_eq!(line(&before, "etl.b")["state"], "waiting_for_parents");

    let due = j.pass("2026-03-01T04:00:30Z", &names);
    let a = actions_of(line(&due, "etl.a"), "start_run");
    assert_eq!(a.len(), 1, "{due:?}");
    assert_eq!(a[0]["command"], "echo a 2026-03-01");
    assert!(actions_of(line(&due, "etl.b"), "start_run").is_empty());
    assert!(actions_of(line(&due, "etl.c"), "start_run").is_empty());
    j.settle();

    let next = j.pass("2026-03-01T04:01:30Z", &names);
    let b = actions_of(line(&next, "etl.b"), "start_run");
    assert_eq!(b.len(), 1, "{next:?}");
    assert_eq!(b[0]["command"], "echo b 2026-03-01");
    assert_eq!(actions_of(line(&next, "etl.c"), "start_run").len(), 1);
    assert!(actions_of(line(&next, "etl.a"), "start_run").is_empty());
    j.settle();
    let quiet = j.pass("2026-03-01T04:02:30Z", &names);
    assert!(
        quiet.iter().all(|l| l["actions"] == serde_json::json!([])),
        "{quiet:?}"
    );
    assert_eq!(
        j.status("test_jobs.etl.b")["runs"][0]["result"],
        "succeeded"
    );

    let (graph, order) = j.rerun_graph("etl.a", "2019-03-01T00:00:00");
    let order: Vec<&str> = order.iter().map(String::as_str).collect();
    assert_eq!(order[0], "etl.a", "{graph:?}");
    let mut rest = order[1..].to_vec();
    rest.sort();
    assert_eq!(rest, ["etl.b", "etl.c"]);
    assert_eq!(graph[0]["command"], "echo a 2019-03-01");
    assert!(
        graph.iter().all(|r| r["result"] == "succeeded"),
        "{graph:?}"
    );
}

/// emergency-stop kills a run in flight and holds the job; emergency-start lifts the hold.
#[test]
fn emergency_stop_kills_a_run_in_flight_and_holds_the_job() {
    let j = Jobs::new("e2e-jobs-stop");
    let started = j.pass("2026-03-01T05:00:10Z", &["test_jobs.slow"]);
    assert_eq!(actions_of(&started[0], "start_run").len(), 1);
    let up = || {
        j.runs()
            .iter()
            .filter(|(n, s)| n.contains("test_jobs.slow") && s.starts_with("Up"))
            .count()
    };
    assert_eq!(up(), 1);
    let stop: Value = serde_json::from_str(
        ok(j.cmd("service-ctl")
            .args(["emergency-stop", "test_jobs.slow"])
            .output()
            .unwrap())
        .trim(),
    )
    .unwrap();
    let kinds: Vec<&str> = stop["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["record", "kill"]);
    assert_eq!(up(), 0, "{:?}", j.runs());
    // Held: neither the retry of the killed run nor the next due time starts anything.
    for now in ["2026-03-01T05:01:00Z", "2026-03-01T06:00:10Z"] {
        let held = j.pass(now, &["test_jobs.slow"]);
        assert_eq!(held[0]["state"], "held");
        assert!(actions_of(&held[0], "start_run").is_empty());
    }
    let status = j.status("test_jobs.slow");
    assert_eq!(status["state"], "held");
    let start = ok(j
        .cmd("service-ctl")
        .args(["emergency-start", "test_jobs.slow"])
        .output()
        .unwrap());
    assert!(start.contains("\"release_hold\"") && start.contains("\"kind\":\"emergency\""));
    assert_eq!(up(), 1);
    ok(j.cmd("service-ctl")
        .args(["emergency-stop", "test_jobs.slow"])
        .output()
        .unwrap());
}

/// service-ctl stop/start push control tags that generate-deployments reads back; a stopped job
/// starts nothing. A remote repository (git daemon on loopback) takes the tag too.
#[test]
fn control_tags_round_trip_through_generate_deployments() {
    let j = Jobs::new("e2e-jobs-ctl");
    let stop: Value = serde_json::from_str(
        ok(j.cmd("service-ctl")
            .args(["stop", "test_jobs.nightly", "-c", "e2e-jobs-ctl"])
            .output()
            .unwrap())
        .trim(),
    )
    .unwrap();
    assert_eq!(stop["git_sha"], j.sha("test_jobs").as_str());
    let tag = stop["tag"].as_str().unwrap();
    assert!(tag.starts_with("paasta-e2e-jobs-ctl.nightly-") && tag.ends_with("-stop"));
    ok(j.cmd("generate-deployments")
        .args(["-s", "test_jobs"])
        .output()
        .unwrap());
    let control = &j.deployments("test_jobs")["v2"]["controls"]["test_jobs:e2e-jobs-ctl.nightly"];
    assert_eq!(control["desired_state"], "stop");
    assert_eq!(control["force_bounce"], stop["force_bounce"]);
    let stopped = j.pass("2026-03-01T03:00:30Z", &["test_jobs.nightly"]);
    assert_eq!(stopped[0]["state"], "disabled");
    assert!(actions_of(&stopped[0], "start_run").is_empty());
    // A second tag needs a later second.
    std::thread::sleep(Duration::from_millis(1100));
    ok(j.cmd("service-ctl")
        .args(["start", "test_jobs.nightly"])
        .output()
        .unwrap());
    ok(j.cmd("generate-deployments")
        .args(["-s", "test_jobs"])
        .output()
        .unwrap());
    let control = &j.deployments("test_jobs")["v2"]["controls"]["test_jobs:e2e-jobs-ctl.nightly"];
    assert_eq!(control["desired_state"], "start");
    let started = j.pass("2026-03-01T03:00:30Z", &["test_jobs.nightly"]);
    assert_eq!(actions_of(&started[0], "start_run").len(), 1);

    // The same through git's own protocol: the tag travels, generate-deployments sees it.
    let repos = j.dir.path().join("repos");
    std::fs::write(repos.join("test_jobs.git/git-daemon-export-ok"), "").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _daemon = GitDaemon::start(&repos, port);
    let url = format!("git://127.0.0.1:{port}/test_jobs.git");
    let svc = j.soa().join("test_jobs/service.yaml");
    std::fs::write(&svc, format!("description: jobs\ngit_url: {url}\n")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Command::new("git")
        .args(["ls-remote", &url])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "git daemon did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1100));
    let pushed = ok(j
        .cmd("service-ctl")
        .args(["stop", "test_jobs.nightly"])
        .output()
        .unwrap());
    ok(j.cmd("generate-deployments")
        .args(["-s", "test_jobs"])
        .output()
        .unwrap());
    let v: Value = serde_json::from_str(pushed.trim()).unwrap();
    let control = &j.deployments("test_jobs")["v2"]["controls"]["test_jobs:e2e-jobs-ctl.nightly"];
    assert_eq!(control["desired_state"], "stop");
    assert_eq!(control["force_bounce"], v["force_bounce"]);
}

/// `git daemon` on loopback, serving `repos` with pushes allowed. `git daemon` runs git-daemon
/// as a child of its own, which killing the child we spawned would leave running (holding the
/// test's output pipe open, so a `make test | tee` never ends): the daemon is ended through the
/// pid it writes, when the guard drops, whether the test passed or not.
struct GitDaemon {
    child: std::process::Child,
    pid_file: PathBuf,
}

impl GitDaemon {
    fn start(repos: &Path, port: u16) -> GitDaemon {
        let pid_file = repos.join("git-daemon.pid");
        let child = Command::new("git")
            .arg("daemon")
            .arg(format!("--base-path={}", repos.display()))
            .arg(format!("--pid-file={}", pid_file.display()))
            .args(["--listen=127.0.0.1", "--enable=receive-pack", "--reuseaddr"])
            .arg(format!("--port={port}"))
            .arg(repos)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        GitDaemon { child, pid_file }
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bad_tree(dir: &Path, chronos: &str) -> (PathBuf, PathBuf) {
    let soa = dir.join("soa");
    let etc = dir.join("etc");
    std::fs::create_dir_all(soa.join("test_bad")).unwrap();
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("cluster.json"), r#"{"cluster": "bad"}"#).unwrap();
    std::fs::write(soa.join("test_bad/service.yaml"), "description: bad\n").unwrap();
    std::fs::write(
        soa.join("test_bad/deploy.yaml"),
        "pipeline:\n  - step: prod\n",
    )
    .unwrap();
    std::fs::write(soa.join("test_bad/chronos-bad.yaml"), chronos).unwrap();
    let sha = "c".repeat(40);
    std::fs::write(
        soa.join("test_bad/deployments.json"),
        format!(
            r#"{{"v1": {{}}, "v2": {{"deployments": {{"prod": {{"docker_image": "services-test_bad:paasta-{sha}", "git_sha": "{sha}"}}}}, "controls": {{}}}}}}"#
        ),
    )
    .unwrap();
    let snapshot = dir.join("state.json");
    std::fs::write(&snapshot, r#"{"apps": [], "runs": []}"#).unwrap();
    (soa, etc)
}

/// Bad input is refused with the file, instance and key: a parents cycle, a schedule that does
/// not parse, an unknown job, a rerun date that is not a date.
#[test]
fn bad_jobs_and_bad_reruns_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (soa, etc) = bad_tree(
        dir.path(),
        "a:\n  cmd: x\n  parents: [test_bad.b]\n  deploy_group: prod\nb:\n  cmd: x\n  parents: [test_bad.a]\n  deploy_group: prod\nc:\n  cmd: x\n  schedule: every day\n  deploy_group: prod\nok:\n  cmd: \"echo {shortdate}\"\n  schedule: \"0 3 * * *\"\n  deploy_group: prod\n",
    );
    let run = |name: &str, args: &[&str]| {
        let mut c = bin(name);
        c.env("SOA_DIR", &soa)
            .env("PAASTA_SYSTEM_CONFIG_DIR", &etc)
            .env("SETUP_SERVICE_LOCK_DIR", dir.path().join("locks"))
            .args(args);
        c.output().unwrap()
    };
    let snap = format!(
        "--backend=snapshot:{}",
        dir.path().join("state.json").display()
    );
    let out = run(
        "setup-service",
        &["--all", "--dry-run", &snap, "--now", "2026-03-01T03:00:10Z"],
    );
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&String::from_utf8_lossy(&out.stdout));
    let err = |i: &str| line(&lines, i)["error"].as_str().unwrap_or("").to_string();
    assert!(
        err("a").contains("the jobs' parents form a cycle: test_bad.a -> test_bad.b -> test_bad.a"),
        "{}",
        err("a")
    );
    assert!(err("a").contains("chronos-bad.yaml"));
    assert!(err("c").contains("chronos-bad.yaml: instance test_bad.c: key schedule: The specified schedule \"every day\" is neither a valid cron schedule nor a valid ISO 8601 schedule"), "{}", err("c"));
    // The good job is still decided: due at 03:00, started (in the dry run's words).
    assert_eq!(
        actions_of(line(&lines, "ok"), "start_run")[0]["command"],
        "echo 2026-03-01"
    );

    let unknown = failed(&run(
        "rerun",
        &["-s", "test_bad", "-i", "nope", "-d", "2026-01-01T00:00:00"],
    ));
    assert!(unknown.contains("unknown job test_bad.nope"), "{unknown}");
    assert!(unknown.contains("chronos-bad.yaml"), "{unknown}");
    let date = run(
        "rerun",
        &["-s", "test_bad", "-i", "ok", "-d", "last tuesday"],
    );
    assert_eq!(date.status.code(), Some(2));
    assert!(
        failed(&date).contains("-d \"last tuesday\" is not a date: expected YYYY-MM-DDTHH:MM:SS")
    );
    let no_date = failed(&run("rerun", &["-s", "test_bad", "-i", "ok", "--dry-run"]));
    assert!(no_date.contains("uses time variables"), "{no_date}");
    let graph = failed(&run(
        "rerun",
        &["-s", "test_bad", "-i", "a", "-t", "graph", "--dry-run"],
    ));
    assert!(graph.contains("cycle"), "{graph}");
}
