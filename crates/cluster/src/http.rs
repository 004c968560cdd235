//! A small HTTP/1.1 client for drain endpoints: one request per connection, a connect timeout
//! and a total timeout, so a slow or dead endpoint costs seconds, never a stalled deploy.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// `http://host[:port]/path` split; only plain http is spoken by drain endpoints.
fn split_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("{url}: bad port {p:?}"))?,
        ),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    Ok((
        host.trim_matches(['[', ']']).to_string(),
        port,
        path.to_string(),
    ))
}

/// Sends `method url` with an optional form body; the status and body, or why it failed.
pub async fn request(
    method: &str,
    url: &str,
    form: Option<&str>,
    timeouts: Timeouts,
) -> Result<Response, String> {
    let (host, port, path) = split_url(url)?;
    let work = async {
        let mut stream =
            tokio::time::timeout(timeouts.connect, TcpStream::connect((host.as_str(), port)))
                .await
                .map_err(|_| {
                    format!(
                        "{method} {url}: no connection within {} s",
                        timeouts.connect.as_secs_f64()
                    )
                })?
                .map_err(|e| format!("{method} {url}: {e}"))?;
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nUser-Agent: paasta-drain\r\n");
        match form {
            Some(body) => req.push_str(&format!("Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}", body.len())),
            None => req.push_str(if method == "GET" { "\r\n" } else { "Content-Length: 0\r\n\r\n" }),
        }
        stream
            .write_all(req.as_bytes())
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        parse(&raw).ok_or_else(|| format!("{method} {url}: not an HTTP answer"))
    };
    tokio::time::timeout(timeouts.total, work)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{method} {url}: no answer within {} s",
                timeouts.total.as_secs_f64()
            ))
        })
}

fn parse(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let status = head
        .lines()
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let mut body = raw[split + 4..].to_vec();
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
    Some(Response {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(
            std::str::from_utf8(&data[..line_end])
                .ok()?
                .split(';')
                .next()?
                .trim(),
            16,
        )
        .ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Form-encodes one value (`application/x-www-form-urlencoded`).
pub fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_answers_and_encoding() {
        assert_eq!(
            split_url("http://10.0.0.1:6666/spool/a/1/status").unwrap(),
            ("10.0.0.1".into(), 6666, "/spool/a/1/status".into())
        );
        assert_eq!(split_url("http://h").unwrap(), ("h".into(), 80, "/".into()));
        assert!(split_url("https://h/").is_err());
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap(),
            Response {
                status: 200,
                body: "ok".into()
            }
        );
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap().body, "abcde");
        assert_eq!(
            form_encode("Drained by Paasta: x/y"),
            "Drained+by+Paasta%3A+x%2Fy"
        );
    }

    #[test]
    fn a_silent_endpoint_costs_the_total_timeout_only() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            // Accepts and never answers.
            tokio::spawn(async move {
                let mut held = Vec::new();
                loop {
                    let (s, _) = listener.accept().await.unwrap();
                    held.push(s);
                }
            });
            let started = std::time::Instant::now();
            let t = Timeouts {
                connect: Duration::from_millis(200),
                total: Duration::from_millis(300),
            };
            let err = request("GET", &format!("http://127.0.0.1:{port}/x"), None, t)
                .await
                .unwrap_err();
            assert!(err.contains("no answer within 0.3 s"), "{err}");
            assert!(started.elapsed() < Duration::from_secs(1));
        });
    }
}
