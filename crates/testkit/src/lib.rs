//! What the test suites share, so no test file carries its own copy: the workspace's paths and
//! binaries, the fixture tree, JSON-lines output, the Docker CLI, the busybox images the
//! engine tests run, and the cleanup of a test cluster's containers. A dev-dependency only.

pub mod chronos;
mod httpd;
pub mod marathon;

pub mod disdat;

use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The workspace's root.
pub fn top() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The repository's fixtures.
pub fn fixtures() -> PathBuf {
    top().join("fixtures")
}

/// Where the workspace's binaries are: the running test's own build directory
/// (target/<profile>), where `cargo build --workspace` puts every binary (`make test` does).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> -> target/<profile>
    exe.parent()
        .and_then(Path::parent)
        .expect("a test binary sits in target/<profile>/deps")
        .to_path_buf()
}

/// A workspace binary.
pub fn bin(name: &str) -> Command {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace` first",
        path.display()
    );
    Command::new(path)
}

/// stdout of a command that must succeed; otherwise the test fails showing both streams.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 on stdout")
}

/// Runs `cmd` with `input` on its stdin; its whole output.
pub fn output_with_input(cmd: &mut Command, input: &str) -> Output {
    use std::io::Write;
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("the command starts");
    child
        .stdin
        .take()
        .expect("a stdin")
        .write_all(input.as_bytes())
        .expect("the input is written");
    child.wait_with_output().expect("the command ends")
}

/// An ed25519 key pair made by ssh-keygen at `dir/key` (no passphrase): the private key's
/// path and the public key.
pub fn ssh_keypair(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("key");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen runs");
    assert!(st.success(), "ssh-keygen failed");
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("the public key");
    (key, public)
}

/// The wr-cloud node image (sshd, for the docker provider) `bin/wr-node-image.sh` builds,
/// under the test tag every wr-cloud test uses; kept when it is there.
pub const WR_NODE_IMAGE: &str = "paasta-test/wr-node:1";

pub fn wr_node_image() {
    let st = Command::new("sh")
        .arg(top().join("bin/wr-node-image.sh"))
        .arg(WR_NODE_IMAGE)
        .status()
        .expect("sh runs");
    assert!(st.success(), "bin/wr-node-image.sh failed");
}

/// `cmd` on `user@host` over ssh with `key`, host keys not checked (test servers are new
/// each time), failing fast instead of asking anything.
pub fn ssh(key: &Path, user: &str, host: &str, cmd: &str) -> Output {
    Command::new("ssh")
        .arg("-i")
        .arg(key)
        .args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null"])
        .args(["-o", "LogLevel=ERROR", "-o", "BatchMode=yes"])
        .args(["-o", "ConnectTimeout=5"])
        .arg(format!("{user}@{host}"))
        .arg(cmd)
        .output()
        .expect("ssh runs")
}

/// Exit status (-1 when killed by a signal), stdout and stderr.
pub fn outcome(out: &Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One JSON value per line; a line that is not JSON fails the test, naming it.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// A scratch copy of the fixtures with their git repositories built (fixtures/setup.sh).
pub fn fixture_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a scratch directory");
    ok(Command::new("sh")
        .arg(fixtures().join("setup.sh"))
        .arg(dir.path())
        .output()
        .expect("sh runs"));
    dir
}

/// Points a command at a tree laid out as fixtures/setup.sh makes it: DIR/soa, DIR/etc_paasta,
/// and DIR/locks for setup-service's lock files.
pub fn in_tree<'c>(c: &'c mut Command, dir: &Path) -> &'c mut Command {
    c.env("SOA_DIR", dir.join("soa"))
        .env("PAASTA_SYSTEM_CONFIG_DIR", dir.join("etc_paasta"))
        .env("SETUP_SERVICE_LOCK_DIR", dir.join("locks"))
}

/// The fixture tree with every service's deployments.json generated (cluster `local`).
pub fn deployed_fixture_tree() -> tempfile::TempDir {
    let dir = fixture_tree();
    ok(in_tree(&mut bin("generate-deployments"), dir.path())
        .arg("--all")
        .output()
        .expect("generate-deployments runs"));
    dir
}

/// The virtualenv holding Python Disdat 1.2.0 and moto's server (bin/ensure-disdat.sh makes
/// it; `make test` runs that): $DISDAT_VENV, else the script's default.
pub fn disdat_venv() -> PathBuf {
    let venv = std::env::var_os("DISDAT_VENV").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/paasta-toolkit/disdat-1.2.0")
        },
        PathBuf::from,
    );
    assert!(
        venv.join("bin/dsdt").is_file(),
        "no Python Disdat in {}: run `sh bin/ensure-disdat.sh` (make test does)",
        venv.display()
    );
    venv
}

/// moto's S3 server on a free loopback port, from the Disdat virtualenv; stopped (by its PID)
/// when dropped.
pub struct Moto {
    child: std::process::Child,
    pub port: u16,
    /// The address clients reach it at.
    pub host: String,
}

/// Waits up to 30 s for `what` to listen on loopback `port`; the test fails otherwise.
fn wait_listening(port: u16, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not listen on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// With settings of moto's own in its environment (e.g. MOTO_DOCKER_NETWORK_MODE=host, so
    /// the containers its Batch runs reach it on loopback).
    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        Moto::start_at("127.0.0.1", "127.0.0.1", env)
    }

    /// Listening on `bind`, reached at `host` (e.g. all addresses, reached at a Docker
    /// network's gateway, so containers on that network reach it too).
    pub fn start_at(bind: &str, host: &str, env: &[(&str, &str)]) -> Moto {
        let port = free_port();
        let child = Command::new(disdat_venv().join("bin/moto_server"))
            .args(["-H", bind, "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let moto = Moto {
            child,
            port,
            host: host.to_string(),
        };
        wait_listening(port, "moto_server");
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// The environment a client needs to reach it (fake credentials, a region).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
        ]
    }

    /// Runs a Python script (the Disdat virtualenv's, boto3 at hand) against this server; its
    /// stdout. A failure fails the test.
    pub fn python(&self, script: &str) -> String {
        ok(Command::new(disdat_venv().join("bin/python"))
            .args(["-c", script])
            .envs(self.env())
            .output()
            .expect("python runs"))
    }

    /// Makes a bucket (through Python's boto3, as a user's tooling would).
    pub fn bucket(&self, name: &str) {
        self.python(&format!(
            "import boto3; boto3.client('s3').create_bucket(Bucket='{name}')"
        ));
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's docker-registry (bin/ensure-registry.sh installs it) on a free loopback port, its
/// storage in a temp directory; stopped (by its PID) when dropped. The engine pushes to and
/// pulls from 127.0.0.1 without TLS.
pub struct Registry {
    child: std::process::Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .expect("the registry's config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("docker-registry starts (sh bin/ensure-registry.sh installs it)");
        let registry = Registry {
            child,
            port,
            _dir: dir,
        };
        wait_listening(port, "docker-registry");
        registry
    }

    /// `127.0.0.1:PORT`, as image names start.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python image (fixtures/images/make-python-image.sh: python3-minimal from Debian's
/// packages), built when the engine lacks it and kept as a cache under its tag.
pub fn python_image() -> &'static str {
    const TAG: &str = "paasta-toolkit/python3-minimal:3.11";
    static BUILT: Mutex<bool> = Mutex::new(false);
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if !*built {
        require_engine();
        ok(Command::new("sh")
            .arg(fixtures().join("images/make-python-image.sh"))
            .arg(TAG)
            .output()
            .expect("sh runs"));
        *built = true;
    }
    TAG
}

/// A TCP relay on loopback to `port` that can be cut: every connection through it is dropped
/// and no new one is accepted, as when a server dies mid-transfer.
pub struct Relay {
    pub port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Bytes relayed towards the server so far.
    pub sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Relay {
    pub fn to(port: u16) -> Relay {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let me = listener.local_addr().expect("its address").port();
        let cut = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (cut2, sent2) = (cut.clone(), sent.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { continue };
                if cut2.load(Ordering::SeqCst) {
                    continue; // dropped at once
                }
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                    continue;
                };
                for (mut from, mut to, count) in [
                    (
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        true,
                    ),
                    (server, client, false),
                ] {
                    let (cut3, sent3) = (cut2.clone(), sent2.clone());
                    std::thread::spawn(move || {
                        use std::io::{Read, Write};
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if cut3.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                            if count {
                                sent3.fetch_add(n as u64, Ordering::SeqCst);
                            }
                        }
                        let _ = from.shutdown(std::net::Shutdown::Both);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Relay {
            port: me,
            cut,
            sent,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Unix seconds now.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs_f64()
}

/// The Docker CLI; its trimmed stdout. A failure fails the test.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The system config of a test cluster in `etc` (made if missing): its name, the image
/// registry `paasta-test` (the busybox images are tagged there), no volumes.
pub fn test_system_config(etc: &Path, cluster: &str) {
    std::fs::create_dir_all(etc).expect("the system config directory");
    for (file, text) in [
        ("cluster.json", format!(r#"{{"cluster": "{cluster}"}}"#)),
        (
            "docker_registry.json",
            r#"{"docker_registry": "paasta-test"}"#.to_string(),
        ),
        ("volumes.json", r#"{"volumes": []}"#.to_string()),
    ] {
        std::fs::write(etc.join(file), text).expect("a system config file");
    }
}

/// Fails the test, saying how to fix it, when no Docker engine answers.
pub fn require_engine() {
    assert!(
        Command::new("docker")
            .arg("info")
            .output()
            .is_ok_and(|o| o.status.success()),
        "no Docker engine answers: run `sh bin/ensure-docker.sh` (make test does)"
    );
}

/// The busybox image (fixtures/images/make-busybox-image.sh) under each of `tags`, built once
/// per test process and tag. Labelled as a fixture, so bin/test-cleanup.sh removes it.
pub fn busybox_image(tags: &[&str]) {
    static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let built = built.get_or_insert_with(HashSet::new);
    let missing: Vec<&str> = tags
        .iter()
        .copied()
        .filter(|t| !built.contains(*t))
        .collect();
    if missing.is_empty() {
        return;
    }
    require_engine();
    ok(Command::new("sh")
        .arg(fixtures().join("images/make-busybox-image.sh"))
        .args(&missing)
        .output()
        .expect("sh runs"));
    built.extend(missing.iter().map(|t| t.to_string()));
}

/// Removes every container of a test cluster (label paasta.cluster) when dropped, whether the
/// test passed or not.
pub struct ClusterGuard(pub String);

impl ClusterGuard {
    pub fn new(cluster: &str) -> ClusterGuard {
        ClusterGuard(cluster.to_string())
    }
}

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        let ids = Command::new("docker")
            .args(["ps", "-aq", "--filter"])
            .arg(format!("label=paasta.cluster={}", self.0))
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&ids)
                .output();
        }
    }
}

/// Waits until `f` holds, looking every `every`, for at most `secs`; `what` names what was
/// awaited when it never comes.
pub fn wait_for(secs: u64, every: std::time::Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(every);
    }
}

/// `GET url`: the status and the body, whatever the status.
pub fn http_get(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut answer = agent.get(url).call().expect("the server answers");
    let body = answer.body_mut().read_to_string().unwrap_or_default();
    (answer.status().as_u16(), body)
}
