//! End-to-end pipelines across the toolkit's binaries, as an operator or cron runs them.
//! The binaries are the workspace's own build (`cargo build --workspace` first; `make test` does).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn top() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A workspace binary, next to this test's own build directory.
fn bin(name: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap(); // target/<profile>/deps -> target/<profile>
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace` first",
        path.display()
    );
    Command::new(path)
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A scratch copy of the fixtures with their git repositories built (fixtures/setup.sh).
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(Command::new("sh")
        .arg(top().join("fixtures/setup.sh"))
        .arg(dir.path())
        .output()
        .unwrap());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    assert!(Command::new("cp")
        .arg("-R")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success());
}

/// shared/reference/examples/deployments: the repo script, the soa tree and system config as
/// given; the written deployments.json equals PaaSTA's byte for byte.
#[test]
fn reference_deployments_example_is_byte_identical() {
    let example = top().join("../shared/reference/examples/deployments");
    if !example.exists() {
        panic!(
            "{} is missing: the shared reference must sit beside the checkout",
            example.display()
        );
    }
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
