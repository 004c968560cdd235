//! hacheck as a host runs it: the spool API the drain method speaks, the checks HAProxy asks,
//! and drains that survive a restart.

use std::process::{Child, Command, Stdio};
use std::time::Duration;
use testkit::free_port;

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(spool: &std::path::Path) -> Server {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_hacheck"))
            .args([
                "--port",
                &port.to_string(),
                "--check-timeout",
                "1",
                "--spool-dir",
            ])
            .arg(spool)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, port }
    }

    fn call(&self, method: &str, path: &str, form: Option<&str>) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let r = match (method, form) {
            ("POST", Some(f)) => agent
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .send(f),
            _ => agent.get(&url).call(),
        };
        let mut r = r.unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn drains_are_kept_across_a_restart_and_checks_say_404_while_drained() {
    let spool = tempfile::tempdir().unwrap();
    // A task answering its health check on `task`.
    let task = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let task_port = task.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut c in task.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    let spool_path = format!("/spool/svc.main/{task_port}/status");
    let check_path = format!("/http/svc.main/{task_port}/status");
    let s = Server::start(spool.path());
    assert_eq!(s.call("GET", "/status", None).0, 200);
    assert_eq!(
        s.call("GET", &spool_path, None),
        (200, "Service svc.main in up state".into())
    );
    assert_eq!(
        s.call("GET", &check_path, None).0,
        200,
        "the task's own check passes"
    );
    assert_eq!(
        s.call("GET", &format!("/tcp/svc.main/{task_port}/"), None)
            .0,
        200
    );

    let (code, _) = s.call(
        "POST",
        &spool_path,
        Some("status=down&expiration=4000000000&reason=Drained+by+test"),
    );
    assert_eq!(code, 200);
    let (code, text) = s.call("GET", &spool_path, None);
    assert_eq!(code, 503);
    assert!(
        text.starts_with("Service svc.main in down state since ")
            && text.ends_with(" until 4000000000: Drained by test"),
        "{text}"
    );
    assert_eq!(
        s.call("GET", &check_path, None).0,
        404,
        "drained: out of rotation at once"
    );
    assert_eq!(
        s.call(
            "GET",
            &format!("/spool/svc.main/{}/status", task_port + 1),
            None
        )
        .0,
        200,
        "another port is not drained"
    );

    // A restart keeps the drain.
    drop(s);
    let s = Server::start(spool.path());
    assert_eq!(s.call("GET", &spool_path, None).0, 503);
    assert_eq!(s.call("POST", &spool_path, Some("status=up")).0, 200);
    assert_eq!(s.call("GET", &spool_path, None).0, 200);
    // An expired drain is no drain.
    s.call(
        "POST",
        &spool_path,
        Some("status=down&expiration=1&reason=old"),
    );
    assert_eq!(s.call("GET", &spool_path, None).0, 200);

    // A task that does not answer fails its check (503), drained or not it never gets a 200.
    let dead = free_port();
    assert_eq!(
        s.call("GET", &format!("/http/svc.main/{dead}/status"), None)
            .0,
        503
    );
    assert_eq!(
        s.call("GET", &format!("/tcp/svc.main/{dead}/"), None).0,
        503
    );
    // Bad requests are said so.
    assert_eq!(s.call("POST", &spool_path, Some("status=sideways")).0, 400);
    assert_eq!(
        s.call("POST", &spool_path, Some("status=down&expiration=soon"))
            .0,
        400
    );
    assert_eq!(s.call("GET", "/elsewhere", None).0, 404);
}
