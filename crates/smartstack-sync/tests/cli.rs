//! smartstack-sync on a saved cluster state (the snapshot backend): what it writes, what it
//! refuses, and that a configuration HAProxy rejects is never installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A tree with service test_web (instance main, registered in test_web.main, plus one that
/// registers in a namespace smartstack.yaml lacks) and a state with two tasks of main.
fn tree(dir: &Path) -> (PathBuf, PathBuf) {
    let (soa, etc) = (dir.join("soa"), dir.join("etc"));
    std::fs::create_dir_all(soa.join("test_web")).unwrap();
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("cluster.json"), r#"{"cluster": "c1"}"#).unwrap();
    let w = |f: &str, t: &str| std::fs::write(soa.join("test_web").join(f), t).unwrap();
    w("service.yaml", "description: d\n");
    w("smartstack.yaml", "main:\n  proxy_port: 20123\n  mode: http\n  healthcheck_uri: /health\ninternal:\n  mode: tcp\n");
    w(
        "marathon-c1.yaml",
        "main:\n  instances: 2\n  deploy_group: prod\nlost:\n  deploy_group: prod\n  registrations: [test_web.nope]\n",
    );
    let task = |id: &str, port: u16| {
        format!(
            r#"{{"id": "{id}", "name": "{id}", "host": "127.0.0.1", "port": {port}, "state": "running", "health": "healthy", "started_at": 1, "restarts": 0}}"#
        )
    };
    std::fs::write(
        dir.join("state.json"),
        format!(
            r#"{{"apps": [{{"id": "test_web.main.git1.config1", "service": "test_web", "instance": "main", "git_sha": "1", "config_hash": "1", "tasks": [{}, {}]}}], "runs": []}}"#,
            task("t1", 31001),
            task("t2", 31002)
        ),
    )
    .unwrap();
    (soa, etc)
}

fn sync(dir: &Path, args: &[&str]) -> Output {
    let (soa, etc) = (dir.join("soa"), dir.join("etc"));
    Command::new(env!("CARGO_BIN_EXE_smartstack-sync"))
        .arg("-d")
        .arg(&soa)
        .arg(format!(
            "--backend=snapshot:{}",
            dir.join("state.json").display()
        ))
        .arg("--haproxy-config")
        .arg(dir.join("haproxy/haproxy.cfg"))
        .args(args)
        .env("PAASTA_SYSTEM_CONFIG_DIR", &etc)
        .output()
        .unwrap()
}

#[test]
fn dry_run_prints_the_config_and_a_missing_namespace_is_named() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let out = sync(dir.path(), &["--dry-run"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a registration could not be routed"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "frontend test_web.main\n    mode http\n    bind 127.0.0.1:20123\n",
        "uri-lf /http/test_web.main/%[srv_name,field(2,_)]/health\n",
        "server 127.0.0.1_31001 127.0.0.1:31001\n    server 127.0.0.1_31002 127.0.0.1:31002\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(
        !text.contains("internal"),
        "a namespace without proxy_port is not load balanced"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("test_web/smartstack.yaml: instance test_web.lost: no namespace nope in smartstack.yaml, but instance test_web.lost registers in test_web.nope"),
        "{err}"
    );
    assert!(
        !dir.path().join("haproxy/haproxy.cfg").exists(),
        "a dry run writes nothing"
    );
}

#[test]
fn a_config_haproxy_rejects_is_never_installed() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    // The first sync installs (the checker accepts; `true` stands in for HAProxy).
    let out = sync(dir.path(), &["--haproxy", "true"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["namespace"], "test_web.main");
    assert_eq!(line["servers_total"], 2);
    assert_eq!(line["servers_up"], 2);
    assert_eq!(line["changed"], true);
    let cfg = dir.path().join("haproxy/haproxy.cfg");
    let before = std::fs::read_to_string(&cfg).unwrap();
    // A changed state, and a checker that rejects: the old file stays, exit 2.
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    std::fs::write(
        dir.path().join("state.json"),
        state.replace("31002", "31009"),
    )
    .unwrap();
    let out = sync(dir.path(), &["--haproxy", "false"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("HAProxy rejected the new configuration"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("haproxy"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temp file left: {leftovers:?}");
}
