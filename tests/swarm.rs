//! The three-node swarm of bin/swarm-testbed.sh, which the swarm backend's tests and demo stand
//! on: three dockerd in network namespaces of their own, one manager and two workers with their
//! labels, a registry every node pulls from, and published ports each node answers on. Torn down
//! whether the test passes or not.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use testkit::{bin, fixtures, json_lines, ok, top};

/// One testbed at a time: its bridge, addresses and registry port are fixed.
static SERIAL: Mutex<()> = Mutex::new(());

/// The testbed in a temp directory; `down` when dropped.
struct Testbed {
    dir: tempfile::TempDir,
    _serial: MutexGuard<'static, ()>,
}

const REGISTRY: &str = "10.251.0.1:5123";

impl Testbed {
    fn up() -> Testbed {
        testkit::require_engine();
        let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let t = Testbed {
            dir,
            _serial: serial,
        };
        ok(Command::new("sh")
            .arg(top().join("bin/swarm-testbed.sh"))
            .arg("up")
            .arg(t.path())
            .output()
            .unwrap());
        t
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn manager(&self) -> String {
        format!("unix://{}/n0/docker.sock", self.path().display())
    }

    /// The docker CLI against node `n`'s engine (0: the manager).
    fn on(&self, n: usize, args: &[&str]) -> Output {
        Command::new("docker")
            .env(
                "DOCKER_HOST",
                format!("unix://{}/n{n}/docker.sock", self.path().display()),
            )
            .args(args)
            .output()
            .unwrap()
    }

    /// The docker CLI against the manager; must succeed.
    fn docker(&self, args: &[&str]) -> String {
        ok(self.on(0, args)).trim().to_string()
    }

    /// The busybox image built on the manager and pushed to the registry under each name.
    fn push(&self, names: &[String]) {
        ok(Command::new("sh")
            .env("DOCKER_HOST", self.manager())
            .arg(fixtures().join("images/make-busybox-image.sh"))
            .args(names)
            .output()
            .unwrap());
        for n in names {
            self.docker(&["push", n]);
        }
    }

    /// The dockerd pid of node `n`.
    fn dockerd_pid(&self, n: usize) -> i32 {
        std::fs::read_to_string(self.path().join(format!("n{n}/docker.pid")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .arg(top().join("bin/swarm-testbed.sh"))
            .arg("down")
            .arg(self.path())
            .output();
    }
}

fn get(url: &str) -> Option<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(3)))
        .build()
        .into();
    agent.get(url).call().ok()?.body_mut().read_to_string().ok()
}

#[test]
fn three_nodes_labelled_pull_from_the_registry_and_answer_on_their_own_addresses() {
    let t = Testbed::up();
    let env = std::fs::read_to_string(t.path().join("env")).unwrap();
    assert!(env.contains("SWARM_REGISTRY=10.251.0.1:5123"), "{env}");
    let nodes = t.docker(&[
        "node",
        "ls",
        "--format",
        "{{.Hostname}} {{.Status}} {{.ManagerStatus}}",
    ]);
    let mut lines: Vec<&str> = nodes.lines().map(str::trim).collect();
    lines.sort();
    assert_eq!(
        lines,
        ["ptsw-n0 Ready Leader", "ptsw-n1 Ready", "ptsw-n2 Ready"]
    );
    let labels = t.docker(&[
        "node",
        "inspect",
        "ptsw-n2",
        "--format",
        "{{.Status.Addr}} {{.Spec.Labels}}",
    ]);
    assert_eq!(labels, "10.251.0.12 map[pool:batch region:r1]");

    // An image pushed through the manager to the registry; one task per node, published in
    // host mode, each answering on its node's address.
    let image = "10.251.0.1:5123/paasta-test/swarm-busybox:1";
    t.push(&[image.to_string()]);
    t.docker(&[
        "service",
        "create",
        "-d",
        "--name",
        "paasta-test-swarm-web",
        "--replicas",
        "3",
        "--replicas-max-per-node",
        "1",
        "--publish",
        "mode=host,target=8888,published=18888",
        image,
        "httpd",
        "-f",
        "-p",
        "8888",
        "-h",
        "/srv/www",
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for ip in ["10.251.0.10", "10.251.0.11", "10.251.0.12"] {
        while get(&format!("http://{ip}:18888/status"))
            .as_deref()
            .map(str::trim)
            != Some("ok")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{ip} does not answer: {}",
                t.docker(&["service", "ps", "paasta-test-swarm-web", "--no-trunc"])
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    let placed = t.docker(&[
        "service",
        "ps",
        "paasta-test-swarm-web",
        "--format",
        "{{.Node}}",
    ]);
    let mut placed: Vec<&str> = placed.lines().collect();
    placed.sort();
    assert_eq!(placed, ["ptsw-n0", "ptsw-n1", "ptsw-n2"]);
    t.docker(&["service", "rm", "paasta-test-swarm-web"]);
}

const V1: &str = "1111111111111111111111111111111111111111";
const V2: &str = "2222222222222222222222222222222222222222";

/// A soa tree of one service `test_sw` in cluster `cluster`, deployed from the testbed's
/// registry, and the tools pointed at the swarm's manager.
struct Soa<'t> {
    dir: tempfile::TempDir,
    cluster: &'static str,
    testbed: &'t Testbed,
}

const SERVICE: &str = "test_sw";

/// Six tasks spread over the regions, served by busybox httpd and checked every second.
const WEB: &str = "main:
  cpus: 0.1
  mem: 64
  instances: 6
  deploy_group: prod
  cmd: httpd -f -p 8888 -h /srv/www
  constraints: [[region, GROUP_BY, \"2\"]]
  bounce_method: crossover
  healthcheck_mode: http
  healthcheck_uri: /status
  healthcheck_interval_seconds: 1
  healthcheck_timeout_seconds: 1
  healthcheck_grace_period_seconds: 1
  healthcheck_max_consecutive_failures: 3
";

impl<'t> Soa<'t> {
    fn new(testbed: &'t Testbed, cluster: &'static str) -> Soa<'t> {
        let s = Soa {
            dir: tempfile::tempdir().unwrap(),
            cluster,
            testbed,
        };
        let etc = s.dir.path().join("etc_paasta");
        std::fs::create_dir_all(&etc).unwrap();
        for (file, text) in [
            ("cluster.json", format!(r#"{{"cluster": "{cluster}"}}"#)),
            ("clusters.json", format!(r#"{{"clusters": ["{cluster}"]}}"#)),
            (
                "docker_registry.json",
                format!(r#"{{"docker_registry": "{REGISTRY}"}}"#),
            ),
            ("volumes.json", r#"{"volumes": []}"#.to_string()),
        ] {
            std::fs::write(etc.join(file), text).unwrap();
        }
        let sdir = s.soa().join(SERVICE);
        std::fs::create_dir_all(&sdir).unwrap();
        std::fs::write(sdir.join("service.yaml"), "description: on the swarm\n").unwrap();
        std::fs::write(sdir.join("monitoring.yaml"), "team: testers\n").unwrap();
        testbed.push(&[V1, V2].map(|sha| s.image(sha)));
        s
    }

    fn soa(&self) -> PathBuf {
        self.dir.path().join("soa")
    }

    fn image(&self, sha: &str) -> String {
        format!("{REGISTRY}/services-{SERVICE}:paasta-{sha}")
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.soa().join(SERVICE).join(file), text).unwrap();
    }

    /// deployments.json: deploy group prod at `sha`, `main` in `state`.
    fn deploy(&self, sha: &str, state: &str) {
        let json = serde_json::json!({"v2": {
            "deployments": {"prod": {"docker_image": format!("services-{SERVICE}:paasta-{sha}"), "git_sha": sha}},
            "controls": {format!("{SERVICE}:{}.main", self.cluster): {"desired_state": state, "force_bounce": null}}
        }});
        self.write("deployments.json", &json.to_string());
    }

    fn cmd(&self, name: &str) -> Command {
        let mut c = bin(name);
        c.env("SOA_DIR", self.soa())
            .env(
                "PAASTA_SYSTEM_CONFIG_DIR",
                self.dir.path().join("etc_paasta"),
            )
            .env("SETUP_SERVICE_LOCK_DIR", self.dir.path().join("locks"))
            .env("DOCKER_HOST", self.testbed.manager())
            .args(["--backend", "swarm"]);
        c
    }

    /// One setup-service pass over `main` that must succeed; its line.
    fn step(&self) -> Value {
        let out = ok(self
            .cmd("setup-service")
            .arg(format!("{SERVICE}.main"))
            .output()
            .unwrap());
        let lines = json_lines(&out);
        assert_eq!(lines.len(), 1, "{out}");
        lines[0].clone()
    }

    /// Passes until `done` says so about the line, at most `limit`.
    fn converge(&self, limit: Duration, done: impl Fn(&Value) -> bool) {
        let start = Instant::now();
        loop {
            let line = self.step();
            if done(&line) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "no convergence within {limit:?}; last: {line}\n{:?}",
                self.services()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// This cluster's task services as the manager lists them.
    fn services(&self) -> Vec<SwarmTask> {
        tasks_of(self.testbed, self.cluster)
    }
}

/// A task service: its name, app, whether its task runs (healthy, when checked), its node and
/// when it was created.
#[derive(Debug, Clone)]
struct SwarmTask {
    name: String,
    app: String,
    running: bool,
    created: String,
}

/// The cluster's task services by name, each with whether its one replica runs: one
/// `service ls`, so a count of them is of one moment.
fn replicas_of(t: &Testbed, cluster: &str) -> Vec<(String, bool)> {
    let out = t.on(
        0,
        &[
            "service",
            "ls",
            "--filter",
            &format!("label=paasta.cluster={cluster}"),
            "--filter",
            "label=paasta.kind=task",
            "--format",
            "{{.Name}}\t{{.Replicas}}",
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, r)| (n.to_string(), r.trim() == "1/1"))
        .collect()
}

fn tasks_of(t: &Testbed, cluster: &str) -> Vec<SwarmTask> {
    let names = replicas_of(t, cluster);
    if names.is_empty() {
        return Vec::new();
    }
    let mut args = vec![
        "service",
        "inspect",
        "--format",
        "{{.Spec.Name}}\t{{index .Spec.Labels \"paasta.app_id\"}}\t{{.CreatedAt}} {{.UpdatedAt}}",
    ];
    args.extend(names.iter().map(|(n, _)| n.as_str()));
    let out = t.on(0, &args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let p: Vec<&str> = l.split('\t').collect();
            let running = names.iter().find(|(n, _)| n == p[0])?.1;
            Some(SwarmTask {
                name: p[0].to_string(),
                app: p[1].to_string(),
                running,
                created: p[2].to_string(),
            })
        })
        .collect()
}

/// A line per running task of `tasks`, in `format` (docker service ps).
fn running(t: &Testbed, tasks: &[SwarmTask], format: &str) -> Vec<String> {
    let mut args = vec![
        "service",
        "ps",
        "--filter",
        "desired-state=running",
        "--format",
        format,
    ];
    args.extend(tasks.iter().map(|x| x.name.as_str()));
    t.docker(&args).lines().map(str::to_string).collect()
}

/// The node each running task of the cluster is on.
fn nodes_of(t: &Testbed, tasks: &[SwarmTask]) -> Vec<String> {
    let mut nodes = running(t, tasks, "{{.Node}}");
    nodes.sort();
    nodes
}

fn happy_and_settled(n: u64) -> impl Fn(&Value) -> bool {
    move |l: &Value| {
        l["happy"] == n
            && l["bounce_in_progress"] == false
            && l["actions"].as_array().unwrap().is_empty()
    }
}

/// The fewest running (healthy) tasks seen every 100 ms while `work` runs.
fn least_running_during(t: &Testbed, cluster: &'static str, work: impl FnOnce()) -> usize {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let samples = std::thread::scope(|scope| {
        let sampler = {
            let stop = stop.clone();
            scope.spawn(move || {
                let mut samples = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // From one listing: joined with a later inspect, a task removed between the
                    // two (the old one a crossover ends) would go uncounted while its
                    // replacement, not yet running at the listing, is.
                    samples.push(replicas_of(t, cluster).iter().filter(|x| x.1).count());
                    std::thread::sleep(Duration::from_millis(100));
                }
                samples
            })
        };
        work();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        sampler.join().unwrap()
    });
    assert!(samples.len() > 3, "too few samples: {samples:?}");
    samples.into_iter().min().unwrap()
}

#[test]
fn an_instance_spreads_bounces_scales_and_stops_on_the_swarm() {
    let t = Testbed::up();
    let s = Soa::new(&t, "sw-services");
    s.write("marathon-sw-services.yaml", WEB);
    s.deploy(V1, "start");
    s.converge(Duration::from_secs(90), happy_and_settled(6));
    let tasks = s.services();
    assert_eq!(tasks.len(), 6, "{tasks:?}");
    assert!(
        tasks
            .iter()
            .all(|x| x.running && x.app.contains(".git11111111.")),
        "{tasks:?}"
    );
    // GROUP_BY region: three in r0 (n0 alone), three in r1 (n1 and n2).
    let nodes = nodes_of(&t, &tasks);
    let r0 = nodes.iter().filter(|n| *n == "ptsw-n0").count();
    assert_eq!(r0, 3, "{nodes:?}");
    // Each task answers on its node's address at the port Swarm published there.
    for line in running(&t, &tasks, "{{.Node}} {{.Ports}}") {
        // "ptsw-n1 *:30001->8888/tcp"
        let (node, ports) = line.split_once(' ').unwrap();
        let port = ports.trim_start_matches("*:").split("->").next().unwrap();
        let ip = format!("10.251.0.1{}", node.trim_start_matches("ptsw-n"));
        let body = get(&format!("http://{ip}:{port}/status"));
        assert_eq!(body.as_deref().map(str::trim), Some("ok"), "{line}");
    }

    // A crossover bounce to v2: six healthy tasks at every sample.
    s.deploy(V2, "start");
    let least = least_running_during(&t, "sw-services", || {
        s.converge(Duration::from_secs(120), happy_and_settled(6));
    });
    assert!(
        least >= 6,
        "only {least} healthy tasks at one moment of the bounce"
    );
    let tasks = s.services();
    assert_eq!(tasks.len(), 6, "{tasks:?}");
    assert!(
        tasks.iter().all(|x| x.app.contains(".git22222222.")),
        "{tasks:?}"
    );

    // Scaled 6 -> 2, the two oldest stay.
    let mut oldest = tasks.clone();
    oldest.sort_by(|a, b| a.created.cmp(&b.created));
    s.write(
        "marathon-sw-services.yaml",
        &WEB.replace("instances: 6", "instances: 2"),
    );
    s.converge(Duration::from_secs(60), happy_and_settled(2));
    let mut left: Vec<String> = s.services().into_iter().map(|x| x.name).collect();
    left.sort();
    let mut want: Vec<String> = oldest[..2].iter().map(|x| x.name.clone()).collect();
    want.sort();
    assert_eq!(left, want, "{oldest:#?}");

    // Stopped: nothing left.
    s.deploy(V2, "stop");
    s.converge(Duration::from_secs(60), |l| {
        l["actions"].as_array().unwrap().is_empty()
    });
    assert!(s.services().is_empty(), "{:?}", s.services());

    // hostname UNIQUE with more tasks than nodes: one each, and the fourth said unplaced.
    s.write(
        "marathon-sw-services.yaml",
        &WEB.replace("instances: 6", "instances: 4")
            .replace("[[region, GROUP_BY, \"2\"]]", "[[hostname, UNIQUE]]"),
    );
    s.deploy(V2, "start");
    let unplaced = |l: &Value| {
        let actions = l["actions"].as_array().unwrap();
        l["happy"] == 3
            && actions.len() == 1
            && actions[0]["action"] == "unplaced"
            && actions[0]["reason"]
                .as_str()
                .unwrap()
                .contains("as many tasks as they permit")
    };
    s.converge(Duration::from_secs(60), unplaced);
    let tasks = s.services();
    let mut nodes = nodes_of(&t, &tasks);
    nodes.dedup();
    assert_eq!(nodes, ["ptsw-n0", "ptsw-n1", "ptsw-n2"], "{tasks:?}");
}

const JOBS: &str = r#"
nightly:
  cmd: "echo nightly {shortdate-1}"
  schedule: R/2026-01-01T03:00:00Z/P1D
  epsilon: PT10M
  deploy_group: prod
  mem: 64
report:
  cmd: "echo report {shortdate}"
  parents: [test_sw.nightly]
  deploy_group: prod
  mem: 64
slow:
  cmd: "echo slow started; sleep 120"
  schedule: R/2026-01-01T00:00:00Z/PT1H
  deploy_group: prod
  mem: 64
"#;

impl Soa<'_> {
    /// setup-service at simulated `now` over the given instances; its lines.
    fn pass(&self, now: &str, instances: &[&str]) -> Vec<Value> {
        json_lines(&ok(self
            .cmd("setup-service")
            .args(["--now", now])
            .args(instances)
            .output()
            .unwrap()))
    }

    fn status(&self, instance: &str) -> Value {
        serde_json::from_str(&ok(self
            .cmd("service-ctl")
            .args(["status", &format!("{SERVICE}.{instance}")])
            .output()
            .unwrap()))
        .unwrap()
    }

    /// Waits until the job's latest run has a result other than running; that run.
    fn finished(&self, instance: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = self.status(instance);
            let run = &status["runs"][0];
            if !run.is_null() && run["result"] != "running" {
                return run.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{instance} never finished: {status}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

fn started(lines: &[Value], instance: &str) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l["instance"] == instance)
        .flat_map(|l| l["actions"].as_array().unwrap().clone())
        .filter(|a| a["action"] == "start_run")
        .collect()
}

/// A job runs on the swarm when due and its child follows; a run killed by emergency-stop keeps
/// its result and holds the job; rerun runs a past date and waits; results expire after a day.
#[test]
fn jobs_run_follow_their_parents_stop_and_rerun_on_the_swarm() {
    let t = Testbed::up();
    let s = Soa::new(&t, "sw-jobs");
    s.write("chronos-sw-jobs.yaml", JOBS);
    s.deploy(V1, "start");
    let jobs = ["test_sw.nightly", "test_sw.report"];

    let due = s.pass("2026-03-01T03:00:30Z", &jobs);
    let start = started(&due, "nightly");
    assert_eq!(start.len(), 1, "{due:?}");
    assert_eq!(start[0]["command"], "echo nightly 2026-02-28");
    assert!(started(&due, "report").is_empty(), "{due:?}");
    let run = s.finished("nightly");
    assert_eq!(run["result"], "succeeded", "{run}");
    assert_eq!(run["exit_code"], 0);
    assert_eq!(run["output_tail"][0], "nightly 2026-02-28");

    let next = s.pass("2026-03-01T03:01:30Z", &jobs);
    let report = started(&next, "report");
    assert_eq!(report.len(), 1, "{next:?}");
    assert_eq!(
        report[0]["due"], "2026-03-01T03:00:00Z",
        "the parent's date"
    );
    assert_eq!(s.finished("report")["result"], "succeeded");
    let quiet = s.pass("2026-03-01T03:02:30Z", &jobs);
    assert!(
        quiet.iter().all(|l| l["actions"] == serde_json::json!([])),
        "{quiet:?}"
    );

    // emergency-stop kills the slow run in flight, keeps its result, holds the job.
    let slow = s.pass("2026-03-01T04:00:30Z", &["test_sw.slow"]);
    assert_eq!(started(&slow, "slow").len(), 1, "{slow:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.status("slow")["runs"][0]["output_tail"][0] != "slow started" {
        assert!(Instant::now() < deadline, "{}", s.status("slow"));
        std::thread::sleep(Duration::from_millis(300));
    }
    ok(s.cmd("service-ctl")
        .args(["emergency-stop", "test_sw.slow"])
        .output()
        .unwrap());
    let status = s.status("slow");
    let runs = status["runs"].as_array().unwrap();
    let killed = runs
        .iter()
        .find(|r| r["result"] == "failed")
        .unwrap_or_else(|| panic!("{status}"));
    assert_eq!(killed["exit_code"], 137, "{status}");
    assert_eq!(killed["output_tail"][0], "slow started", "{status}");
    assert!(runs.iter().any(|r| r["result"] == "held"), "{status}");
    let held = s.pass("2026-03-01T05:00:30Z", &["test_sw.slow"]);
    assert!(started(&held, "slow").is_empty(), "{held:?}");

    // rerun of a past date, waited for.
    let out = ok(s
        .cmd("rerun")
        .args([
            "-s",
            SERVICE,
            "-i",
            "nightly",
            "-d",
            "2019-03-01T00:05:00",
            "--wait",
        ])
        .output()
        .unwrap());
    let rec: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(rec["command"], "echo nightly 2019-02-28");
    assert_eq!(rec["result"], "succeeded", "{rec}");

    // A day after it ended, the first nightly result goes when the next one starts.
    assert_eq!(
        started(
            &s.pass("2026-03-02T03:00:30Z", &["test_sw.nightly"]),
            "nightly"
        )
        .len(),
        1
    );
    s.finished("nightly");
    let day2 = s.pass("2026-03-02T03:05:00Z", &["test_sw.nightly"]);
    let actions: Vec<&Value> = day2[0]["actions"].as_array().unwrap().iter().collect();
    assert!(
        actions.iter().any(|a| a["action"] == "expire_run"
            && a["run"].as_str().unwrap().contains("20260301T030000")),
        "{day2:?}"
    );
}

/// check-replication's event for test_sw.main (printed, not sent): its status.
fn replication(s: &Soa<'_>) -> u64 {
    let out = json_lines(&ok(s
        .cmd("check-replication")
        .args(["--dry-run", &format!("{SERVICE}.main")])
        .output()
        .unwrap()));
    out[0]["status"].as_u64().unwrap()
}

/// A worker's dockerd killed in the middle of a bounce: check-replication goes CRITICAL, the
/// lost tasks are launched again elsewhere in their region and the bounce completes, then OK. A
/// drained node's tasks move. An unreachable manager, or an engine that is not a manager, is
/// exit 2 with the reason, and nothing changes.
#[test]
fn a_lost_worker_a_drained_node_and_an_unreachable_manager_on_the_swarm() {
    let t = Testbed::up();
    let s = Soa::new(&t, "sw-faults");
    s.write(
        "marathon-sw-faults.yaml",
        &format!("{WEB}  replication_threshold: 100\n"),
    );
    s.deploy(V1, "start");
    s.converge(Duration::from_secs(90), happy_and_settled(6));
    let before = s.services();

    // Unreachable, or not a manager: exit 2, a reason, nothing changed.
    for (host, says) in [
        (
            "unix:///nonexistent/docker.sock",
            "no Docker engine answers",
        ),
        (
            &*format!("unix://{}/n1/docker.sock", t.path().display()),
            "not a swarm manager",
        ),
    ] {
        s.deploy(V2, "start");
        let out = s
            .cmd("setup-service")
            .env("DOCKER_HOST", host)
            .arg(format!("{SERVICE}.main"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
        let mut now: Vec<String> = s.services().into_iter().map(|x| x.name).collect();
        let mut was: Vec<String> = before.iter().map(|x| x.name.clone()).collect();
        now.sort();
        was.sort();
        assert_eq!(now, was);
    }

    // The bounce to v2 begins; then n2's dockerd is killed.
    let first = s.step();
    assert!(!first["actions"].as_array().unwrap().is_empty(), "{first}");
    let pid = t.dockerd_pid(2);
    ok(Command::new("kill")
        .args(["-9", &pid.to_string()])
        .output()
        .unwrap());
    assert_eq!(replication(&s), 2, "CRITICAL while tasks are lost");
    s.converge(Duration::from_secs(120), happy_and_settled(6));
    let tasks = s.services();
    assert!(
        tasks.iter().all(|x| x.app.contains(".git22222222.")),
        "{tasks:?}"
    );
    let nodes = nodes_of(&t, &tasks);
    assert_eq!(
        nodes.iter().filter(|n| *n == "ptsw-n0").count(),
        3,
        "{nodes:?}"
    );
    assert_eq!(
        nodes.iter().filter(|n| *n == "ptsw-n1").count(),
        3,
        "{nodes:?}"
    );
    // OK once the new tasks have served a minute (check-replication's rule).
    let deadline = Instant::now() + Duration::from_secs(100);
    while replication(&s) != 0 {
        assert!(Instant::now() < deadline, "never OK again");
        std::thread::sleep(Duration::from_secs(2));
    }

    // n1 drained: its tasks move to the one node left available.
    t.docker(&["node", "update", "--availability", "drain", "ptsw-n1"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let settled = happy_and_settled(6)(&s.step());
        let nodes = nodes_of(&t, &s.services());
        if settled && nodes == vec!["ptsw-n0"; 6] {
            break;
        }
        assert!(Instant::now() < deadline, "still on {nodes:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}
