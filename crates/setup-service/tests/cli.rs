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
