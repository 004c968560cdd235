//! Sends Sensu events to a Sensu client's socket: one connection per run, one JSON object and a
//! newline per event, all within one time budget, so a dead or stuck Sensu never holds up a
//! deploy or a check of 10,000 instances. Once the budget is spent or the connection fails,
//! the rest of the run's events are dropped (and counted), never waited for.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How long connecting may take, within the run's budget.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("sending Sensu events to {address}: {message}")]
pub struct SensuError {
    pub address: String,
    pub message: String,
}

/// A run's sender: connects on the first event, gives up for good on the first failure.
pub struct Sender {
    address: String,
    deadline: Instant,
    stream: Option<TcpStream>,
    /// Set once the sender gave up; later events are only counted.
    failed: bool,
    pub sent: usize,
    pub dropped: usize,
}

impl Sender {
    /// A sender to `address` (host:port) that spends at most `budget` in all.
    pub fn new(address: &str, budget: Duration) -> Sender {
        Sender {
            address: address.to_string(),
            deadline: Instant::now() + budget,
            stream: None,
            failed: false,
            sent: 0,
            dropped: 0,
        }
    }

    fn fail(&mut self, message: String) -> SensuError {
        self.failed = true;
        self.stream = None;
        self.dropped += 1;
        SensuError {
            address: self.address.clone(),
            message,
        }
    }

    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// Sends one event. The error comes once, when the sender gives up; after that events are
    /// dropped quietly (see `dropped`).
    pub fn send(&mut self, event: &impl serde::Serialize) -> Result<(), SensuError> {
        if self.failed {
            self.dropped += 1;
            return Ok(());
        }
        let Some(left) = self.remaining() else {
            return Err(self.fail("the time allowed for Sensu in this run ran out".into()));
        };
        if self.stream.is_none() {
            let addr = match self.address.to_socket_addrs().map(|mut a| a.next()) {
                Ok(Some(a)) => a,
                Ok(None) => return Err(self.fail("it resolves to no address".into())),
                Err(e) => return Err(self.fail(e.to_string())),
            };
            match TcpStream::connect_timeout(&addr, left.min(CONNECT_TIMEOUT)) {
                Ok(s) => self.stream = Some(s),
                Err(e) => return Err(self.fail(format!("connecting: {e}"))),
            }
        }
        let mut line = serde_json::to_vec(event).expect("an event serializes");
        line.push(b'\n');
        let Some(left) = self.remaining() else {
            return Err(self.fail("the time allowed for Sensu in this run ran out".into()));
        };
        let stream = self.stream.as_mut().expect("connected above");
        // A write that blocks (a peer that stopped reading) ends at the deadline.
        let written = stream
            .set_write_timeout(Some(left))
            .and_then(|()| stream.write_all(&line));
        match written {
            Ok(()) => {
                self.sent += 1;
                Ok(())
            }
            Err(e) => Err(self.fail(format!("writing: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    #[test]
    fn events_share_one_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let reader = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            std::io::BufReader::new(conn)
                .lines()
                .map(|l| l.unwrap())
                .collect::<Vec<_>>()
        });
        let mut s = Sender::new(&address, Duration::from_secs(5));
        for i in 0..3 {
            s.send(&serde_json::json!({ "n": i })).unwrap();
        }
        drop(s);
        assert_eq!(
            reader.join().unwrap(),
            [r#"{"n":0}"#, r#"{"n":1}"#, r#"{"n":2}"#]
        );
    }

    #[test]
    fn a_peer_that_never_reads_costs_at_most_the_budget() {
        // Bound but never accepted: the kernel completes the connection and buffers until full.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let started = Instant::now();
        let mut s = Sender::new(&address, Duration::from_millis(500));
        let big = serde_json::json!({ "output": "x".repeat(64 * 1024) });
        let mut errors = 0;
        for _ in 0..1000 {
            errors += usize::from(s.send(&big).is_err());
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(errors, 1, "one error, then quiet drops");
        assert_eq!(s.sent + s.dropped, 1000);
        drop(listener);
    }
}
