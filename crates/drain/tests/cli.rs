//! drain as a user runs it, against a hacheck-compatible spool server and an http drain
//! endpoint, both on loopback in this test process.

use assert_cmd::Command;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::now;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
struct Spool {
    /// (service, port) → (since, until, reason)
    down: HashMap<(String, String), (f64, f64, String)>,
    remote_changes_disabled: bool,
    posts: usize,
}

/// Serves `handler(method, path, body) -> (status, body)` on a loopback port, on its own thread.
fn serve(handler: impl Fn(&str, &str, &str) -> (u16, String) + Send + Sync + 'static) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Read the head, then Content-Length bytes of body.
                    loop {
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(h) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..h]).to_string();
                            let len = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())).unwrap_or(0);
                            if buf.len() >= h + 4 + len {
                                let mut first = head.lines().next().unwrap().split_whitespace();
                                let (method, path) = (first.next().unwrap().to_string(), first.next().unwrap().to_string());
                                let body = String::from_utf8_lossy(&buf[h + 4..h + 4 + len]).to_string();
                                let (status, text) = handler(&method, &path, &body);
                                let _ = s.write_all(format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{text}", text.len()).as_bytes()).await;
                                break;
                            }
                        }
                    }
                });
            }
        });
    });
    rx.recv().unwrap()
}

fn form_value(body: &str, key: &str) -> Option<String> {
    body.split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .map(|v| v.replace('+', " ").replace("%3A", ":").replace("%2F", "/"))
}

/// A hacheck spool: GET/POST /spool/<service>/<port>/status.
fn hacheck(state: Arc<Mutex<Spool>>) -> u16 {
    serve(move |method, path, body| {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if parts.len() != 4 || parts[0] != "spool" || parts[3] != "status" {
            return (404, "Not Found".into());
        }
        let key = (parts[1].to_string(), parts[2].to_string());
        let mut st = state.lock().unwrap();
        match method {
            "GET" => match st.down.get(&key) {
                Some((since, until, reason)) if *until > now() => (
                    503,
                    format!(
                        "Service {} in down state since {since} until {until}: {reason}",
                        key.0
                    ),
                ),
                _ => (200, format!("Service {} in up state", key.0)),
            },
            "POST" => {
                if st.remote_changes_disabled {
                    return (403, "Remote changes are disabled".into());
                }
                st.posts += 1;
                match form_value(body, "status").as_deref() {
                    Some("up") => {
                        st.down.remove(&key);
                        (200, String::new())
                    }
                    Some("down") => {
                        let until = form_value(body, "expiration")
                            .and_then(|e| e.parse().ok())
                            .unwrap_or(f64::MAX);
                        let reason = form_value(body, "reason").unwrap_or_default();
                        st.down.insert(key, (now(), until, reason));
                        (200, String::new())
                    }
                    _ => (400, "Bad status".into()),
                }
            }
            _ => (405, String::new()),
        }
    })
}

fn drain(args: &[&str]) -> (i32, Value, String) {
    let out = Command::cargo_bin("drain")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn task_args<'a>(hport: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "--service",
        "svc",
        "--instance",
        "main",
        "--host",
        "127.0.0.1",
        "--port",
        "31005",
        "--param",
        hport,
    ];
    v.extend_from_slice(extra);
    v
}

#[test]
fn hacheck_down_status_safe_to_kill_up() {
    let state = Arc::new(Mutex::new(Spool::default()));
    let port = hacheck(state.clone());
    let hp = format!("hacheck_port={port}");
    let args = |action: &'static str| -> Vec<String> {
        let mut v = vec![action.to_string()];
        v.extend(
            task_args(&hp, &["--param", "delay=0.5"])
                .iter()
                .map(|s| s.to_string()),
        );
        v
    };
    let run = |action: &'static str| {
        let a = args(action);
        drain(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (code, v, _) = run("status");
    assert_eq!((code, v["draining"].as_bool()), (0, Some(false)));
    let (code, v, err) = run("down");
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["action"], "down");
    let (since, until, reason) =
        state.lock().unwrap().down[&("svc.main".to_string(), "31005".to_string())].clone();
    // expiration = now + delay × 10
    assert!((until - since - 5.0).abs() < 1.0, "{since} {until}");
    assert_eq!(reason, "Drained by Paasta: svc.main");
    assert_eq!(run("status").1["draining"], true);
    let (code, v, _) = run("safe-to-kill");
    assert_eq!(
        (code, v["safe_to_kill"].as_bool()),
        (1, Some(false)),
        "down for less than the delay"
    );
    std::thread::sleep(Duration::from_millis(600));
    let (code, v, _) = run("safe-to-kill");
    assert_eq!(
        (code, v["safe_to_kill"].as_bool(), v["action"].as_str()),
        (0, Some(true), Some("safe-to-kill"))
    );
    assert_eq!(run("up").0, 0);
    assert_eq!(run("status").1["draining"], false);
    assert!(state.lock().unwrap().down.is_empty());
}

#[test]
fn every_registration_must_be_down() {
    let state = Arc::new(Mutex::new(Spool::default()));
    let port = hacheck(state.clone());
    let hp = format!("hacheck_port={port}");
    let regs = [
        "--registration",
        "svc.main",
        "--registration",
        "svc.alt",
        "--param",
        "delay=0",
    ];
    let mut down = vec!["down"];
    down.extend(task_args(&hp, &regs));
    assert_eq!(drain(&down).0, 0);
    assert_eq!(state.lock().unwrap().down.len(), 2);
    // One registration comes back up (e.g. an operator): no longer safe.
    state
        .lock()
        .unwrap()
        .down
        .remove(&("svc.alt".to_string(), "31005".to_string()));
    let mut safe = vec!["safe-to-kill"];
    safe.extend(task_args(&hp, &regs));
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(drain(&safe).0, 1);
}

#[test]
fn an_unreachable_or_silent_hacheck_is_an_error_never_a_safe() {
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hp = format!("hacheck_port={closed}");
    for action in ["safe-to-kill", "down", "status"] {
        let mut a = vec![action];
        a.extend(task_args(&hp, &[]));
        let (code, v, err) = drain(&a);
        assert_eq!(code, 2, "{action}: {err}");
        assert_eq!(v, Value::Null, "nothing on stdout");
        assert!(
            err.contains("drain method hacheck: POST") || err.contains("drain method hacheck: GET"),
            "{err}"
        );
    }
    // Accepts connections and never answers: the total timeout bounds it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!("hacheck_port={}", listener.local_addr().unwrap().port());
    let started = Instant::now();
    let mut a = vec!["safe-to-kill"];
    a.extend(task_args(
        &silent,
        &["--timeout", "0.5", "--connect-timeout", "0.5"],
    ));
    let (code, _, err) = drain(&a);
    assert_eq!(code, 2);
    assert!(err.contains("no answer within 0.5 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(listener);
}

#[test]
fn hacheck_refusals_are_reported() {
    let state = Arc::new(Mutex::new(Spool {
        remote_changes_disabled: true,
        ..Default::default()
    }));
    let port = hacheck(state);
    let hp = format!("hacheck_port={port}");
    let mut a = vec!["down"];
    a.extend(task_args(&hp, &[]));
    let (code, _, err) = drain(&a);
    assert_eq!(code, 2);
    assert!(
        err.contains("answered 403: Remote changes are disabled"),
        "{err}"
    );
}

#[test]
fn http_method_urls_methods_and_codes() {
    let draining = Arc::new(Mutex::new(false));
    let d = draining.clone();
    let port = serve(move |method, path, _| {
        let mut dr = d.lock().unwrap();
        match (method, path) {
            ("POST", "/svc/main/31005/drain") => {
                *dr = true;
                (202, String::new())
            }
            ("POST", "/svc/main/31005/undrain") => {
                *dr = false;
                (204, String::new())
            }
            ("GET", "/draining/main") => (if *dr { 200 } else { 404 }, String::new()),
            ("GET", "/safe/127.0.0.1") => (if *dr { 200 } else { 409 }, String::new()),
            _ => (500, format!("unexpected {method} {path}")),
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    let params = [
        format!("drain.url_format={base}/{{service}}/{{instance}}/{{port}}/drain"),
        "drain.method=POST".into(),
        "drain.success_codes=202".into(),
        format!("stop_draining.url_format={base}/{{service}}/{{instance}}/{{port}}/undrain"),
        "stop_draining.method=post".into(),
        format!("is_draining.url_format={base}/draining/{{nerve_ns}}"),
        "is_draining.success_codes=200".into(),
        format!("is_safe_to_kill.url_format={base}/safe/{{host}}"),
        "is_safe_to_kill.success_codes=200,201".into(),
    ];
    let run = |action: &str| {
        let mut a: Vec<String> = vec![
            action.into(),
            "--method".into(),
            "http".into(),
            "--service".into(),
            "svc".into(),
            "--instance".into(),
            "main".into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "31005".into(),
        ];
        for p in &params {
            a.push("--param".into());
            a.push(p.clone());
        }
        drain(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert_eq!(run("status").1["draining"], false);
    assert_eq!(run("safe-to-kill").0, 1);
    assert_eq!(run("down").0, 0);
    assert_eq!(run("status").1["draining"], true);
    assert_eq!(run("safe-to-kill").0, 0);
    assert_eq!(run("up").0, 0);
    assert_eq!(run("status").1["draining"], false);
}

#[test]
fn noop_test_and_bad_arguments() {
    let (code, v, _) = drain(&[
        "safe-to-kill",
        "--method",
        "noop",
        "--service",
        "s",
        "--instance",
        "i",
        "--host",
        "h",
        "--port",
        "1",
    ]);
    assert_eq!((code, v["safe_to_kill"].as_bool()), (0, Some(true)));
    let dir = tempfile::tempdir().unwrap();
    let state = format!("state={}", dir.path().join("drain.json").display());
    let t = |action: &str| {
        drain(&[
            action,
            "--method",
            "test",
            "--param",
            &state,
            "--service",
            "s",
            "--instance",
            "i",
            "--host",
            "h",
            "--port",
            "1",
        ])
    };
    assert_eq!(t("safe-to-kill").0, 1);
    assert_eq!(t("down").0, 0);
    assert_eq!(t("safe-to-kill").0, 0);
    let (code, _, err) = drain(&[
        "down",
        "--method",
        "http",
        "--service",
        "s",
        "--instance",
        "i",
        "--host",
        "h",
        "--port",
        "1",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("drain_method_params.drain is missing"),
        "{err}"
    );
    let (code, _, err) = drain(&[
        "down",
        "--method",
        "carrier-pigeon",
        "--service",
        "s",
        "--instance",
        "i",
        "--host",
        "h",
        "--port",
        "1",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("drain_method is \"carrier-pigeon\", expected noop, hacheck, http or test"),
        "{err}"
    );
}
