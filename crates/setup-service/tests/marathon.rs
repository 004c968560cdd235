//! setup-service on the Marathon backend, against the project's test Marathon
//! (testkit::marathon): the reference app goes out byte-identical to its expected wire body, a
//! second run changes nothing, a scale-up is a PUT, check-replication counts the tasks, a
//! crossover bounce, an unhealthy new version, a stop that kills with scale=true; a Marathon
//! without a leader (503) is exit 2 with nothing half-applied, another URL is tried, the system
//! config's servers are used, bad credentials are named; a bounce drains through hacheck before
//! each kill, a scale during a deployment is forced, a create refused with 409 is named.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use testkit::marathon::FakeMarathon;

fn reference() -> PathBuf {
    testkit::fixtures().join("reference/marathon-app")
}

/// The reference's soa tree and system config, in a temp dir the test may change.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let st = Command::new("cp")
            .arg("-r")
            .arg(reference().join("soa"))
            .arg(reference().join("etc_paasta"))
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(st.success());
        Tree { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, backend: &str, extra: &[&str]) -> (Output, Vec<Value>) {
        let out = Command::new(env!("CARGO_BIN_EXE_setup-service"))
            .arg("-d")
            .arg(self.path().join("soa"))
            .args(["-c", "testcluster", "--backend", backend])
            .args(extra)
            .arg("order_api.canary_eu")
            .env("PAASTA_SYSTEM_CONFIG_DIR", self.path().join("etc_paasta"))
            .env("SETUP_SERVICE_LOCK_DIR", self.path().join("locks"))
            .output()
            .unwrap();
        let lines = testkit::json_lines(&String::from_utf8_lossy(&out.stdout));
        (out, lines)
    }

    /// A run that must succeed; its lines.
    fn ok(&self, backend: &str, extra: &[&str]) -> Vec<Value> {
        let (out, lines) = self.run(backend, extra);
        testkit::ok(out);
        lines
    }

    /// Rewrites the instance's config.
    fn config(&self, instances: u32, cpus: f64, bounce: &str) {
        std::fs::write(
            self.path().join("soa/order_api/marathon-testcluster.yaml"),
            format!(
                "canary_eu:\n  cpus: {cpus}\n  mem: 512.5\n  instances: {instances}\n  \
                 args: [\"--port\", \"8888\", \"--region\", \"eu\"]\n  deploy_group: canary\n  \
                 net: host\n  healthcheck_mode: tcp\n  bounce_method: {bounce}\n  drain_method: noop\n  \
                 constraints:\n    - [region, LIKE, eu-west-1]\n    - [hostname, UNIQUE]\n"
            ),
        )
        .unwrap();
    }

    fn desired_state(&self, state: &str) {
        let p = self.path().join("soa/order_api/deployments.json");
        let mut d: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        for c in d["v2"]["controls"].as_object_mut().unwrap().values_mut() {
            c["desired_state"] = state.into();
        }
        std::fs::write(&p, d.to_string()).unwrap();
    }
}

fn wait_for(secs: u64, what: &str, f: impl FnMut() -> bool) {
    testkit::wait_for(secs, Duration::from_millis(100), what, f)
}

#[test]
fn the_reference_app_goes_out_byte_identical_then_scales_and_stops() {
    let m = FakeMarathon::start(Some("ops:s3cret"));
    let tree = Tree::new();
    let url = format!("marathon:http://ops:s3cret@127.0.0.1:{}", m.port);

    let wire: Value = serde_json::from_str(
        &std::fs::read_to_string(reference().join("expected-wire.json")).unwrap(),
    )
    .unwrap();
    // --dry-run --show-definitions: the request that would go, nothing sent.
    let shown = tree.ok(&url, &["--dry-run", "--show-definitions"]);
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["method"], "POST");
    assert_eq!(shown[0]["path"], "/v2/apps");
    assert_eq!(shown[0]["body"], wire);
    assert!(m.requests().iter().all(|r| r.method == "GET"));

    // First deploy: one POST whose body is the reference's wire body.
    let lines = tree.ok(&url, &[]);
    let posts: Vec<_> = m
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v2/apps")
        .collect();
    assert_eq!(posts.len(), 1, "{lines:?}");
    assert_eq!(
        posts[0].body,
        pyjson::dumps(&wire, true),
        "the body on the wire"
    );
    let id = std::fs::read_to_string(reference().join("expected-id.txt")).unwrap();
    let app_id = id
        .lines()
        .find_map(|l| l.strip_prefix("app_id="))
        .unwrap()
        .to_string();

    // Once the tasks are up, a run changes nothing.
    let instances = wire["instances"].as_u64().unwrap() as usize;
    wait_for(10, "the tasks healthy", || {
        let (_, lines) = tree.run(&url, &["--dry-run"]);
        lines[0]["happy"] == instances
    });
    let before = m.requests().len();
    let (out, lines) = tree.run(&url, &[]);
    assert!(out.status.success());
    assert_eq!(lines[0]["actions"], serde_json::json!([]), "{lines:?}");
    let after: Vec<_> = m.requests()[before..].to_vec();
    assert!(
        after.iter().all(|r| r.method == "GET"),
        "only looks: {after:?}"
    );

    // More instances: the same app, scaled up by a PUT (instances are not in the hash).
    tree.config(3, 0.1, "brutal");
    tree.ok(&url, &[]);
    let put = m
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("a PUT");
    assert_eq!(put.path, format!("/v2/apps/{app_id}?force=true"));
    assert_eq!(put.body, r#"{"instances": 3}"#);
    wait_for(10, "three tasks healthy", || {
        tree.run(&url, &["--dry-run"]).1[0]["happy"] == 3
    });

    // check-replication reads the same apps: three of three available.
    let out = testkit::bin("check-replication")
        .arg("-d")
        .arg(tree.path().join("soa"))
        .args(["-c", "testcluster", "--backend", &url, "--dry-run"])
        .arg("order_api.canary_eu")
        .env("PAASTA_SYSTEM_CONFIG_DIR", tree.path().join("etc_paasta"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = testkit::json_lines(&text);
    assert_eq!(events.len(), 1, "{text}");
    assert_eq!(events[0]["status"], 0, "{text}");
    assert!(events[0]["output"]
        .as_str()
        .unwrap()
        .contains("has 3 out of 3 expected instances available"));

    // A crossover bounce to a new config: the new app is created, the old one's tasks are
    // killed as the new ones turn healthy, then the old app is deleted.
    tree.config(3, 0.2, "crossover");
    let mut new_id = String::new();
    wait_for(30, "the crossover bounce done", || {
        let lines = tree.ok(&url, &[]);
        new_id = lines[0]["app_id"].as_str().unwrap_or_default().to_string();
        lines[0]["happy"] == 3 && m.app_body(&app_id).is_none()
    });
    assert_ne!(new_id, app_id);
    let r = m.requests();
    assert!(r
        .iter()
        .any(|x| x.method == "POST" && x.path == "/v2/apps" && x.body.contains(&new_id)));
    assert!(r
        .iter()
        .any(|x| x.method == "DELETE" && x.path == format!("/v2/apps/{app_id}?force=true")));

    // An unhealthy new version: its app is created, the healthy old one keeps every task.
    let healthy_id = new_id.clone();
    tree.config(3, 0.3, "crossover");
    let (_, lines) = tree.run(&url, &["--dry-run"]);
    let sick_id = lines[0]["app_id"].as_str().unwrap().to_string();
    m.unhealthy(&sick_id);
    for _ in 0..15 {
        let (out, _) = tree.run(&url, &[]);
        assert!(out.status.success());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(m.app_body(&sick_id).is_some(), "the new app was made");
    assert!(
        !m.requests().iter().any(|x| x.method == "POST"
            && x.path.starts_with("/v2/tasks/delete")
            && x.body.contains(&healthy_id)),
        "no healthy old task killed"
    );
    let healthy = m.app_body(&healthy_id).is_some();
    assert!(healthy, "the healthy old app stays");

    // Stop: the tasks are killed with scale=true and the app is gone.
    tree.desired_state("stop");
    let (out, lines) = tree.run(&url, &[]);
    assert!(
        out.status.success(),
        "{lines:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kills = m
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v2/tasks/delete?scale=true"))
        .count();
    assert!(kills >= 1, "{:?}", m.requests());
    wait_for(10, "the app stopped", || {
        let (_, lines) = tree.run(&url, &[]);
        m.app_body(&app_id).is_none_or(|_| lines[0]["happy"] == 0)
    });

    // Start again, at the healthy version: its tasks come back.
    tree.config(3, 0.2, "crossover");
    tree.desired_state("start");
    let mut last;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        last = tree.ok(&url, &[]);
        if last[0]["happy"] == 3 && last[0]["bounce_in_progress"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "not started again: {last:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn no_leader_is_exit_2_and_nothing_changes_and_another_url_is_tried() {
    let m = FakeMarathon::start(None);
    let tree = Tree::new();
    m.fail_with(Some(503));
    let url = format!("marathon:{}", m.url());
    let (out, _) = tree.run(&url, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("503") && err.contains(&m.url()), "{err}");
    assert!(
        m.requests().iter().all(|r| r.method == "GET"),
        "nothing half-applied"
    );

    // A second Marathon that answers is used when the first does not.
    let good = FakeMarathon::start(None);
    let both = format!("marathon:{},{}", m.url(), good.url());
    tree.ok(&both, &[]);
    assert!(good.requests().iter().any(|r| r.method == "POST"));

    // `--backend marathon` alone: the servers and credentials of the system config.
    let from_config = FakeMarathon::start(Some("ops:s3cret"));
    std::fs::write(
        tree.path().join("etc_paasta/marathon.json"),
        format!(
            r#"{{"marathon_servers": [{{"url": ["{}"], "user": "ops", "password": "s3cret"}}]}}"#,
            from_config.url()
        ),
    )
    .unwrap();
    tree.ok("marathon", &[]);
    assert!(from_config
        .requests()
        .iter()
        .any(|r| r.method == "POST" && r.path == "/v2/apps"));

    // Bad credentials are named, not retried elsewhere.
    let locked = FakeMarathon::start(Some("ops:s3cret"));
    let wrong = format!("marathon:http://ops:nope@127.0.0.1:{}", locked.port);
    let (out, _) = tree.run(&wrong, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401"), "{err}");
}

/// A bounce on Marathon drains each old task through hacheck (the project's hacheck binary,
/// at the task's host) before it is killed; a scale during a deployment goes through because
/// it is forced; a create Marathon refuses with 409 is exit 1, named, with nothing else sent.
#[test]
fn drains_through_hacheck_forces_past_deployments_and_names_a_409() {
    let m = FakeMarathon::start(None);
    let tree = Tree::new();
    let url = format!("marathon:{}", m.url());
    let hacheck_port = testkit::free_port();
    let mut hacheck = testkit::bin("hacheck")
        .args(["--port", &hacheck_port.to_string(), "--spool-dir"])
        .arg(tree.path().join("spool"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("hacheck starts");
    struct Stop<'a>(&'a mut std::process::Child);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _stop = Stop(&mut hacheck);
    let config = |cpus: f64, instances: u32| {
        std::fs::write(
            tree.path().join("soa/order_api/marathon-testcluster.yaml"),
            format!(
                "canary_eu:\n  cpus: {cpus}\n  mem: 512.5\n  instances: {instances}\n  deploy_group: canary\n  \
                 net: host\n  healthcheck_mode: tcp\n  bounce_method: crossover\n  drain_method: hacheck\n  \
                 drain_method_params: {{hacheck_port: {hacheck_port}, delay: 1}}\n"
            ),
        )
        .unwrap();
    };

    // A create Marathon refuses (another master made the app first): exit 1, the 409 named.
    // (2 and more: above the reference's auto_hostname_unique_size, so the count is not hashed.)
    config(0.1, 2);
    m.refuse_next(
        "POST",
        409,
        serde_json::json!({"message": "An app with id [/order--api.canary--eu] already exists."}),
    );
    let (out, lines) = tree.run(&url, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = lines[0]["error"].as_str().unwrap();
    assert!(
        err.contains("409") && err.contains("already exists"),
        "{err}"
    );
    assert_eq!(
        m.requests().iter().filter(|r| r.method != "GET").count(),
        1,
        "nothing but the refused create"
    );

    // Created, then scaled while its deployment is still in progress: forced, so accepted.
    tree.ok(&url, &[]);
    config(0.1, 3);
    tree.ok(&url, &[]);
    let put = m
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap_or_else(|| panic!("{:?}", m.requests()));
    assert!(put.path.ends_with("?force=true"), "{}", put.path);
    wait_for(10, "three tasks healthy", || {
        tree.run(&url, &["--dry-run"]).1[0]["happy"] == 3
    });
    let (_, lines) = tree.run(&url, &["--dry-run"]);
    let old_id = lines[0]["app_id"].as_str().unwrap().to_string();
    let apps: Value = serde_json::from_str(
        &testkit::http_get(&format!("{}/v2/apps?embed=apps.tasks", m.url())).1,
    )
    .unwrap();
    let old_tasks: Vec<(String, u64)> = apps["apps"][0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["ports"][0].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(old_tasks.len(), 3);

    // A new config: the old tasks are drained in hacheck, and each is killed only once the
    // drain's delay (1 s) has passed since hacheck took it down.
    config(0.2, 3);
    wait_for(40, "the bounce done", || {
        tree.ok(&url, &[]);
        m.app_body(&old_id).is_none()
    });
    for (id, port) in old_tasks {
        let (_, status) = testkit::http_get(&format!(
            "http://127.0.0.1:{hacheck_port}/spool/order_api.canary_eu/{port}/status"
        ));
        let since: f64 = status
            .split(" since ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("task port {port} is not down in hacheck: {status}"));
        let kill = m
            .requests()
            .into_iter()
            .find(|r| r.path.starts_with("/v2/tasks/delete") && r.body.contains(&id))
            .unwrap_or_else(|| panic!("{id} was not killed"));
        assert!(
            kill.at - since >= 1.0,
            "{id} killed {:.2} s after its drain",
            kill.at - since
        );
    }
}
