//! The HTTP/1.1 the test servers speak: one request per connection (`Connection: close`),
//! each on a thread of its own, enough for ureq and the project's clients.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

/// A listener on `port` of loopback (0: any free one).
pub(crate) fn bind(port: u16) -> TcpListener {
    TcpListener::bind(("127.0.0.1", port)).expect("a loopback port")
}

/// Answers every connection of `listener` with `answer(method, path with query, headers,
/// body)` → (status, content type, body), in the background.
pub(crate) fn serve<F>(listener: TcpListener, answer: F)
where
    F: Fn(&str, &str, &[(String, String)], &str) -> (u16, &'static str, String)
        + Send
        + Sync
        + 'static,
{
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let answer = answer.clone();
            std::thread::spawn(move || {
                let Some((method, path, headers, body)) = read_request(&conn) else {
                    return;
                };
                let (status, kind, text) = answer(&method, &path, &headers, &body);
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            });
        }
    });
}

type Parsed = (String, String, Vec<(String, String)>, String);

fn read_request(conn: &TcpStream) -> Option<Parsed> {
    let mut r = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((
        method,
        path,
        headers,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}
