//! setup-service as an operator runs it, against the real Docker engine (`make test` starts one
//! with bin/ensure-docker.sh). Each test has a cluster of its own (tasks carry the cluster
//! label, so tests running side by side never see each other's tasks) and a service named
//! `test_…`, so its containers are `paasta-test--…` and its images `paasta-test/…`; the test
//! removes its containers when it ends.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::{busybox_image, docker, ClusterGuard};

const BASE_IMAGE: &str = "paasta-test/setup-service-base:latest";
const V1: &str = "1111111111111111111111111111111111111111";
const V2: &str = "2222222222222222222222222222222222222222";

/// A task as the engine shows it.
#[derive(Debug, Clone)]
struct Seen {
    name: String,
    app: String,
    state: String,
    status: String,
}

impl Seen {
    fn healthy(&self) -> bool {
        self.state == "running" && self.status.contains("(healthy)")
    }
}

/// One service `test_<name>` with one long-running instance `main` in cluster `<name>`.
struct Fixture {
    dir: tempfile::TempDir,
    name: String,
    service: String,
    /// The test's tasks go when it ends.
    _guard: ClusterGuard,
}

/// An instance that serves /srv/www/status with busybox httpd and is checked every second.
const WEB: &str = "main:
  cpus: 0.1
  mem: 64
  instances: 3
  deploy_group: prod
  cmd: httpd -f -p 8888 -h /srv/www
  healthcheck_mode: http
  healthcheck_uri: /status
  healthcheck_interval_seconds: 1
  healthcheck_timeout_seconds: 1
  healthcheck_grace_period_seconds: 1
  healthcheck_max_consecutive_failures: 3
";

impl Fixture {
    fn new(name: &str, marathon_yaml: &str) -> Fixture {
        busybox_image(&[BASE_IMAGE]);
        let dir = tempfile::tempdir().unwrap();
        let service = format!("test_{}", name.replace('-', "_"));
        let f = Fixture {
            dir,
            name: name.to_string(),
            service,
            _guard: ClusterGuard::new(name),
        };
        let etc = f.dir.path().join("etc_paasta");
        testkit::test_system_config(&etc, name);
        let sdir = f.soa().join(&f.service);
        std::fs::create_dir_all(&sdir).unwrap();
        std::fs::write(sdir.join("service.yaml"), "description: a test service\n").unwrap();
        std::fs::write(sdir.join("monitoring.yaml"), "team: testers\n").unwrap();
        f.config(marathon_yaml);
        f.deploy(V1, "start");
        f
    }

    fn soa(&self) -> PathBuf {
        self.dir.path().join("soa")
    }

    fn config(&self, marathon_yaml: &str) {
        std::fs::write(
            self.soa()
                .join(&self.service)
                .join(format!("marathon-{}.yaml", self.name)),
            marathon_yaml,
        )
        .unwrap();
    }

    /// deployments.json: deploy group prod at `sha` (its image tagged from the base image),
    /// the instance in `state`.
    fn deploy(&self, sha: &str, state: &str) {
        let image = format!("services-{}:paasta-{sha}", self.service);
        docker(&["tag", BASE_IMAGE, &format!("paasta-test/{image}")]);
        let json = serde_json::json!({"v2": {
            "deployments": {"prod": {"docker_image": image, "git_sha": sha}},
            "controls": {format!("{}:{}.main", self.service, self.name): {"desired_state": state, "force_bounce": null}}
        }});
        std::fs::write(
            self.soa().join(&self.service).join("deployments.json"),
            json.to_string(),
        )
        .unwrap();
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_setup-service"));
        c.env("SOA_DIR", self.soa())
            .env(
                "PAASTA_SYSTEM_CONFIG_DIR",
                self.dir.path().join("etc_paasta"),
            )
            .env("SETUP_SERVICE_LOCK_DIR", self.dir.path().join("locks"));
        c
    }

    fn run(&self, extra: &[&str]) -> (Output, Vec<Value>) {
        let out = self
            .cmd()
            .args(extra)
            .arg(format!("{}.main", self.service))
            .output()
            .unwrap();
        let lines = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        (out, lines)
    }

    /// One run that must succeed; its line.
    fn step(&self) -> Value {
        let (out, lines) = self.run(&[]);
        assert!(
            out.status.success(),
            "setup-service failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(lines.len(), 1);
        lines[0].clone()
    }

    /// Runs until `done` says so about the line, at most `limit`.
    fn converge(&self, limit: Duration, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let start = Instant::now();
        let mut seen = Vec::new();
        loop {
            let line = self.step();
            seen.push(line.clone());
            if done(&line) {
                return seen;
            }
            assert!(
                start.elapsed() < limit,
                "no convergence within {limit:?}; last: {line}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn tasks(&self) -> Vec<Seen> {
        tasks_of(&self.name)
    }
}

fn tasks_of(cluster: &str) -> Vec<Seen> {
    let out = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=paasta.cluster={cluster}"),
        "--format",
        "{{.Names}}\t{{.Label \"paasta.app_id\"}}\t{{.State}}\t{{.Status}}",
    ]);
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let p: Vec<&str> = l.split('\t').collect();
            Seen {
                name: p[0].into(),
                app: p[1].into(),
                state: p[2].into(),
                status: p[3].into(),
            }
        })
        .collect()
}

fn happy_and_settled(n: u64) -> impl Fn(&Value) -> bool {
    move |l: &Value| {
        l["happy"] == n
            && l["bounce_in_progress"] == false
            && l["actions"].as_array().unwrap().is_empty()
    }
}

/// Looks at the cluster's tasks every 100 ms while `work` runs; what `look` saw each time.
fn samples_during<T: Send + 'static>(
    cluster: &str,
    look: impl Fn(&[Seen]) -> T + Send + 'static,
    work: impl FnOnce(),
) -> Vec<T> {
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (stop, cluster) = (stop.clone(), cluster.to_string());
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                samples.push(look(&tasks_of(&cluster)));
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        })
    };
    work();
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap();
    assert!(samples.len() > 3, "too few samples");
    samples
}

/// Counts healthy tasks while `work` runs: (least healthy seen, most apps seen running at once).
fn sample_during(cluster: &str, work: impl FnOnce()) -> (usize, usize) {
    let s = samples_during(
        cluster,
        |t| {
            let healthy = t.iter().filter(|s| s.healthy()).count();
            let mut apps: Vec<&str> = t
                .iter()
                .filter(|s| s.state == "running")
                .map(|s| s.app.as_str())
                .collect();
            apps.sort();
            apps.dedup();
            (healthy, apps.len())
        },
        work,
    );
    (
        s.iter().map(|x| x.0).min().unwrap(),
        s.iter().map(|x| x.1).max().unwrap(),
    )
}

fn with_method(method: &str) -> String {
    format!("{WEB}  bounce_method: {method}\n")
}

/// Deploys v1 (3 tasks, healthy), then v2 with `method`; returns (least healthy, most apps at
/// once) sampled during the bounce.
fn bounce(name: &str, method: &str) -> (usize, usize) {
    let f = Fixture::new(name, &with_method(method));
    f.converge(Duration::from_secs(60), happy_and_settled(3));
    let v1_app = f.tasks()[0].app.clone();
    assert!(v1_app.contains(".git11111111."), "{v1_app}");
    f.deploy(V2, "start");
    let sampled = sample_during(&f.name, || {
        f.converge(Duration::from_secs(90), happy_and_settled(3));
    });
    let tasks = f.tasks();
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    assert!(
        tasks
            .iter()
            .all(|t| t.app.contains(".git22222222.") && t.healthy()),
        "{tasks:?}"
    );
    sampled
}

#[test]
fn crossover_keeps_every_task_healthy_during_the_bounce() {
    let (least, _) = bounce("ss-crossover", "crossover");
    assert!(
        least >= 3,
        "only {least} healthy tasks at one moment of a crossover bounce"
    );
}

#[test]
fn upthendown_keeps_the_old_tasks_until_the_new_are_all_healthy() {
    let (least, most_apps) = bounce("ss-upthendown", "upthendown");
    assert!(least >= 3, "only {least} healthy tasks at one moment");
    assert_eq!(most_apps, 2, "the new app ran beside the old one");
}

#[test]
fn downthenup_never_runs_old_and_new_together() {
    let (_, most_apps) = bounce("ss-downthenup", "downthenup");
    assert_eq!(most_apps, 1, "old and new ran at once");
}

/// Brutal: the first pass after the deploy kills every old task (no drain to wait for), none
/// runs after it, and no sample ever shows an old task serving beside a new one.
#[test]
fn brutal_replaces_everything_at_once() {
    let f = Fixture::new("ss-brutal", &with_method("brutal"));
    f.converge(Duration::from_secs(60), happy_and_settled(3));
    let v1_app = f.tasks()[0].app.clone();
    f.deploy(V2, "start");
    let v1 = v1_app.clone();
    let samples = samples_during(
        &f.name,
        move |t| {
            let old_running = t
                .iter()
                .filter(|s| s.app == v1 && s.state == "running")
                .count();
            let old_healthy = t.iter().filter(|s| s.app == v1 && s.healthy()).count();
            let new_healthy = t.iter().filter(|s| s.app != v1 && s.healthy()).count();
            (old_running, old_healthy, new_healthy)
        },
        || {
            let first = f.step();
            let killed_old = first["actions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["action"] == "kill" && a["app"] == v1_app.as_str())
                .count();
            assert_eq!(
                killed_old, 3,
                "every old task goes in the first pass: {first}"
            );
            let after_first = f.tasks();
            assert!(
                after_first
                    .iter()
                    .all(|t| t.app != v1_app || t.state != "running"),
                "an old task outlived the first pass: {after_first:?}"
            );
            f.converge(Duration::from_secs(90), happy_and_settled(3));
        },
    );
    for (_, old_healthy, new_healthy) in &samples {
        assert!(
            !(*old_healthy > 0 && *new_healthy > 0),
            "old and new served at once: {samples:?}"
        );
    }
    let tasks = f.tasks();
    assert!(
        tasks.len() == 3 && tasks.iter().all(|t| t.app != v1_app && t.healthy()),
        "{tasks:?}"
    );
}

#[test]
fn crossover_with_a_margin_keeps_enough() {
    let f = Fixture::new("ss-margin", &format!("{WEB}  bounce_margin_factor: 0.5\n"));
    f.converge(Duration::from_secs(60), happy_and_settled(3));
    f.deploy(V2, "start");
    let (least, _) = sample_during(&f.name, || {
        f.converge(Duration::from_secs(90), happy_and_settled(3));
    });
    assert!(
        least >= 2,
        "ceil(3 × 0.5) = 2 tasks must stay happy; saw {least}"
    );
}

/// A v2 that never passes its health check: crossover and upthendown never take v1 down.
fn unhealthy_v2(name: &str, method: &str) {
    let f = Fixture::new(name, &with_method(method));
    f.converge(Duration::from_secs(60), happy_and_settled(3));
    let v1_app = f.tasks()[0].app.clone();
    f.config(&with_method(method).replace("healthcheck_uri: /status", "healthcheck_uri: /missing"));
    let start = Instant::now();
    let mut stopped_unhealthy = false;
    while start.elapsed() < Duration::from_secs(12) {
        let line = f.step();
        assert_eq!(line["bounce_in_progress"], true, "{line}");
        stopped_unhealthy |= line["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "stop_unhealthy");
        let v1: Vec<Seen> = f.tasks().into_iter().filter(|t| t.app == v1_app).collect();
        assert_eq!(
            v1.iter().filter(|t| t.healthy()).count(),
            3,
            "v1 lost a task: {v1:?}"
        );
        std::thread::sleep(Duration::from_millis(700));
    }
    assert!(
        stopped_unhealthy,
        "the unhealthy v2 tasks were never replaced"
    );
}

#[test]
fn an_unhealthy_new_version_never_takes_the_old_down_crossover() {
    unhealthy_v2("ss-unhealthy-x", "crossover");
}

#[test]
fn an_unhealthy_new_version_never_takes_the_old_down_upthendown() {
    unhealthy_v2("ss-unhealthy-u", "upthendown");
}

#[test]
fn a_crashing_task_is_relaunched_with_growing_delays() {
    // 5 instances: backoff_seconds = ceil(10/5) = 2, then 4, 8.
    let f = Fixture::new(
        "ss-crash",
        "main:\n  cpus: 0.1\n  mem: 64\n  instances: 5\n  deploy_group: prod\n  cmd: exit 3\n",
    );
    let start = Instant::now();
    let mut relaunches: Vec<(f64, u64)> = Vec::new();
    while start.elapsed() < Duration::from_secs(20) && relaunches.last().is_none_or(|r| r.1 < 3) {
        let line = f.step();
        for a in line["actions"].as_array().unwrap() {
            if a["action"] == "relaunch" {
                let r = a["restarts"].as_u64().unwrap();
                if relaunches.last().is_none_or(|x| x.1 != r) {
                    relaunches.push((start.elapsed().as_secs_f64(), r));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let restarts: Vec<u64> = relaunches.iter().map(|r| r.1).collect();
    assert_eq!(restarts, [1, 2, 3], "{relaunches:?}");
    let gap1 = relaunches[1].0 - relaunches[0].0;
    let gap2 = relaunches[2].0 - relaunches[1].0;
    assert!(
        gap1 >= 3.5 && gap2 >= 7.5 && gap2 > gap1,
        "delays do not grow: {relaunches:?}"
    );
    assert_eq!(
        f.tasks().len(),
        5,
        "one container per instance, crashed or running"
    );
}

#[test]
fn stop_and_start_through_deployments_json() {
    let f = Fixture::new("ss-stopstart", WEB);
    let lines = f.converge(Duration::from_secs(60), happy_and_settled(3));
    let app = lines.last().unwrap()["app_id"].clone();
    f.deploy(V1, "stop");
    f.converge(Duration::from_secs(60), |l| {
        l["desired"] == 0 && !l["bounce_in_progress"].as_bool().unwrap()
    });
    assert!(f.tasks().is_empty(), "{:?}", f.tasks());
    f.deploy(V1, "start");
    let lines = f.converge(Duration::from_secs(60), happy_and_settled(3));
    assert_eq!(
        lines.last().unwrap()["app_id"],
        app,
        "stop/start is not a new version"
    );
}

#[test]
fn scaling_changes_the_task_count_without_a_bounce() {
    let f = Fixture::new("ss-scale", WEB);
    let lines = f.converge(Duration::from_secs(60), happy_and_settled(3));
    let app = lines.last().unwrap()["app_id"].clone();
    let first: Vec<String> = f.tasks().into_iter().map(|t| t.name).collect();
    f.config(&WEB.replace("instances: 3", "instances: 5"));
    let lines = f.converge(Duration::from_secs(60), happy_and_settled(5));
    assert!(lines
        .iter()
        .all(|l| l["app_id"] == app && l["bounce_in_progress"] == false));
    let now: Vec<String> = f.tasks().into_iter().map(|t| t.name).collect();
    assert!(
        first.iter().all(|n| now.contains(n)),
        "a task was replaced while scaling up"
    );
    f.config(&WEB.replace("instances: 3", "instances: 2"));
    let lines = f.converge(Duration::from_secs(60), happy_and_settled(2));
    assert!(lines.iter().all(|l| l["app_id"] == app));
    let left: Vec<String> = f.tasks().into_iter().map(|t| t.name).collect();
    assert_eq!(left.len(), 2);
    assert!(
        left.iter().all(|n| first.contains(n)),
        "scaling down kept newer tasks: {left:?}"
    );
}

#[test]
fn a_second_run_skips_an_instance_another_run_holds_or_waits_for_it() {
    let f = Fixture::new("ss-lock", WEB);
    let locks = f.dir.path().join("locks");
    std::fs::create_dir_all(&locks).unwrap();
    let file = std::fs::File::create(locks.join(format!("{}.main.lock", f.service))).unwrap();
    file.lock().unwrap();
    let (out, lines) = f.run(&[]);
    assert!(out.status.success());
    assert!(
        lines[0]["skipped"].as_str().unwrap().contains("holds"),
        "{}",
        lines[0]
    );
    assert!(f.tasks().is_empty(), "a skipped run acted");
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        drop(file);
    });
    let (out, lines) = f.run(&["--lock-wait", "10"]);
    releaser.join().unwrap();
    assert!(out.status.success());
    assert!(lines[0].get("skipped").is_none(), "{}", lines[0]);
    assert_eq!(f.tasks().len(), 3);
}

#[test]
fn killed_in_the_middle_the_next_run_converges() {
    let f = Fixture::new("ss-killed", &WEB.replace("instances: 3", "instances: 4"));
    for delay in [60, 150, 300] {
        let mut child = f.cmd().arg(format!("{}.main", f.service)).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
    }
    f.converge(Duration::from_secs(60), happy_and_settled(4));
    let tasks = f.tasks();
    assert_eq!(tasks.len(), 4, "{tasks:?}");
    assert!(tasks.iter().all(Seen::healthy));
}

#[test]
fn dry_run_says_what_it_would_do_and_does_nothing() {
    let f = Fixture::new("ss-dry", WEB);
    let (out, lines) = f.run(&["--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let actions = lines[0]["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 3);
    assert!(actions.iter().all(|a| a["action"] == "launch"));
    assert!(lines[0]["app_id"]
        .as_str()
        .unwrap()
        .starts_with("test--ss--dry.main.git11111111.config"));
    assert!(f.tasks().is_empty());
}

#[test]
fn a_broken_instance_does_not_stop_the_others() {
    let yaml = format!(
        "{WEB}broken:\n  instances: 1\n  deploy_group: nowhere\n  cpus: 0.1\n  mem: 64\n  cmd: httpd -f -p 8888 -h /srv/www\n"
    );
    let f = Fixture::new("ss-broken", &yaml);
    let out = f.cmd().arg("--all").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let broken = lines
        .iter()
        .find(|l| l["instance"] == "broken")
        .expect("a line for the broken instance");
    assert!(
        broken["error"]
            .as_str()
            .unwrap()
            .contains("deploy group nowhere"),
        "{broken}"
    );
    let main = lines.iter().find(|l| l["instance"] == "main").unwrap();
    assert_eq!(main["actions"].as_array().unwrap().len(), 3, "{main}");
    assert_eq!(f.tasks().len(), 3);
}

#[test]
fn an_unreachable_hacheck_delays_the_kill_and_never_causes_one() {
    // A port nothing listens on: every drain call fails fast.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml = format!("{WEB}  drain_method: hacheck\n  drain_method_params:\n    hacheck_port: {dead}\n    delay: 0\n");
    let f = Fixture::new("ss-hacheck", &yaml);
    f.converge(Duration::from_secs(60), happy_and_settled(3));
    f.deploy(V2, "start");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        let (out, lines) = f.run(&[]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "a drain that cannot be done is a failure"
        );
        assert!(
            lines[0]["error"].as_str().unwrap().contains("draining"),
            "{}",
            lines[0]
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let v1 = f
        .tasks()
        .into_iter()
        .filter(|t| t.app.contains(".git11111111."))
        .count();
    assert_eq!(v1, 3, "an old task was killed without a confirmed drain");
}

#[test]
fn a_stopped_orphan_app_is_removed_by_all() {
    let f = Fixture::new("ss-orphan", WEB);
    f.converge(Duration::from_secs(60), happy_and_settled(3));
    std::fs::remove_file(
        f.soa()
            .join(&f.service)
            .join(format!("marathon-{}.yaml", f.name)),
    )
    .unwrap();
    let out = f.cmd().arg("--all").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(line["actions"][0]["action"], "delete_app");
    assert!(f.tasks().is_empty());
}

/// The engine's API on a TCP port that can be cut and restored: a proxy to the engine's socket,
/// so a test can take "the engine" away from setup-service without touching the engine others
/// use.
struct EngineProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<std::net::TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EngineProxy {
    fn start(port: u16) -> EngineProxy {
        use std::os::unix::net::UnixStream;
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let thread = {
            let (stop, conns) = (stop.clone(), conns.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((client, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    client.set_nonblocking(false).unwrap();
                    let Ok(engine) = UnixStream::connect("/var/run/docker.sock") else {
                        continue;
                    };
                    conns.lock().unwrap().push(client.try_clone().unwrap());
                    let (mut c1, mut e1) =
                        (client.try_clone().unwrap(), engine.try_clone().unwrap());
                    let (mut c2, mut e2) = (client, engine);
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut c1, &mut e1);
                        let _ = e1.shutdown(std::net::Shutdown::Write);
                    });
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut e2, &mut c2);
                        let _ = c2.shutdown(std::net::Shutdown::Both);
                    });
                }
            })
        };
        EngineProxy {
            port,
            stop,
            conns,
            thread: Some(thread),
        }
    }

    /// Stops listening and cuts every open connection.
    fn cut(mut self) -> u16 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        self.port
    }
}

#[test]
fn the_engine_lost_in_the_middle_of_a_bounce_loses_nothing_and_the_bounce_resumes() {
    let f = Fixture::new("ss-engine", WEB);
    let proxy = EngineProxy::start(0);
    let host = format!("tcp://127.0.0.1:{}", proxy.port);
    let run = |f: &Fixture| {
        let out = f
            .cmd()
            .env("DOCKER_HOST", &host)
            .arg(format!("{}.main", f.service))
            .output()
            .unwrap();
        let line: Option<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .map(|l| serde_json::from_str(l).unwrap());
        (out, line)
    };
    let start = Instant::now();
    while !run(&f).1.is_some_and(|l| happy_and_settled(3)(&l)) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "v1 never settled"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let v1 = f.tasks()[0].app.clone();
    f.deploy(V2, "start");
    // A run is cut while it launches v2's tasks.
    let child = f
        .cmd()
        .env("DOCKER_HOST", &host)
        .arg(format!("{}.main", f.service))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let port = proxy.cut();
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success() || f.tasks().iter().filter(|t| t.app != v1).count() == 3,
        "a cut run reported success with v2 half launched"
    );
    // While the engine is away, runs fail fast and say why; v1 keeps serving.
    let (out, _) = run(&f);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Docker engine answers"));
    assert_eq!(
        f.tasks()
            .iter()
            .filter(|t| t.app == v1 && t.healthy())
            .count(),
        3
    );
    // The engine is back: the bounce resumes from what the labels say and completes.
    let _proxy = EngineProxy::start(port);
    let start = Instant::now();
    loop {
        let (_, line) = run(&f);
        if line.is_some_and(|l| happy_and_settled(3)(&l)) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the bounce did not resume: {:?}",
            f.tasks()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let tasks = f.tasks();
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    assert!(
        tasks.iter().all(|t| t.app != v1 && t.healthy()),
        "{tasks:?}"
    );
}

/// An instance whose server listens on container_port 9000: its task publishes 9000, the
/// engine's health check probes 9000 (so the task turns healthy), and a request to the
/// published host port reaches the server.
#[test]
fn container_port_is_published_and_probed() {
    let yaml = WEB
        .replace("instances: 3", "instances: 1")
        .replace("httpd -f -p 8888", "httpd -f -p 9000")
        .replace(
            "  deploy_group: prod\n",
            "  deploy_group: prod\n  container_port: 9000\n",
        );
    let f = Fixture::new("ss-port", &yaml);
    f.converge(Duration::from_secs(60), happy_and_settled(1));
    let tasks = f.tasks();
    assert_eq!(tasks.len(), 1);
    assert!(tasks[0].healthy(), "{tasks:?}");
    let inspect: Value = serde_json::from_str(&docker(&["inspect", &tasks[0].name])).unwrap();
    let c = &inspect[0];
    let bindings = c["HostConfig"]["PortBindings"].as_object().unwrap();
    assert_eq!(
        bindings.keys().collect::<Vec<_>>(),
        ["9000/tcp"],
        "only the container port is published"
    );
    assert!(c["Config"]["Healthcheck"]["Test"]
        .to_string()
        .contains("127.0.0.1:9000/status"));
    let host_port: u16 = c["NetworkSettings"]["Ports"]["9000/tcp"][0]["HostPort"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", host_port)).unwrap();
    s.write_all(b"GET /status HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
}
