//! ssh to cloud servers: one master connection per server (the system's ssh client through the
//! `openssh` crate), every command a session on it. Host keys are not checked: servers are new,
//! made by us, and reached on the deployment's own network, as wr does.
//!
//! Files go over a session's stdin (`cat` into a temporary name, then a rename), so a copy that
//! breaks off leaves no half-written file, and its mode and mtime are set before the rename.

use anyhow::{anyhow, bail, Context, Result};
use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

pub struct Remote {
    pub session: Arc<Session>,
    pub user: String,
    pub host: String,
}

/// `s` quoted for a POSIX shell.
pub fn quote(s: &str) -> String {
    shell_escape::unix::escape(s.into()).into_owned()
}

impl Remote {
    /// Connects, retrying until `patience` has passed (a new server's sshd comes up late).
    pub async fn connect(user: &str, host: &str, key: &Path, patience: Duration) -> Result<Remote> {
        let start = Instant::now();
        let mut b = SessionBuilder::default();
        b.user(user.to_string())
            .keyfile(key)
            .known_hosts_check(KnownHosts::Accept)
            .user_known_hosts_file("/dev/null")
            .connect_timeout(Duration::from_secs(15))
            .server_alive_interval(Duration::from_secs(15));
        loop {
            match b.connect(host).await {
                Ok(s) => {
                    return Ok(Remote {
                        session: Arc::new(s),
                        user: user.to_string(),
                        host: host.to_string(),
                    })
                }
                Err(e) if start.elapsed() >= patience => {
                    bail!(
                        "ssh to {user}@{host} failed for {:.0} s: {e}",
                        start.elapsed().as_secs_f64()
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Runs `script` with `sh -c`; its stdout, or an error with its exit status and stderr.
    pub async fn run(&self, script: &str) -> Result<String> {
        let out = self
            .session
            .command("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("ssh to {}@{}", self.user, self.host))?;
        if !out.status.success() {
            bail!(
                "`{}` on {} ended with {}: {}",
                script.lines().next().unwrap_or_default(),
                self.host,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Whether a session still opens and runs (the master connection is alive).
    pub async fn alive(&self, timeout: Duration) -> bool {
        matches!(
            tokio::time::timeout(timeout, self.run("true")).await,
            Ok(Ok(_))
        )
    }

    /// Writes what `from` reads to `path` (relative paths are under the login's home) with
    /// `mode` and, when given, the mtime (seconds since the epoch). Streamed: a program of
    /// hundreds of MB costs no memory.
    async fn write_from(
        &self,
        path: &str,
        from: &mut (dyn tokio::io::AsyncRead + Unpin + Send),
        mode: u32,
        mtime: Option<i64>,
    ) -> Result<()> {
        let p = quote(path);
        let tmp = quote(&format!("{path}.wr-cloud-part"));
        let touch = mtime
            .map(|t| format!(" && touch -d @{t} {tmp}"))
            .unwrap_or_default();
        let script = format!(
            "mkdir -p \"$(dirname {p})\" && cat > {tmp} && chmod {mode:o} {tmp}{touch} && mv -f {tmp} {p}"
        );
        let mut child = self
            .session
            .command("sh")
            .arg("-c")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .await
            .with_context(|| format!("ssh to {}@{}", self.user, self.host))?;
        let mut stdin = child
            .stdin()
            .take()
            .ok_or_else(|| anyhow!("no stdin for the copy"))?;
        let sent = tokio::io::copy(from, &mut stdin).await;
        let closed = stdin.shutdown().await;
        drop(stdin);
        let out = child.wait_with_output().await?;
        if let Err(e) = sent.map(|_| ()).and(closed) {
            bail!("copying to {}:{path}: {e}", self.host);
        }
        if !out.status.success() {
            bail!(
                "copying to {}:{path}: {}",
                self.host,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Writes `bytes` to `path` with `mode` and, when given, the mtime.
    pub async fn write(
        &self,
        path: &str,
        bytes: &[u8],
        mode: u32,
        mtime: Option<i64>,
    ) -> Result<()> {
        let mut from = bytes;
        self.write_from(path, &mut from, mode, mtime).await
    }

    /// Copies a local file, keeping its mtime.
    pub async fn copy(&self, local: &Path, remote: &str, mode: u32) -> Result<()> {
        let mut f = tokio::fs::File::open(local)
            .await
            .with_context(|| format!("reading {}", local.display()))?;
        let mtime = std::fs::metadata(local)
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64);
        self.write_from(remote, &mut f, mode, mtime).await
    }

    /// The contents of a remote file.
    pub async fn read(&self, path: &str) -> Result<Vec<u8>> {
        let out = self
            .session
            .command("cat")
            .arg(path)
            .stdin(Stdio::null())
            .output()
            .await?;
        if !out.status.success() {
            bail!(
                "reading {}:{path}: {}",
                self.host,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(out.stdout)
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quoting() {
        assert_eq!(quote("/tmp/wr-cloud"), "/tmp/wr-cloud");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
