//! A runner: started by the manager for one scheduler group, it takes that group's jobs one
//! after another until none comes within its reserve timeout. Each command runs under the
//! configured shell with the configured umask, in the job's directory and environment, in a
//! process group of its own; the runner touches the job every `--touch-every` seconds (and
//! kills the command when the user asked), then reports the exit code and the last 16 KiB of
//! stdout and stderr. A manager that cannot be reached is tried again for an hour, so a
//! manager restarted meanwhile gets the result.
//!
//! While a command runs, the result of the one before goes to the manager and jobs after it
//! are reserved (a "talker" thread), so the next command starts the moment this one ends; a
//! "toucher" thread keeps the touches. Both live as long as the runner, and the commands'
//! output goes to two temp files reused for every job: a job costs no thread and no pipe.

use crate::api::{Done, Finished, Reserve, Touch, Touched};
use crate::client::{Answer, CallError, Client};
use crate::manager::{kill_group, lock, log, now};
use anyhow::{Context, Result};
use std::io::{Read, Seek, SeekFrom};
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use wr::queue::{Job, Report};

const TAIL: u64 = 16 * 1024;
/// The first touch, which tells the manager the command's pid, comes this long after the
/// start: a command done sooner needs none (most of a queue of short commands), and a runner
/// killed sooner leaves its command to finish on its own.
const FIRST_TOUCH: Duration = Duration::from_millis(20);
/// Jobs a runner reserves ahead of the one it runs (the manager grants them only while its
/// group has more ready jobs than runners, so no other runner waits for them).
const LOOKAHEAD: usize = 2;

pub struct Args {
    pub client: Client,
    pub runner_id: String,
    pub group: String,
    pub reserve_timeout: f64,
    pub touch_every: f64,
    pub shell: String,
    pub umask: String,
}

/// Calls `f` until the manager answers well, for at most `patience`.
fn patiently<T>(
    patience: Duration,
    mut f: impl FnMut() -> Result<T, CallError>,
) -> Result<T, CallError> {
    let start = Instant::now();
    let mut wait = Duration::from_millis(200);
    loop {
        match f() {
            // Unreachable, or a failure of its own (a 5xx): the manager may answer later.
            Err(CallError::Unreachable { .. }) | Err(CallError::Status { status: 500.., .. })
                if start.elapsed() < patience =>
            {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            r => return r,
        }
    }
}

/// The manager's answer to what a runner says between commands; None when it could not be
/// told (after an hour of trying).
fn tell(a: &Args, f: &Finished) -> Option<Done> {
    match patiently(Duration::from_secs(3600), || {
        a.client.post::<_, Done>("/done", f)
    }) {
        Ok(Answer::Some(done)) => Some(done),
        Ok(Answer::Empty(_)) => None,
        Err(e) => {
            let what = f
                .report
                .as_ref()
                .map(|r| format!("the result of job {}", r.id))
                .unwrap_or_else(|| "a start".into());
            log(&format!("{}: {what} is lost: {e}", a.runner_id));
            None
        }
    }
}

/// The command running now, as the toucher sees it.
struct Current {
    id: i64,
    pid: u32,
    started: Instant,
    last_touch: Option<Instant>,
    killed: bool,
    /// The manager gave the job to another: this run must not go on or report.
    abandoned: bool,
}

/// Touches the current job: first soon after its start (with the command's pid, in case this
/// runner dies before the command ends), then every `touch_every`.
fn toucher(a: Arc<Args>, current: Arc<Mutex<Option<Current>>>) {
    let every = Duration::from_secs_f64(a.touch_every.max(0.1));
    loop {
        std::thread::sleep(Duration::from_millis(10));
        let due = {
            let cur = lock(&current);
            cur.as_ref().and_then(|c| {
                let due = match c.last_touch {
                    None => c.started.elapsed() >= FIRST_TOUCH.min(every),
                    Some(t) => t.elapsed() >= every,
                };
                (due && !c.abandoned).then_some((c.id, c.pid, c.last_touch.is_none()))
            })
        };
        let Some((id, pid, first)) = due else {
            continue;
        };
        let touch = Touch {
            id,
            runner: a.runner_id.clone(),
            cmd_pid: first.then_some(pid),
        };
        let answer = a.client.post::<_, Touched>("/touch", &touch);
        let mut cur = lock(&current);
        let Some(c) = cur.as_mut().filter(|c| c.id == id) else {
            continue;
        };
        c.last_touch = Some(Instant::now());
        match answer {
            Ok(Answer::Some(Touched { kill: true })) if !c.killed => {
                c.killed = true;
                kill_group(pid);
            }
            Ok(Answer::Empty(410)) => {
                c.abandoned = true;
                kill_group(pid);
            }
            _ => {}
        }
    }
}

/// Takes jobs until none comes.
pub fn run(a: Args) -> Result<ExitCode> {
    let a = Arc::new(a);
    let ask = Reserve {
        runner: a.runner_id.clone(),
        group: a.group.clone(),
        pid: std::process::id(),
        wait: a.reserve_timeout,
        prefetch: false,
    };
    // Between jobs a runner holds nothing: a manager gone for a few seconds ends it.
    let reserve = || match patiently(Duration::from_secs(5), || a.client.post("/reserve", &ask)) {
        Ok(Answer::Some(job)) => Some(job),
        Ok(Answer::Empty(_)) => None,
        Err(e) => {
            log(&format!("{}: no more work: {e}", a.runner_id));
            None
        }
    };
    let Some(mut job) = reserve() else {
        return Ok(ExitCode::SUCCESS);
    };
    let current = Arc::new(Mutex::new(None));
    {
        let (a, current) = (a.clone(), current.clone());
        std::thread::spawn(move || toucher(a, current));
    }
    let (to_talker, talker_in) = mpsc::channel::<Finished>();
    let (talker_out, from_talker) = mpsc::channel::<Option<Done>>();
    {
        let a = a.clone();
        std::thread::spawn(move || {
            for f in talker_in {
                if talker_out.send(tell(&a, &f)).is_err() {
                    break;
                }
            }
        });
    }
    let mut out = tempfile::tempfile().context("a temp file for commands' stdout")?;
    let mut err = tempfile::tempfile().context("a temp file for commands' stderr")?;
    // Jobs reserved for after this one, and the messages the talker has not had answered yet
    // (true for those that ask for a job; answers come in order).
    let mut ahead: std::collections::VecDeque<Job> = Default::default();
    let mut pending: std::collections::VecDeque<bool> = Default::default();
    let mut began: Option<i64> = None;
    let mut last: Option<Report> = None;
    loop {
        // The result before and the job begun go first; the lookahead is kept full.
        let mut say = Some((last.take(), began.take()));
        loop {
            let asked = pending.iter().filter(|a| **a).count();
            let want = ahead.len() + asked < LOOKAHEAD;
            if say.is_none() && !want {
                break;
            }
            let (report, began) = say.take().unwrap_or((None, None));
            to_talker
                .send(Finished {
                    report,
                    began,
                    next: want.then(|| Reserve {
                        wait: 0.0,
                        prefetch: true,
                        ..ask.clone()
                    }),
                })
                .context("the talker thread ended")?;
            pending.push_back(want);
        }
        let report = execute(&a, &job, &current, &mut out, &mut err);
        // Answers that came while the command ran; wait for more only with nothing in hand.
        while let Some(&asked) = pending.front() {
            let answer = if ahead.is_empty() {
                from_talker.recv().ok()
            } else {
                match from_talker.try_recv() {
                    Ok(a) => Some(a),
                    Err(_) => break,
                }
            };
            pending.pop_front();
            if let Some(next) = answer.flatten().and_then(|d| d.next) {
                ahead.push_back(next);
            } else if asked && ahead.is_empty() && pending.iter().all(|a| !a) {
                // Nothing more to be had ahead: stop waiting.
                break;
            }
        }
        match ahead.pop_front() {
            Some(next) => {
                last = report;
                began = Some(next.id);
                job = next;
            }
            None => {
                let said = Finished {
                    report,
                    began: None,
                    next: Some(ask.clone()),
                };
                match tell(&a, &said).and_then(|d| d.next).or_else(reserve) {
                    Some(next) => job = next,
                    None => return Ok(ExitCode::SUCCESS),
                }
            }
        }
    }
}

/// The last TAIL bytes a command wrote to `f`, which is then emptied for the next.
fn tail(f: &mut std::fs::File) -> String {
    let len = f.seek(SeekFrom::End(0)).unwrap_or(0);
    if len == 0 {
        return String::new();
    }
    let mut keep = Vec::new();
    if f.seek(SeekFrom::Start(len.saturating_sub(TAIL))).is_ok() {
        let _ = f.read_to_end(&mut keep);
    }
    let _ = f.set_len(0);
    let _ = f.seek(SeekFrom::Start(0));
    String::from_utf8_lossy(&keep).into_owned()
}

/// Runs the job's command; None when the job was taken from this runner meanwhile.
fn execute(
    a: &Args,
    job: &Job,
    current: &Mutex<Option<Current>>,
    out: &mut std::fs::File,
    err: &mut std::fs::File,
) -> Option<Report> {
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
    // A job queued on one machine may run on another (a cloud server), where its directory
    // is not there yet: it is made, as wr makes a job's working directory.
    if let Err(e) = std::fs::create_dir_all(&job.spec.cwd) {
        report.error = Some(format!(
            "cannot make the job's directory {}: {e}",
            job.spec.cwd
        ));
        return Some(report);
    }
    let mut cmd = std::process::Command::new(&a.shell);
    cmd.arg("-c")
        .arg(format!("umask {}; {}", a.umask, job.spec.cmd))
        .current_dir(&job.spec.cwd)
        .stdin(std::process::Stdio::null())
        .process_group(0);
    match (out.try_clone(), err.try_clone()) {
        (Ok(o), Ok(e)) => {
            cmd.stdout(o).stderr(e);
        }
        (Err(e), _) | (_, Err(e)) => {
            report.error = Some(format!("cannot hand the command its output files: {e}"));
            return Some(report);
        }
    }
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
    *lock(current) = Some(Current {
        id: job.id,
        pid: child.id(),
        started: Instant::now(),
        last_touch: None,
        killed: false,
        abandoned: false,
    });
    let status = child.wait();
    let cur = lock(current).take();
    report.stdout = tail(out);
    report.stderr = tail(err);
    report.ended = now();
    report.killed = cur.as_ref().is_some_and(|c| c.killed);
    match status {
        Ok(s) => report.exit_code = s.code(),
        Err(e) => report.error = Some(format!("waiting for the command: {e}")),
    }
    (!cur.is_some_and(|c| c.abandoned)).then_some(report)
}
