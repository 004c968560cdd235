//! SmartStack on one host, all real: setup-service runs a 3-task service on the Docker engine,
//! hacheck (ours) keeps the spool its drain method writes, smartstack-sync puts the tasks behind
//! HAProxy (Debian's) on the namespace's proxy_port, and a client on loopback sends 20 requests a
//! second through it while the service is bounced, scaled, drained and killed. Each test has its
//! cluster and service (test_ss_…); its containers go when it ends, and the HAProxy and hacheck
//! it started are stopped by their PIDs.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::{busybox_image, docker, free_port, ok, ClusterGuard};

const BASE_IMAGE: &str = "paasta-test/smartstack-base:latest";
const V1: &str = "1111111111111111111111111111111111111111";
const V2: &str = "2222222222222222222222222222222222222222";

struct Stack {
    dir: tempfile::TempDir,
    cluster: String,
    service: String,
    proxy_port: u16,
    hacheck_port: u16,
    hacheck: Child,
    _guard: ClusterGuard,
}

impl Stack {
    fn new(name: &str) -> Stack {
        assert!(
            Command::new("haproxy").arg("-v").output().is_ok(),
            "no haproxy: run `sh bin/ensure-haproxy.sh` (make test does)"
        );
        busybox_image(&[BASE_IMAGE]);
        let dir = tempfile::tempdir().unwrap();
        let cluster = format!("ss-{name}");
        let service = format!("test_ss_{}", name.replace('-', "_"));
        let hacheck_port = free_port();
        let hacheck = testkit::bin("hacheck")
            .args(["--port", &hacheck_port.to_string(), "--spool-dir"])
            .arg(dir.path().join("spool"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("hacheck starts");
        let s = Stack {
            proxy_port: free_port(),
            hacheck_port,
            hacheck,
            _guard: ClusterGuard::new(&cluster),
            dir,
            cluster,
            service,
        };
        let etc = s.dir.path().join("etc_paasta");
        testkit::test_system_config(&etc, &s.cluster);
        let sdir = s.soa().join(&s.service);
        std::fs::create_dir_all(&sdir).unwrap();
        std::fs::write(sdir.join("service.yaml"), "description: behind haproxy\n").unwrap();
        std::fs::write(
            sdir.join("smartstack.yaml"),
            format!(
                "main:\n  proxy_port: {}\n  mode: http\n  healthcheck_uri: /status\n",
                s.proxy_port
            ),
        )
        .unwrap();
        s.config(3);
        s.deploy(V1);
        while std::net::TcpStream::connect(("127.0.0.1", s.hacheck_port)).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn soa(&self) -> PathBuf {
        self.dir.path().join("soa")
    }

    fn haproxy_dir(&self) -> PathBuf {
        self.dir.path().join("haproxy")
    }

    /// `instances` tasks answering /status and /id (their container's hostname), drained through
    /// hacheck and killable 3 s after the drain (more than HAProxy's fall × inter of 2 s).
    fn config(&self, instances: u32) {
        let yaml = format!(
            "main:\n  cpus: 0.1\n  mem: 64\n  instances: {instances}\n  deploy_group: prod\n  \
             cmd: sh -c 'hostname > /srv/www/id && exec httpd -f -p 8888 -h /srv/www'\n  \
             healthcheck_mode: http\n  healthcheck_uri: /status\n  healthcheck_interval_seconds: 1\n  \
             healthcheck_timeout_seconds: 1\n  healthcheck_grace_period_seconds: 1\n  \
             healthcheck_max_consecutive_failures: 3\n  drain_method: hacheck\n  \
             drain_method_params:\n    hacheck_port: {}\n    delay: 3\n",
            self.hacheck_port
        );
        std::fs::write(
            self.soa()
                .join(&self.service)
                .join(format!("marathon-{}.yaml", self.cluster)),
            yaml,
        )
        .unwrap();
    }

    fn deploy(&self, sha: &str) {
        let image = format!("services-{}:paasta-{sha}", self.service);
        docker(&["tag", BASE_IMAGE, &format!("paasta-test/{image}")]);
        let json = serde_json::json!({"v2": {
            "deployments": {"prod": {"docker_image": image, "git_sha": sha}},
            "controls": {format!("{}:{}.main", self.service, self.cluster): {"desired_state": "start", "force_bounce": null}}
        }});
        std::fs::write(
            self.soa().join(&self.service).join("deployments.json"),
            json.to_string(),
        )
        .unwrap();
    }

    fn env(&self, c: &mut Command) {
        c.env("SOA_DIR", self.soa())
            .env(
                "PAASTA_SYSTEM_CONFIG_DIR",
                self.dir.path().join("etc_paasta"),
            )
            .env("SETUP_SERVICE_LOCK_DIR", self.dir.path().join("locks"));
    }

    /// One setup-service run; its line.
    fn setup(&self) -> Value {
        let mut c = testkit::bin("setup-service");
        self.env(&mut c);
        let out = ok(c.arg(format!("{}.main", self.service)).output().unwrap());
        serde_json::from_str(&out).unwrap()
    }

    /// setup-service until `n` tasks of one version are happy and nothing is left to do.
    fn converge(&self, n: u64, sync: bool) {
        let start = Instant::now();
        loop {
            let line = self.setup();
            if sync {
                self.sync();
            }
            if line["happy"] == n
                && line["desired"] == n
                && line["bounce_in_progress"] == false
                && line["actions"] == serde_json::json!([])
            {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "no convergence: {line}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// One smartstack-sync run: its namespace line.
    fn sync(&self) -> Value {
        let mut c = Command::new(env!("CARGO_BIN_EXE_smartstack-sync"));
        self.env(&mut c);
        let out = ok(c
            .arg("--haproxy-config")
            .arg(self.haproxy_dir().join("haproxy.cfg"))
            .args([
                "--hacheck-port",
                &self.hacheck_port.to_string(),
                "--check-interval",
                "1",
                "--fall",
                "2",
            ])
            .output()
            .unwrap());
        serde_json::from_str(&out).unwrap()
    }

    /// HAProxy's own view of the namespace's servers: (name, status).
    fn haproxy_servers(&self) -> Vec<(String, String)> {
        use std::io::{Read, Write};
        let mut s =
            std::os::unix::net::UnixStream::connect(self.haproxy_dir().join("haproxy.sock"))
                .unwrap();
        s.write_all(b"show stat\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let backend = format!("{}.main", self.service);
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f.len() > 17 && f[0] == backend && f[1] != "BACKEND")
                    .then(|| (f[1].to_string(), f[17].to_string()))
            })
            .collect()
    }

    fn wait_servers_up(&self, n: usize) {
        let start = Instant::now();
        while self
            .haproxy_servers()
            .iter()
            .filter(|(_, s)| s == "UP")
            .count()
            != n
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "HAProxy: {:?}",
                self.haproxy_servers()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.hacheck.kill();
        let _ = self.hacheck.wait();
        if let Ok(pid) = std::fs::read_to_string(self.haproxy_dir().join("haproxy.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// What a client saw: (successes, failures, the tasks that answered in order).
#[derive(Default)]
struct Seen {
    ok: usize,
    failed: Vec<String>,
    ids: Vec<(Instant, String)>,
}

/// 20 requests a second through the proxy port until stopped.
fn client(port: u16, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        while !stop.load(Ordering::SeqCst) {
            let r = agent.get(&format!("http://127.0.0.1:{port}/id")).call();
            let mut s = seen.lock().unwrap();
            match r {
                Ok(mut resp) => {
                    s.ok += 1;
                    let id = resp.body_mut().read_to_string().unwrap_or_default();
                    s.ids.push((Instant::now(), id.trim().to_string()));
                }
                Err(e) => s.failed.push(e.to_string()),
            }
            drop(s);
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

fn server_ports(cfg: &Path) -> Vec<u16> {
    std::fs::read_to_string(cfg)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("server "))
        .filter_map(|l| l.split(':').next_back()?.parse().ok())
        .collect()
}

#[test]
fn no_request_fails_through_a_crossover_bounce_and_a_scale_down() {
    let s = Stack::new("bounce");
    s.converge(3, false);
    let line = s.sync();
    assert_eq!(line["servers_total"], 3, "{line}");
    assert_eq!(line["changed"], true);
    s.wait_servers_up(3);
    assert_eq!(
        s.sync()["changed"],
        false,
        "nothing changed: nothing rewritten"
    );

    let (stop, seen) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(Mutex::new(Seen::default())),
    );
    let c = client(s.proxy_port, stop.clone(), seen.clone());
    std::thread::sleep(Duration::from_secs(1));
    s.deploy(V2);
    s.converge(3, true);
    s.config(1);
    s.converge(1, true);
    s.sync();
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    c.join().unwrap();
    let seen = seen.lock().unwrap();
    assert!(
        seen.failed.is_empty(),
        "{} of {} requests failed: {:?}",
        seen.failed.len(),
        seen.ok + seen.failed.len(),
        &seen.failed[..seen.failed.len().min(5)]
    );
    assert!(seen.ok > 100, "only {} requests", seen.ok);
    let distinct: std::collections::BTreeSet<&str> =
        seen.ids.iter().map(|(_, i)| i.as_str()).collect();
    assert!(
        distinct.len() >= 4,
        "old and new tasks served: {distinct:?}"
    );
    s.wait_servers_up(1);
}

#[test]
fn a_drained_task_gets_no_new_request_and_a_killed_one_is_taken_out() {
    let s = Stack::new("drain");
    s.converge(3, false);
    s.sync();
    s.wait_servers_up(3);
    let cfg = s.haproxy_dir().join("haproxy.cfg");
    let ports = server_ports(&cfg);
    assert_eq!(ports.len(), 3);
    let id_of = |port: u16| {
        ureq::get(&format!("http://127.0.0.1:{port}/id"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
            .trim()
            .to_string()
    };
    let drained = id_of(ports[0]);

    let (stop, seen) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(Mutex::new(Seen::default())),
    );
    let c = client(s.proxy_port, stop.clone(), seen.clone());
    ok(testkit::bin("drain")
        .args([
            "--service",
            &s.service,
            "--instance",
            "main",
            "--host",
            "127.0.0.1",
        ])
        .args([
            "--port",
            &ports[0].to_string(),
            "--param",
            &format!("hacheck_port={}", s.hacheck_port),
            "down",
        ])
        .output()
        .unwrap());
    let drained_at = Instant::now();
    // One check interval (1 s) after the drain (and the check's own time), nothing new.
    std::thread::sleep(Duration::from_secs(4));
    let late: Vec<String> = seen
        .lock()
        .unwrap()
        .ids
        .iter()
        .filter(|(t, id)| *t > drained_at + Duration::from_millis(1300) && *id == drained)
        .map(|(_, id)| id.clone())
        .collect();
    assert!(
        late.is_empty(),
        "the drained task still got {} requests",
        late.len()
    );

    // A task killed outright: out of HAProxy within fall × inter (2 s), and no request fails.
    let victim = id_of(ports[1]);
    docker(&["kill", &victim]);
    let killed_at = Instant::now();
    let name = format!("127.0.0.1_{}", ports[1]);
    while s
        .haproxy_servers()
        .iter()
        .any(|(n, st)| *n == name && st.starts_with("UP"))
    {
        assert!(
            killed_at.elapsed() < Duration::from_secs(3),
            "still up: {:?}",
            s.haproxy_servers()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    c.join().unwrap();
    let seen = seen.lock().unwrap();
    assert!(
        seen.failed.is_empty(),
        "{} requests failed: {:?}",
        seen.failed.len(),
        &seen.failed[..seen.failed.len().min(5)]
    );
}
