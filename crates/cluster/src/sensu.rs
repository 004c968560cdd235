//! Sends Sensu events to a Sensu client's socket: one JSON object and a newline per connection,
//! within a short time limit, so a dead Sensu never holds up a deploy.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

pub fn send(address: &str, event: &impl serde::Serialize, timeout: Duration) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("sending a Sensu event to {address}: {e}");
    let addr = address
        .to_socket_addrs()
        .map_err(fail)?
        .next()
        .ok_or_else(|| format!("sending a Sensu event: {address} resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(fail)?;
    stream.set_write_timeout(Some(timeout)).map_err(fail)?;
    let mut line =
        serde_json::to_string(event).map_err(|e| format!("sending a Sensu event: {e}"))?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(fail)
}
