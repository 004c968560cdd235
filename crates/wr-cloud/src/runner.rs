//! A runner: started by the manager for one scheduler group, it takes that group's jobs one
//! after another until none comes within its reserve timeout. Each command runs under the
//! configured shell with the configured umask, in the job's directory and environment, in a
//! process group of its own; the runner touches the job every `--touch-every` seconds (and
//! kills the command when the user asked), then reports the exit code and the last 16 KiB of
//! stdout and stderr. A manager that cannot be reached is tried again for an hour, so a
//! manager restarted meanwhile gets the result.

use crate::api::{Done, Reserve, Touch, Touched};
use crate::client::{Answer, CallError, Client};
use crate::manager::{log, now};
use anyhow::Result;
use std::io::Read;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wr::queue::{Job, Report};

const TAIL: usize = 16 * 1024;

pub struct Args {
    pub client: Client,
    pub runner_id: String,
    pub group: String,
    pub reserve_timeout: f64,
    pub touch_every: f64,
    pub shell: String,
    pub umask: String,
}

/// Calls `f` until the manager answers, for at most `patience`.
fn patiently<T>(
    patience: Duration,
    mut f: impl FnMut() -> Result<T, CallError>,
) -> Result<T, CallError> {
    let start = Instant::now();
    let mut wait = Duration::from_millis(200);
    loop {
        match f() {
            Err(CallError::Unreachable { .. }) if start.elapsed() < patience => {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            r => return r,
        }
    }
}

pub fn run(a: Args) -> Result<ExitCode> {
    loop {
        let ask = Reserve {
            runner: a.runner_id.clone(),
            group: a.group.clone(),
            pid: std::process::id(),
            wait: a.reserve_timeout,
        };
        let job: Job = match patiently(Duration::from_secs(30), || a.client.post("/reserve", &ask))
        {
            Ok(Answer::Some(job)) => job,
            Ok(Answer::Empty(_)) => return Ok(ExitCode::SUCCESS),
            Err(e) => {
                log(&format!("{}: no more work: {e}", a.runner_id));
                return Ok(ExitCode::SUCCESS);
            }
        };
        let Some(report) = execute(&a, &job) else {
            continue;
        };
        match patiently(Duration::from_secs(3600), || {
            a.client.post::<_, Done>("/done", &report)
        }) {
            Ok(_) => {}
            Err(e) => log(&format!(
                "{}: the result of job {} is lost: {e}",
                a.runner_id, job.id
            )),
        }
    }
}

fn tail_of(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut keep: Vec<u8> = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            keep.extend_from_slice(&buf[..n]);
            if keep.len() > 2 * TAIL {
                keep.drain(..keep.len() - TAIL);
            }
        }
        if keep.len() > TAIL {
            keep.drain(..keep.len() - TAIL);
        }
        String::from_utf8_lossy(&keep).into_owned()
    })
}

fn kill_group(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stderr(std::process::Stdio::null())
        .status();
}

/// Runs the job's command; None when the job was taken from this runner meanwhile.
fn execute(a: &Args, job: &Job) -> Option<Report> {
    use std::os::unix::process::CommandExt;
    let started = now();
    let mut report = Report {
        id: job.id,
        runner: a.runner_id.clone(),
        exit_code: None,
        killed: false,
        stdout: String::new(),
        stderr: String::new(),
        started,
        ended: started,
        error: None,
    };
    let mut cmd = std::process::Command::new(&a.shell);
    cmd.arg("-c")
        .arg(format!("umask {}; {}", a.umask, job.spec.cmd))
        .current_dir(&job.spec.cwd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    for kv in &job.spec.env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(format!(
                "cannot run the command with {} in {}: {e}",
                a.shell, job.spec.cwd
            ));
            report.ended = now();
            return Some(report);
        }
    };
    let pid = child.id();
    let out = tail_of(child.stdout.take().expect("piped"));
    let err = tail_of(child.stderr.take().expect("piped"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    // Tell the manager the command's pid at once, for the case this runner dies before it.
    let _ = a.client.post::<_, Touched>(
        "/touch",
        &Touch {
            id: job.id,
            runner: a.runner_id.clone(),
            cmd_pid: Some(pid),
        },
    );
    let every = Duration::from_secs_f64(a.touch_every.max(0.1));
    let mut abandoned = false;
    let status = loop {
        match rx.recv_timeout(every) {
            Ok(s) => break s,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(std::io::Error::other("lost the command"))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let touch = Touch {
                    id: job.id,
                    runner: a.runner_id.clone(),
                    cmd_pid: None,
                };
                match a.client.post::<_, Touched>("/touch", &touch) {
                    Ok(Answer::Some(Touched { kill: true })) if !report.killed => {
                        report.killed = true;
                        kill_group(pid);
                    }
                    Ok(Answer::Empty(410)) if !abandoned => {
                        // Given up as lost and retried elsewhere: this run must not go on.
                        abandoned = true;
                        kill_group(pid);
                    }
                    _ => {}
                }
            }
        }
    };
    report.stdout = out.join().unwrap_or_default();
    report.stderr = err.join().unwrap_or_default();
    report.ended = now();
    match status {
        Ok(s) => report.exit_code = s.code(),
        Err(e) => report.error = Some(format!("waiting for the command: {e}")),
    }
    (!abandoned).then_some(report)
}
