//! End-to-end pipelines across the toolkit's binaries, as an operator or cron runs them.
//! The binaries are the workspace's own build (`cargo build --workspace` first; `make test` does).

use std::path::Path;
use std::process::Command;
use testkit::{
    bin, bin_dir, busybox_image, fixture_tree as fixture, json_lines, ok, top, ClusterGuard,
};

mod jobs;
mod swarm;

fn copy_dir(from: &Path, to: &Path) {
    assert!(Command::new("cp")
        .arg("-R")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success());
}

/// fixtures/reference/deployments (PaaSTA v0.86's output): the repo script, the soa tree and system config as
/// given; the written deployments.json equals PaaSTA's byte for byte.
#[test]
fn reference_deployments_example_is_byte_identical() {
    let example = top().join("fixtures/reference/deployments");
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo.git");
    ok(Command::new("sh")
        .arg(example.join("make-repo.sh"))
        .arg(&repo)
        .output()
        .unwrap());
    let show_ref = ok(Command::new("git")
        .arg("--git-dir")
        .arg(&repo)
        .args(["show-ref", "--head"])
        .output()
        .unwrap());
    assert_eq!(
        show_ref,
        std::fs::read_to_string(example.join("expected-show-ref.txt")).unwrap()
    );
    copy_dir(&example.join("soa"), &dir.path().join("soa"));
    let service_yaml = dir.path().join("soa/shopfront/service.yaml");
    let text = std::fs::read_to_string(&service_yaml)
        .unwrap()
        .replace("__REPO_PATH__", repo.to_str().unwrap());
    std::fs::write(&service_yaml, text).unwrap();
    let out = ok(bin("generate-deployments")
        .args(["-d"])
        .arg(dir.path().join("soa"))
        .args(["-s", "shopfront"])
        .env("PAASTA_SYSTEM_CONFIG_DIR", example.join("etc_paasta"))
        .output()
        .unwrap());
    assert!(out.contains("\"changed\":true"), "{out}");
    let written = std::fs::read(dir.path().join("soa/shopfront/deployments.json")).unwrap();
    let expected = std::fs::read(example.join("expected.json")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&written),
        String::from_utf8_lossy(&expected)
    );
    // The tree validates too.
    ok(bin("soa-validate")
        .arg("-y")
        .arg(dir.path().join("soa"))
        .output()
        .unwrap());
}

/// The demo's pipeline on the fixtures: validate, generate, deploy a new commit, regenerate,
/// stop an instance with a control tag on the deployed commit, regenerate.
#[test]
fn fixture_pipeline() {
    let dir = fixture();
    let soa = dir.path().join("soa");
    let run = |cmd: &mut Command| {
        ok(cmd
            .env("SOA_DIR", &soa)
            .env("PAASTA_SYSTEM_CONFIG_DIR", dir.path().join("etc_paasta"))
            .output()
            .unwrap())
    };
    run(&mut bin("soa-validate"));
    let out = run(bin("generate-deployments").arg("--all"));
    assert_eq!(out.lines().count(), 2, "{out}");
    let read = || -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(soa.join("example_service/deployments.json")).unwrap(),
        )
        .unwrap()
    };
    let first = read();
    let repo = dir.path().join("repos/example_service.git");
    let git = |args: &[&str]| {
        ok(Command::new("git")
            .arg("--git-dir")
            .arg(&repo)
            .args(args)
            .output()
            .unwrap())
        .trim()
        .to_string()
    };
    let head = git(&["rev-parse", "refs/heads/master"]);
    assert_ne!(first["v2"]["deployments"]["prod"]["git_sha"], head.as_str());
    git(&[
        "update-ref",
        "refs/tags/paasta-prod-20260110T000000-deploy",
        &head,
    ]);
    run(bin("generate-deployments").args(["-s", "example_service"]));
    assert_eq!(
        read()["v2"]["deployments"]["prod"]["git_sha"],
        head.as_str()
    );
    assert_eq!(
        read()["v2"]["controls"]["example_service:local.main"]["desired_state"],
        "start"
    );
    git(&[
        "update-ref",
        "refs/tags/paasta-local.main-20260110T010000-stop",
        &head,
    ]);
    let out = run(bin("generate-deployments").args(["-s", "example_service"]));
    assert!(out.contains("\"changed\":true"));
    assert_eq!(
        read()["v2"]["controls"]["example_service:local.main"],
        serde_json::json!({"desired_state": "stop", "force_bounce": "20260110T010000"})
    );
    assert_eq!(
        read()["v1"]["example_service:paasta-local.main"]["desired_state"],
        "stop"
    );
}

/// `tool | head` must end quietly with status 0: here the reader is gone before the first write.
#[test]
fn a_closed_stdout_pipe_ends_with_status_0() {
    let dir = fixture();
    for (name, args) in [
        ("generate-deployments", &["--all"][..]),
        ("soa-validate", &[][..]),
        ("soa-validate", &["--json"][..]),
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = bin(name)
            .args(args)
            .env("SOA_DIR", dir.path().join("soa"))
            .env("PAASTA_SYSTEM_CONFIG_DIR", dir.path().join("etc_paasta"))
            .stdout(writer)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{name}"
        );
    }
}

/// The cron glue on the fixture service (renamed test_e2e, cluster e2e) against the real
/// engine: bin/cron-setup-services.sh generates deployments.json and brings the long-running
/// instances up, sending setup_service events to Sensu; check-replication reads the same tasks
/// back; a stop control tag takes main down.
#[test]
fn cron_scripts_deploy_the_fixture_and_check_it() {
    let _guard = ClusterGuard::new("e2e");
    let dir = fixture();
    let soa = dir.path().join("soa");
    let etc = dir.path().join("etc_paasta");
    std::fs::remove_dir_all(soa.join("reports")).unwrap();
    std::fs::rename(soa.join("example_service"), soa.join("test_e2e")).unwrap();
    for kind in ["marathon", "chronos", "adhoc"] {
        let from = soa.join(format!("test_e2e/{kind}-local.yaml"));
        std::fs::rename(&from, soa.join(format!("test_e2e/{kind}-e2e.yaml"))).unwrap();
    }
    // The renamed service's job names its parent by the new name.
    let jobs = soa.join("test_e2e/chronos-e2e.yaml");
    let text = std::fs::read_to_string(&jobs).unwrap();
    std::fs::write(
        &jobs,
        text.replace("example_service.nightly", "test_e2e.nightly"),
    )
    .unwrap();
    std::fs::write(etc.join("cluster.json"), r#"{"cluster": "e2e"}"#).unwrap();
    std::fs::write(etc.join("clusters.json"), r#"{"clusters": ["e2e"]}"#).unwrap();
    std::fs::write(
        etc.join("docker_registry.json"),
        r#"{"docker_registry": "paasta-test"}"#,
    )
    .unwrap();
    std::fs::write(etc.join("volumes.json"), r#"{"volumes": []}"#).unwrap();
    let sensu = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = sensu.local_addr().unwrap().port();
    std::fs::write(
        etc.join("sensu.json"),
        format!(r#"{{"sensu_host": "127.0.0.1", "sensu_port": {port}}}"#),
    )
    .unwrap();
    let events = std::thread::spawn(move || {
        use std::io::BufRead;
        // One connection per run, one event a line.
        let (s, _) = sensu.accept().unwrap();
        std::io::BufReader::new(s)
            .lines()
            .take(2)
            .map(|l| serde_json::from_str::<serde_json::Value>(&l.unwrap()).unwrap())
            .collect::<Vec<_>>()
    });
    let env = |c: &mut Command| {
        c.env("SOA_DIR", &soa)
            .env("PAASTA_SYSTEM_CONFIG_DIR", &etc)
            .env("SETUP_SERVICE_LOCK_DIR", dir.path().join("locks"))
            .env("BIN_DIR", bin_dir());
    };
    let mut gd = bin("generate-deployments");
    env(&mut gd);
    ok(gd.arg("--all").output().unwrap());
    let deployments: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(soa.join("test_e2e/deployments.json")).unwrap(),
    )
    .unwrap();
    let images: Vec<String> = ["prod", "canary"]
        .iter()
        .map(|g| {
            format!(
                "paasta-test/services-test_e2e:paasta-{}",
                deployments["v2"]["deployments"][g]["git_sha"]
                    .as_str()
                    .unwrap()
            )
        })
        .collect();
    busybox_image(&images.iter().map(String::as_str).collect::<Vec<_>>());
    let cron = || {
        let mut c = Command::new("sh");
        c.arg(top().join("bin/cron-setup-services.sh"));
        env(&mut c);
        // The fixture's scheduled jobs have lines of their own; this test is about the
        // long-running instances.
        json_lines(&ok(c.output().unwrap()))
            .into_iter()
            .filter(|l| l.get("job").is_none())
            .collect::<Vec<_>>()
    };
    let first = cron();
    assert_eq!(first.len(), 2, "{first:?}");
    let main = first.iter().find(|l| l["instance"] == "main").unwrap();
    assert_eq!(main["actions"].as_array().unwrap().len(), 3, "{main}");
    let got = events.join().unwrap();
    assert_eq!(got[0]["name"], "setup_service.test_e2e.main");
    assert_eq!(got[0]["status"], 0);
    assert_eq!(got[0]["team"], "platform");
    // main's health check (smartstack: http /status, every 10 s) passes on its first probe; its
    // tasks count as happy after a minute up (bounce_health_params.min_task_uptime).
    let start = std::time::Instant::now();
    loop {
        let lines = cron();
        if lines.iter().all(|l| l["happy"] == l["desired"]) {
            break;
        }
        assert!(
            start.elapsed().as_secs() < 60,
            "not happy within a minute: {lines:?}"
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    // check-replication wants "over" a minute, counted in whole seconds.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let mut check = bin("check-replication");
    env(&mut check);
    let events = json_lines(&ok(check.arg("--dry-run").output().unwrap()));
    let names: Vec<&str> = events.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "check_paasta_services_replication.test_e2e.main",
            "check_paasta_services_replication.test_e2e.canary"
        ]
    );
    // main counts a task as happy once it has been up a minute (bounce_health_params), as
    // check-replication does: both agree.
    assert_eq!(
        events[0]["output"],
        "Service test_e2e.main has 3 out of 3 expected instances available!\n(threshold: 50%)"
    );
    assert_eq!(events[0]["status"], 0);
    let head = deployments["v2"]["deployments"]["prod"]["git_sha"]
        .as_str()
        .unwrap()
        .to_string();
    ok(Command::new("git")
        .arg("--git-dir")
        .arg(dir.path().join("repos/example_service.git"))
        .args([
            "update-ref",
            "refs/tags/paasta-e2e.main-20260110T010000-stop",
            &head,
        ])
        .output()
        .unwrap());
    let lines = cron();
    let main = lines.iter().find(|l| l["instance"] == "main").unwrap();
    assert_eq!(main["desired"], 0);
    let running = String::from_utf8(
        Command::new("docker")
            .args([
                "ps",
                "-q",
                "--filter",
                "label=paasta.cluster=e2e",
                "--filter",
                "label=paasta_instance=main",
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        running.trim().is_empty(),
        "main still runs after a stop tag"
    );
    let _ = Command::new("docker")
        .args(["rmi", "-f"])
        .args(&images)
        .output();
}
