//! The three-node swarm of bin/swarm-testbed.sh, which the swarm backend's tests and demo stand
//! on: three dockerd in network namespaces of their own, one manager and two workers with their
//! labels, a registry every node pulls from, and published ports each node answers on. Torn down
//! whether the test passes or not.

use std::path::PathBuf;
use std::process::Command;
use testkit::{fixtures, ok, top};

/// The testbed in a temp directory; `down` when dropped.
struct Testbed {
    dir: tempfile::TempDir,
}

impl Testbed {
    fn up() -> Testbed {
        let dir = tempfile::tempdir().unwrap();
        let t = Testbed { dir };
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

    /// The docker CLI against the manager.
    fn docker(&self, args: &[&str]) -> String {
        ok(Command::new("docker")
            .env(
                "DOCKER_HOST",
                format!("unix://{}/n0/docker.sock", self.path().display()),
            )
            .args(args)
            .output()
            .unwrap())
        .trim()
        .to_string()
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
    testkit::require_engine();
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
    ok(Command::new("sh")
        .env(
            "DOCKER_HOST",
            format!("unix://{}/n0/docker.sock", t.path().display()),
        )
        .arg(fixtures().join("images/make-busybox-image.sh"))
        .arg(image)
        .output()
        .unwrap());
    t.docker(&["push", image]);
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
