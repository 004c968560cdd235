//! setup-service's refusals, which need no engine.

use std::process::Command;

#[test]
fn an_unreadable_root_is_an_error_not_an_instance_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nowhere");
    let out = Command::new(env!("CARGO_BIN_EXE_setup-service"))
        .args(["-c", "testcluster", "--dry-run", "--all", "-d"])
        .arg(&root)
        .env("PAASTA_SYSTEM_CONFIG_DIR", dir.path())
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "setup-service: error: {}: No such file or directory (os error 2)",
            root.display()
        )
    );
    let usage = Command::new(env!("CARGO_BIN_EXE_setup-service"))
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

/// A tree of two services on the snapshot backend (a saved cluster state, --dry-run): a
/// kubernetes instance is set up as marathon ones are; apps of instances no longer configured
/// are deleted, except in a service with files of a type not run here, which may describe them.
#[test]
fn kubernetes_instances_run_and_unknown_file_types_keep_their_services_apps() {
    let dir = tempfile::tempdir().unwrap();
    let (soa, etc) = (dir.path().join("soa"), dir.path().join("etc"));
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("cluster.json"), r#"{"cluster": "kc"}"#).unwrap();
    let sha = "c".repeat(40);
    for (service, file, text) in [
        (
            "test_kube",
            "kubernetes-kc.yaml",
            "web:\n  instances: 2\n  deploy_group: prod\n  namespace: paasta\n",
        ),
        ("test_eks", "eks-kc.yaml", "web:\n  cpus: 1\n"),
    ] {
        let s = soa.join(service);
        std::fs::create_dir_all(&s).unwrap();
        std::fs::write(s.join("service.yaml"), "description: d\n").unwrap();
        std::fs::write(s.join("deploy.yaml"), "pipeline:\n  - step: prod\n").unwrap();
        std::fs::write(s.join(file), text).unwrap();
        std::fs::write(
            s.join("deployments.json"),
            format!(
                r#"{{"v1": {{}}, "v2": {{"deployments": {{"prod": {{"docker_image": "services-{service}:paasta-{sha}", "git_sha": "{sha}"}}}}, "controls": {{}}}}}}"#
            ),
        )
        .unwrap();
    }
    let app = |service: &str, instance: &str| {
        format!(
            r#"{{"id": "{service}.{instance}.git1.config1", "service": "{service}", "instance": "{instance}", "git_sha": "1", "config_hash": "1", "tasks": []}}"#
        )
    };
    let state = dir.path().join("state.json");
    std::fs::write(
        &state,
        format!(
            r#"{{"apps": [{}, {}], "runs": []}}"#,
            app("test_kube", "gone"),
            app("test_eks", "web")
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_setup-service"))
        .args(["--all", "--dry-run", "-d"])
        .arg(&soa)
        .arg(format!("--backend=snapshot:{}", state.display()))
        .env("PAASTA_SYSTEM_CONFIG_DIR", &etc)
        .env("SETUP_SERVICE_LOCK_DIR", dir.path().join("locks"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines = testkit::json_lines(&stdout);
    let of = |s: &str, i: &str| {
        lines
            .iter()
            .find(|l| l["service"] == s && l["instance"] == i)
            .unwrap_or_else(|| panic!("no line for {s}.{i}: {stdout}"))
            .clone()
    };
    let web = of("test_kube", "web");
    assert_eq!(web["desired"], 2, "{web}");
    assert_eq!(web["actions"][0]["action"], "launch", "{web}");
    let gone = of("test_kube", "gone");
    assert!(gone["actions"].to_string().contains("delete_app"), "{gone}");
    let kept = of("test_eks", "web");
    assert_eq!(kept["actions"], serde_json::json!([]), "{kept}");
    assert!(
        kept["skipped"].as_str().unwrap().contains("eks-kc.yaml"),
        "{kept}"
    );
}
