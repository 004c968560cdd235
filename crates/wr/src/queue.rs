//! The job queue in an embedded database (sqlite through rusqlite): jobs with their spec,
//! state, attempts and results, and every transition a manager makes. Each call is one
//! transaction, and the database runs in WAL mode, so a manager killed at any point restarts
//! with every acknowledged change (a runner's report is acknowledged only once stored).
//!
//! Rules kept here:
//! - A job equal to an incomplete one (same command in the same directory) is not added twice.
//! - A job with `deps` is dependent until no job of those dependency groups is incomplete (a
//!   group with no jobs holds nothing back).
//! - A failed run (non-zero exit, or a runner that ended without reporting) is retried after a
//!   delay while attempts ≤ retries, then buried until `retry`. A job killed by the user is
//!   buried at once.
//! - Indexes hold what each question needs and change as little as a job's life allows: the
//!   ready jobs by group and priority, the held ones, the delayed ones by due time (partial
//!   indexes, so a job moving between other states touches none), and jobs by rep_grp.
//! - Counts per (requirements, priority, state) are kept by triggers in `tally`, so the
//!   scheduler's groups and `status --counts` cost the same over a million jobs as over ten.
//! - A report from a runner that no longer holds the job (it was given up as lost and retried)
//!   is ignored, so a job's result is the result of the run that owns it.

use crate::job::{CloudOpts, GroupKey, JobSpec, State};
use crate::sched::Req;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{}: {source}", path.display())]
    Db {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{}: a job's stored spec does not read: {source}", path.display())]
    Spec {
        path: PathBuf,
        source: serde_json::Error,
    },
}

type Result<T, E = QueueError> = std::result::Result<T, E>;

/// A job as the queue holds it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Job {
    pub id: i64,
    pub key: String,
    #[serde(flatten)]
    pub spec: JobSpec,
    pub state: State,
    pub attempts: u32,
    pub runner: Option<String>,
    pub pid: Option<i64>,
    pub started: Option<f64>,
    pub ended: Option<f64>,
    pub exit_code: Option<i32>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub fail_reason: Option<String>,
    /// When a delayed job becomes ready.
    pub until: Option<f64>,
    /// The running command's pid (its process group), once its runner said.
    #[serde(default)]
    pub cmd_pid: Option<i64>,
}

/// Which jobs a kill, remove, retry or listing acts on.
#[derive(Debug, Clone, Default)]
pub struct Select {
    pub rep_grp: Option<String>,
    pub state: Option<State>,
    pub ids: Vec<i64>,
}

/// What a runner reports when its command ends.
#[derive(Debug, Clone, serde::Deserialize, Serialize)]
pub struct Report {
    pub id: i64,
    pub runner: String,
    /// None when the command was killed on request.
    pub exit_code: Option<i32>,
    pub killed: bool,
    pub stdout: String,
    pub stderr: String,
    pub started: f64,
    pub ended: f64,
    /// Why the command could not be run at all.
    #[serde(default)]
    pub error: Option<String>,
}

/// What became of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Complete,
    Delayed,
    Buried,
    /// Not the runner that holds the job: ignored.
    Stale,
    /// Reserved by a runner that is gone before starting it: ready again, nothing counted.
    Released,
}

/// A group of ready jobs with equal requirements and cloud options.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadyGroup {
    /// The group's key (`GroupKey::key`): what runners reserve by.
    pub key: String,
    pub req: Req,
    pub cloud: CloudOpts,
    pub priority: u8,
    pub ready: u64,
}

/// A running job's runner, for liveness checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub id: i64,
    pub runner: String,
    pub pid: Option<i64>,
    pub touched: f64,
    pub state: State,
    /// The room its job takes.
    pub req: Option<Req>,
    /// The command's process (and process group), once the runner said.
    pub cmd_pid: Option<i64>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    spec TEXT NOT NULL,
    rep_grp TEXT NOT NULL,
    req_key TEXT NOT NULL,
    priority INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    until REAL,
    runner TEXT,
    pid INTEGER,
    cmd_pid INTEGER,
    touched REAL,
    kill INTEGER NOT NULL DEFAULT 0,
    started REAL,
    ended REAL,
    exit_code INTEGER,
    stdout TEXT,
    stderr TEXT,
    fail_reason TEXT
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (req_key, priority DESC, id) WHERE state = 'ready';
CREATE INDEX IF NOT EXISTS jobs_held ON jobs (id) WHERE state IN ('reserved', 'running', 'lost');
CREATE INDEX IF NOT EXISTS jobs_delayed ON jobs (until) WHERE state = 'delayed';
CREATE INDEX IF NOT EXISTS jobs_rep ON jobs (rep_grp);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_live_key ON jobs (key) WHERE state != 'complete';
CREATE TABLE IF NOT EXISTS tally (
    req_key TEXT NOT NULL,
    priority INTEGER NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL,
    first INTEGER NOT NULL,
    PRIMARY KEY (req_key, priority, state)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS tally_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO tally VALUES (NEW.req_key, NEW.priority, NEW.state, 1, NEW.id)
        ON CONFLICT (req_key, priority, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS tally_delete AFTER DELETE ON jobs BEGIN
    UPDATE tally SET n = n - 1
        WHERE req_key = OLD.req_key AND priority = OLD.priority AND state = OLD.state;
END;
CREATE TRIGGER IF NOT EXISTS tally_update AFTER UPDATE OF state ON jobs WHEN OLD.state != NEW.state BEGIN
    UPDATE tally SET n = n - 1
        WHERE req_key = OLD.req_key AND priority = OLD.priority AND state = OLD.state;
    INSERT INTO tally VALUES (NEW.req_key, NEW.priority, NEW.state, 1, NEW.id)
        ON CONFLICT (req_key, priority, state) DO UPDATE SET n = n + 1;
END;
CREATE TABLE IF NOT EXISTS dep_grps (grp TEXT NOT NULL, job INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS dep_grps_grp ON dep_grps (grp);
CREATE TABLE IF NOT EXISTS deps (grp TEXT NOT NULL, job INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS deps_grp ON deps (grp);
";

const COLS: &str = "id, key, spec, state, attempts, runner, pid, started, ended, exit_code, stdout, stderr, fail_reason, until, cmd_pid";

pub struct Queue {
    conn: Connection,
    path: PathBuf,
}

/// Seconds to wait before retry `attempt` (1-based): `base × 2^(attempt-1)`, at most 30 min.
pub fn retry_delay(base: f64, attempt: u32) -> f64 {
    (base * 2f64.powi(attempt.saturating_sub(1).min(20) as i32)).min(1800.0)
}

impl Queue {
    /// Opens a database for reading only (listings, backups): it writes nothing, not even the
    /// schema, so it never holds up the manager's writes.
    pub fn open_read(path: &Path) -> Result<Queue> {
        let db = |source| QueueError::Db {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db)?;
        conn.execute_batch("PRAGMA busy_timeout=5000;")
            .map_err(db)?;
        Ok(Queue {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn open(path: &Path) -> Result<Queue> {
        let db = |source| QueueError::Db {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(db)?;
        conn.execute_batch(
            // A large cache keeps inserts into the indexes of a million-job queue in memory;
            // checkpoints (which sync) come every 32 MiB of log rather than every 4.
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; PRAGMA cache_size=-131072; PRAGMA wal_autocheckpoint=8192;",
        )
        .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        // A database written before the tally existed: count once.
        conn.execute_batch(
            "INSERT INTO tally SELECT req_key, priority, state, COUNT(*), MIN(id) FROM jobs
               WHERE NOT EXISTS (SELECT 1 FROM tally) GROUP BY req_key, priority, state;",
        )
        .map_err(db)?;
        Ok(Queue {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> QueueError + '_ {
        |source| QueueError::Db {
            path: self.path.clone(),
            source,
        }
    }

    fn tx<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let path = self.path.clone();
        let db = move |source| QueueError::Db {
            path: path.clone(),
            source,
        };
        // IMMEDIATE: the write lock is taken at the start, where busy_timeout waits for it; a
        // deferred transaction that reads first can fail at once when it comes to write.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&db)?;
        let v = f(&tx).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(v)
    }

    /// Queues `specs` in one transaction. Returns (added, duplicates of incomplete jobs).
    pub fn add(&mut self, specs: &[JobSpec]) -> Result<(u64, u64)> {
        let encoded: Vec<String> = specs
            .iter()
            .map(|s| serde_json::to_string(s).expect("a spec serializes"))
            .collect();
        self.tx(|tx| {
            let mut added = 0;
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO jobs (key, spec, rep_grp, req_key, priority, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut grp = tx.prepare_cached("INSERT INTO dep_grps (grp, job) VALUES (?1, ?2)")?;
            let mut dep = tx.prepare_cached("INSERT INTO deps (grp, job) VALUES (?1, ?2)")?;
            let mut dependents = Vec::new();
            for (s, json) in specs.iter().zip(&encoded) {
                let group = GroupKey::of(s).key();
                let state = if s.deps.is_empty() { State::Ready } else { State::Dependent };
                let n = ins.execute(params![s.key(), json, s.rep_grp, group, s.priority, state.name()])?;
                if n == 0 {
                    continue;
                }
                added += 1;
                let id = tx.last_insert_rowid();
                for g in &s.dep_grps {
                    grp.execute(params![g, id])?;
                }
                for g in &s.deps {
                    dep.execute(params![g, id])?;
                }
                if !s.deps.is_empty() {
                    dependents.push(id);
                }
            }
            for id in dependents {
                release_if_satisfied(tx, id)?;
            }
            Ok((added, specs.len() as u64 - added))
        })
    }

    /// Ready jobs grouped by their scheduler requirements, in first-added order.
    pub fn ready_groups(&self) -> Result<Vec<ReadyGroup>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT req_key, MAX(priority), SUM(n), MIN(first) FROM tally WHERE state = 'ready' AND n > 0 GROUP BY req_key ORDER BY MIN(first)",
            )
            .map_err(self.db())?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u8>(1)?,
                    r.get::<_, u64>(2)?,
                ))
            })
            .map_err(self.db())?;
        let mut out = Vec::new();
        for row in rows {
            let (key, priority, ready) = row.map_err(self.db())?;
            if let Some(g) = GroupKey::parse(&key) {
                out.push(ReadyGroup {
                    key,
                    req: g.req,
                    cloud: g.cloud,
                    priority,
                    ready,
                });
            }
        }
        Ok(out)
    }

    /// Takes the next ready job of the group `group` (its key) for `runner`, to run now.
    pub fn reserve(
        &mut self,
        group: &str,
        runner: &str,
        pid: Option<i64>,
        now: f64,
    ) -> Result<Option<Job>> {
        self.take(group, runner, pid, now, false)
    }

    /// Takes the next ready job for `runner` to run after its current one: it stays
    /// `reserved` (no attempt counted) until `begin`.
    pub fn prefetch(
        &mut self,
        group: &str,
        runner: &str,
        pid: Option<i64>,
        now: f64,
    ) -> Result<Option<Job>> {
        self.take(group, runner, pid, now, true)
    }

    /// A reserved job's runner started it. Returns whether it held it.
    pub fn begin(&mut self, id: i64, runner: &str, now: f64) -> Result<bool> {
        self.tx(|tx| {
            tx.prepare_cached(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, cmd_pid = NULL, started = ?3, touched = ?3, ended = NULL, exit_code = NULL, kill = 0 WHERE id = ?1 AND runner = ?2 AND state = 'reserved'",
            )?
            .execute(params![id, runner, now])
            .map(|n| n == 1)
        })
    }

    fn take(
        &mut self,
        key: &str,
        runner: &str,
        pid: Option<i64>,
        now: f64,
        hold_only: bool,
    ) -> Result<Option<Job>> {
        let id: Option<i64> = self.tx(|tx| {
            let id: Option<i64> = tx
                .prepare_cached(
                    "SELECT id FROM jobs WHERE state = 'ready' AND req_key = ?1 ORDER BY priority DESC, id LIMIT 1",
                )?
                .query_row(params![key], |r| r.get(0))
                .optional()?;
            if let Some(id) = id {
                let sql = if hold_only {
                    "UPDATE jobs SET state = 'reserved', runner = ?2, pid = ?3, cmd_pid = NULL, touched = ?4, kill = 0 WHERE id = ?1"
                } else {
                    "UPDATE jobs SET state = 'running', attempts = attempts + 1, runner = ?2, pid = ?3, cmd_pid = NULL, started = ?4, touched = ?4, ended = NULL, exit_code = NULL, kill = 0 WHERE id = ?1"
                };
                tx.prepare_cached(sql)?.execute(params![id, runner, pid, now])?;
            }
            Ok(id)
        })?;
        match id {
            Some(id) => self.get(id),
            None => Ok(None),
        }
    }

    /// A runner's sign of life for its job (with its command's pid once started); returns
    /// whether the user asked to kill it, or None when the runner no longer holds the job.
    pub fn touch(
        &mut self,
        id: i64,
        runner: &str,
        cmd_pid: Option<i64>,
        now: f64,
    ) -> Result<Option<bool>> {
        self.tx(|tx| {
            let kill: Option<bool> = tx
                .prepare_cached("SELECT kill FROM jobs WHERE id = ?1 AND runner = ?2 AND state IN ('reserved', 'running', 'lost')")?
                .query_row(params![id, runner], |r| r.get(0))
                .optional()?;
            if kill.is_some() {
                tx.prepare_cached("UPDATE jobs SET touched = ?2, state = CASE state WHEN 'lost' THEN 'running' ELSE state END, cmd_pid = COALESCE(?3, cmd_pid) WHERE id = ?1")?
                    .execute(params![id, now, cmd_pid])?;
            }
            Ok(kill)
        })
    }

    /// Stores a runner's report. Returns what became of the job, and how many dependents it
    /// made ready.
    pub fn report(&mut self, r: &Report, retry_base: f64) -> Result<(Outcome, usize)> {
        self.tx(|tx| {
            let Some((attempts, retries)) = held_by(tx, r.id, &r.runner)? else {
                return Ok((Outcome::Stale, 0));
            };
            let (outcome, until, reason) = match (r.killed, r.exit_code) {
                (false, Some(0)) if r.error.is_none() => (Outcome::Complete, None, None),
                (true, _) => (Outcome::Buried, None, Some("killed by the user".to_string())),
                (false, code) => {
                    let why = match (&r.error, code) {
                        (Some(e), _) => e.clone(),
                        (None, Some(c)) => format!("exited with code {c}"),
                        (None, None) => "ended by a signal".to_string(),
                    };
                    let (outcome, until) = after_failure(attempts, retries, r.ended, retry_base);
                    (outcome, until, Some(why))
                }
            };
            let state = match outcome {
                Outcome::Complete => State::Complete,
                Outcome::Delayed => State::Delayed,
                _ => State::Buried,
            };
            tx.prepare_cached(
                "UPDATE jobs SET state = ?2, until = ?3, started = ?4, ended = ?5, exit_code = ?6, stdout = ?7, stderr = ?8, fail_reason = ?9, runner = NULL, pid = NULL, cmd_pid = NULL WHERE id = ?1",
            )?
            .execute(params![r.id, state.name(), until, r.started, r.ended, r.exit_code, r.stdout, r.stderr, reason])?;
            let released = if state == State::Complete {
                after_complete(tx, r.id)?
            } else {
                0
            };
            Ok((outcome, released))
        })
    }

    /// Gives up on a held job whose runner is gone without a report: retried after a delay
    /// while attempts allow, else buried.
    pub fn runner_gone(
        &mut self,
        id: i64,
        runner: &str,
        now: f64,
        retry_base: f64,
    ) -> Result<Outcome> {
        self.tx(|tx| {
            // A job only reserved never ran: it goes back as it was.
            let released = tx
                .prepare_cached("UPDATE jobs SET state = 'ready', runner = NULL, pid = NULL WHERE id = ?1 AND runner = ?2 AND state = 'reserved'")?
                .execute(params![id, runner])?;
            if released > 0 {
                return Ok(Outcome::Released);
            }
            let Some((attempts, retries)) = held_by(tx, id, runner)? else {
                return Ok(Outcome::Stale);
            };
            let (outcome, until) = after_failure(attempts, retries, now, retry_base);
            let state = if outcome == Outcome::Delayed {
                State::Delayed
            } else {
                State::Buried
            };
            tx.prepare_cached(
                "UPDATE jobs SET state = ?2, until = ?3, ended = ?4, fail_reason = 'lost: its runner ended without reporting', runner = NULL, pid = NULL, cmd_pid = NULL WHERE id = ?1",
            )?
            .execute(params![id, state.name(), until, now])?;
            Ok(outcome)
        })
    }

    /// Marks running jobs lost: their runners have not been heard from (or are not known to a
    /// manager restored from a backup).
    pub fn mark_lost(&mut self, ids: &[i64]) -> Result<()> {
        self.tx(|tx| {
            let mut st = tx.prepare_cached(
                "UPDATE jobs SET state = 'lost' WHERE id = ?1 AND state = 'running'",
            )?;
            for id in ids {
                st.execute(params![id])?;
            }
            Ok(())
        })
    }

    /// Delayed jobs whose delay is over become ready. Returns how many.
    pub fn release_due(&mut self, now: f64) -> Result<usize> {
        self.tx(|tx| {
            tx.prepare_cached("UPDATE jobs SET state = 'ready', until = NULL WHERE state = 'delayed' AND until <= ?1")?
                .execute(params![now])
        })
    }

    /// Ready jobs of the group `group` (its key).
    pub fn ready_in(&self, group: &str) -> Result<u64> {
        self.conn
            .prepare_cached(
                "SELECT COALESCE(SUM(n), 0) FROM tally WHERE state = 'ready' AND req_key = ?1",
            )
            .and_then(|mut s| s.query_row(params![group], |r| r.get(0)))
            .map_err(self.db())
    }

    /// Buries the ready jobs of the group `group` (its key), saying why (jobs no server can ever
    /// take). Returns how many.
    pub fn bury_ready(&mut self, group: &str, reason: &str) -> Result<usize> {
        self.tx(|tx| {
            tx.execute(
                "UPDATE jobs SET state = 'buried', fail_reason = ?2 WHERE state = 'ready' AND req_key = ?1",
                params![group, reason],
            )
        })
    }

    /// The earliest time a delayed job becomes ready.
    pub fn next_due(&self) -> Result<Option<f64>> {
        self.conn
            .prepare_cached("SELECT MIN(until) FROM jobs WHERE state = 'delayed'")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(self.db())
    }

    /// Jobs runners hold (reserved, running or lost).
    pub fn held(&self) -> Result<Vec<Held>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id, runner, pid, touched, state, req_key, cmd_pid FROM jobs WHERE state IN ('reserved', 'running', 'lost') AND runner IS NOT NULL")
            .map_err(self.db())?;
        let rows = st
            .query_map([], |r| {
                Ok(Held {
                    id: r.get(0)?,
                    runner: r.get(1)?,
                    pid: r.get(2)?,
                    touched: r.get::<_, Option<f64>>(3)?.unwrap_or(0.0),
                    state: State::parse(&r.get::<_, String>(4)?).unwrap_or(State::Lost),
                    req: GroupKey::parse(&r.get::<_, String>(5)?).map(|g| g.req),
                    cmd_pid: r.get(6)?,
                })
            })
            .map_err(self.db())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db())
    }

    /// Counts per state (every state, zeros included), of every job or of one rep_grp.
    pub fn counts(&self, rep_grp: Option<&str>) -> Result<BTreeMap<State, u64>> {
        use rusqlite::types::Value;
        let (sql, args) = match rep_grp {
            None => ("SELECT state, SUM(n) FROM tally GROUP BY state", vec![]),
            Some(g) => (
                "SELECT state, COUNT(*) FROM jobs WHERE rep_grp = ?1 GROUP BY state",
                vec![Value::Text(g.to_string())],
            ),
        };
        let mut out: BTreeMap<State, u64> = State::ALL.iter().map(|s| (*s, 0)).collect();
        let mut st = self.conn.prepare_cached(sql).map_err(self.db())?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?))
            })
            .map_err(self.db())?;
        for row in rows {
            let (state, n) = row.map_err(self.db())?;
            if let Some(s) = State::parse(&state) {
                out.insert(s, n);
            }
        }
        Ok(out)
    }

    fn row(
        &self,
        r: &rusqlite::Row<'_>,
    ) -> rusqlite::Result<std::result::Result<Job, serde_json::Error>> {
        let spec: String = r.get(2)?;
        let spec = match serde_json::from_str(&spec) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(Job {
            id: r.get(0)?,
            key: r.get(1)?,
            spec,
            state: State::parse(&r.get::<_, String>(3)?).unwrap_or(State::Lost),
            attempts: r.get(4)?,
            runner: r.get(5)?,
            pid: r.get(6)?,
            started: r.get(7)?,
            ended: r.get(8)?,
            exit_code: r.get(9)?,
            stdout: r.get(10)?,
            stderr: r.get(11)?,
            fail_reason: r.get(12)?,
            until: r.get(13)?,
            cmd_pid: r.get(14)?,
        }))
    }

    pub fn get(&self, id: i64) -> Result<Option<Job>> {
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT {COLS} FROM jobs WHERE id = ?1"))
            .map_err(self.db())?;
        let job = st
            .query_row(params![id], |r| self.row(r))
            .optional()
            .map_err(self.db())?;
        job.transpose().map_err(|source| QueueError::Spec {
            path: self.path.clone(),
            source,
        })
    }

    /// The jobs `sel` chooses, in id order, calling `each` for every one (a listing of a
    /// million jobs is streamed, not held).
    pub fn each(&self, sel: &Select, mut each: impl FnMut(Job) -> bool) -> Result<()> {
        let (sql, args) = where_clause(sel);
        let mut st = self
            .conn
            .prepare(&format!("SELECT {COLS} FROM jobs{sql} ORDER BY id"))
            .map_err(self.db())?;
        let mut rows = st
            .query(rusqlite::params_from_iter(args.iter()))
            .map_err(self.db())?;
        while let Some(r) = rows.next().map_err(self.db())? {
            let job = self
                .row(r)
                .map_err(self.db())?
                .map_err(|source| QueueError::Spec {
                    path: self.path.clone(),
                    source,
                })?;
            if !each(job) {
                break;
            }
        }
        Ok(())
    }

    /// Asks the runners of the running jobs `sel` chooses to kill them. Returns how many.
    pub fn kill(&mut self, sel: &Select) -> Result<usize> {
        let (sql, args) = where_clause(sel);
        let extra = if sql.is_empty() { " WHERE" } else { " AND" };
        self.tx(|tx| {
            tx.execute(
                &format!("UPDATE jobs SET kill = 1{sql}{extra} state IN ('running', 'lost')"),
                rusqlite::params_from_iter(args.iter()),
            )
        })
    }

    /// Removes the jobs `sel` chooses that no runner holds. Returns how many.
    pub fn remove(&mut self, sel: &Select) -> Result<usize> {
        let (sql, args) = where_clause(sel);
        let extra = if sql.is_empty() { " WHERE" } else { " AND" };
        self.tx(|tx| {
            let cond = format!("{sql}{extra} state NOT IN ('running', 'lost', 'reserved')");
            let p = || rusqlite::params_from_iter(args.iter());
            tx.execute(
                &format!("DELETE FROM dep_grps WHERE job IN (SELECT id FROM jobs{cond})"),
                p(),
            )?;
            tx.execute(
                &format!("DELETE FROM deps WHERE job IN (SELECT id FROM jobs{cond})"),
                p(),
            )?;
            tx.execute(&format!("DELETE FROM jobs{cond}"), p())
        })
    }

    /// Makes the buried jobs `sel` chooses ready again, with their attempts reset.
    pub fn retry(&mut self, sel: &Select) -> Result<usize> {
        let (sql, args) = where_clause(sel);
        let extra = if sql.is_empty() { " WHERE" } else { " AND" };
        self.tx(|tx| {
            tx.execute(
                &format!("UPDATE jobs SET state = 'ready', attempts = 0, fail_reason = NULL{sql}{extra} state = 'buried'"),
                rusqlite::params_from_iter(args.iter()),
            )
        })
    }

    /// A consistent copy of the whole database into `to` (which must not exist).
    pub fn copy_to(&self, to: &Path) -> Result<()> {
        self.conn
            .execute("VACUUM INTO ?1", params![to.display().to_string()])
            .map(|_| ())
            .map_err(self.db())
    }
}

/// The attempts and retries of the job `runner` holds (running or lost), or None when it holds
/// it no longer.
fn held_by(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    runner: &str,
) -> rusqlite::Result<Option<(u32, u32)>> {
    let held: Option<(u32, String)> = tx
        .prepare_cached("SELECT attempts, spec FROM jobs WHERE id = ?1 AND runner = ?2 AND state IN ('running', 'lost')")?
        .query_row(params![id, runner], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    Ok(held.map(|(attempts, spec)| {
        let retries = serde_json::from_str::<JobSpec>(&spec)
            .map(|s| s.retries)
            .unwrap_or(0);
        (attempts, retries)
    }))
}

/// Where a failed attempt goes: delayed (until when) while attempts ≤ retries, else buried.
fn after_failure(attempts: u32, retries: u32, at: f64, retry_base: f64) -> (Outcome, Option<f64>) {
    if attempts <= retries {
        (
            Outcome::Delayed,
            Some(at + retry_delay(retry_base, attempts)),
        )
    } else {
        (Outcome::Buried, None)
    }
}

fn where_clause(sel: &Select) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut conds = Vec::new();
    let mut args = Vec::new();
    if let Some(g) = &sel.rep_grp {
        args.push(Value::Text(g.clone()));
        conds.push(format!("rep_grp = ?{}", args.len()));
    }
    if let Some(s) = sel.state {
        // Written out, not bound: a partial index is used only for the state it names.
        conds.push(match s {
            State::Reserved | State::Running | State::Lost => format!(
                "state IN ('reserved', 'running', 'lost') AND state = '{}'",
                s.name()
            ),
            _ => format!("state = '{}'", s.name()),
        });
    }
    if !sel.ids.is_empty() {
        let list: Vec<String> = sel.ids.iter().map(|i| i.to_string()).collect();
        conds.push(format!("id IN ({})", list.join(",")));
    }
    if conds.is_empty() {
        (String::new(), args)
    } else {
        (format!(" WHERE {}", conds.join(" AND ")), args)
    }
}

/// Dependents of the groups `id` belongs to that have nothing left to wait for become ready.
/// Returns how many dependents became ready.
fn after_complete(tx: &rusqlite::Transaction<'_>, id: i64) -> rusqlite::Result<usize> {
    let groups: Vec<String> = tx
        .prepare_cached("SELECT grp FROM dep_grps WHERE job = ?1")?
        .query_map(params![id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut released = 0;
    for g in groups {
        let waiting: Vec<i64> = tx
            .prepare_cached("SELECT d.job FROM deps d JOIN jobs j ON j.id = d.job WHERE d.grp = ?1 AND j.state = 'dependent'")?
            .query_map(params![g], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for job in waiting {
            released += release_if_satisfied(tx, job)?;
        }
    }
    Ok(released)
}

fn release_if_satisfied(tx: &rusqlite::Transaction<'_>, id: i64) -> rusqlite::Result<usize> {
    let blocking: i64 = tx
        .prepare_cached(
            "SELECT COUNT(*) FROM deps d JOIN dep_grps g ON g.grp = d.grp JOIN jobs j ON j.id = g.job WHERE d.job = ?1 AND j.state != 'complete' AND j.id != ?1",
        )?
        .query_row(params![id], |r| r.get(0))?;
    if blocking > 0 {
        return Ok(0);
    }
    tx.prepare_cached("UPDATE jobs SET state = 'ready' WHERE id = ?1 AND state = 'dependent'")?
        .execute(params![id])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{parse_lines, Defaults};

    fn q() -> (tempfile::TempDir, Queue) {
        let d = tempfile::tempdir().unwrap();
        let q = Queue::open(&d.path().join("db")).unwrap();
        (d, q)
    }

    fn specs(input: &str) -> Vec<JobSpec> {
        parse_lines(input, &Defaults::default()).unwrap()
    }

    fn report(id: i64, runner: &str, code: i32) -> Report {
        Report {
            id,
            runner: runner.into(),
            exit_code: Some(code),
            killed: false,
            stdout: "out".into(),
            stderr: String::new(),
            started: 1.0,
            ended: 2.0,
            error: None,
        }
    }

    #[test]
    fn add_dedupes_incomplete_jobs_only() {
        let (_d, mut q) = q();
        assert_eq!(q.add(&specs("echo a\necho b\necho a\n")).unwrap(), (2, 1));
        assert_eq!(q.add(&specs("echo a\n")).unwrap(), (0, 1));
        let g = q.ready_groups().unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].ready, 2);
        let j = q.reserve(&g[0].key, "r1", Some(10), 1.0).unwrap().unwrap();
        assert_eq!(j.spec.cmd, "echo a");
        assert_eq!(
            q.report(&report(j.id, "r1", 0), 30.0).unwrap().0,
            Outcome::Complete
        );
        // Complete: the same command may be queued again.
        assert_eq!(q.add(&specs("echo a\n")).unwrap(), (1, 0));
        let c = q.counts(None).unwrap();
        assert_eq!((c[&State::Complete], c[&State::Ready]), (1, 2));
    }

    #[test]
    fn a_group_no_server_takes_is_buried_with_the_reason() {
        let (_d, mut q) = q();
        q.add(&specs(
            "big 1\t{\"memory\":\"900G\"}\nbig 2\t{\"memory\":\"900G\"}\nsmall\n",
        ))
        .unwrap();
        let groups = q.ready_groups().unwrap();
        let big = groups
            .iter()
            .find(|g| g.req.ram > 100_000)
            .unwrap()
            .key
            .clone();
        assert_eq!(
            q.bury_ready(&big, "no flavor has 1 vCPUs and 921600 MB")
                .unwrap(),
            2
        );
        assert_eq!(q.ready_groups().unwrap().len(), 1);
        let c = q.counts(None).unwrap();
        assert_eq!((c[&State::Buried], c[&State::Ready]), (2, 1));
        let mut reasons = Vec::new();
        q.each(
            &Select {
                state: Some(State::Buried),
                ..Default::default()
            },
            |j| {
                reasons.push(j.fail_reason.unwrap());
                true
            },
        )
        .unwrap();
        assert_eq!(reasons, ["no flavor has 1 vCPUs and 921600 MB"; 2]);
    }

    #[test]
    fn failures_retry_after_a_delay_then_bury() {
        let (_d, mut q) = q();
        q.add(&specs("false\t{\"retries\":1}\n")).unwrap();
        let req = q.ready_groups().unwrap()[0].key.clone();
        let j = q.reserve(&req, "r1", None, 0.0).unwrap().unwrap();
        assert_eq!(
            q.report(&report(j.id, "r1", 3), 30.0).unwrap().0,
            Outcome::Delayed
        );
        assert_eq!(q.get(j.id).unwrap().unwrap().until, Some(32.0));
        assert_eq!(q.release_due(31.0).unwrap(), 0);
        assert_eq!(q.release_due(32.0).unwrap(), 1);
        let j = q.reserve(&req, "r2", None, 40.0).unwrap().unwrap();
        assert_eq!(j.attempts, 2);
        // The first runner's late report is not the holder's.
        assert_eq!(
            q.report(&report(j.id, "r1", 0), 30.0).unwrap().0,
            Outcome::Stale
        );
        assert_eq!(
            q.report(&report(j.id, "r2", 3), 30.0).unwrap().0,
            Outcome::Buried
        );
        let b = q.get(j.id).unwrap().unwrap();
        assert_eq!((b.state, b.exit_code), (State::Buried, Some(3)));
        assert_eq!(b.fail_reason.as_deref(), Some("exited with code 3"));
        assert_eq!(q.retry(&Select::default()).unwrap(), 1);
        assert_eq!(q.get(j.id).unwrap().unwrap().state, State::Ready);
    }

    #[test]
    fn a_gone_runner_loses_its_job_to_a_retry() {
        let (_d, mut q) = q();
        q.add(&specs("sleep 9\n")).unwrap();
        let req = q.ready_groups().unwrap()[0].key.clone();
        let j = q.reserve(&req, "r1", Some(5), 0.0).unwrap().unwrap();
        assert_eq!(q.held().unwrap().len(), 1);
        q.mark_lost(&[j.id]).unwrap();
        assert_eq!(q.get(j.id).unwrap().unwrap().state, State::Lost);
        assert_eq!(
            q.runner_gone(j.id, "r1", 10.0, 0.0).unwrap(),
            Outcome::Delayed
        );
        assert_eq!(q.release_due(10.0).unwrap(), 1);
        assert_eq!(
            q.reserve(&req, "r2", None, 11.0).unwrap().unwrap().attempts,
            2
        );
    }

    #[test]
    fn a_prefetched_job_counts_once_it_begins_and_goes_back_if_its_runner_goes() {
        let (_d, mut q) = q();
        q.add(&specs("a\nb\nc\n")).unwrap();
        let req = q.ready_groups().unwrap()[0].key.clone();
        let a = q.reserve(&req, "r", None, 0.0).unwrap().unwrap();
        let b = q.prefetch(&req, "r", None, 0.0).unwrap().unwrap();
        assert_eq!((b.state, b.attempts), (State::Reserved, 0));
        assert_eq!(q.touch(b.id, "r", None, 1.0).unwrap(), Some(false));
        assert_eq!(q.get(b.id).unwrap().unwrap().state, State::Reserved);
        assert_eq!(
            q.report(&report(a.id, "r", 0), 1.0).unwrap().0,
            Outcome::Complete
        );
        assert!(q.begin(b.id, "r", 2.0).unwrap());
        assert!(!q.begin(b.id, "r", 2.0).unwrap(), "once");
        let b = q.get(b.id).unwrap().unwrap();
        assert_eq!((b.state, b.attempts), (State::Running, 1));
        let c = q.prefetch(&req, "r", None, 2.0).unwrap().unwrap();
        assert_eq!(
            q.remove(&Select {
                ids: vec![c.id],
                ..Default::default()
            })
            .unwrap(),
            0,
            "held"
        );
        assert_eq!(
            q.runner_gone(c.id, "r", 3.0, 0.0).unwrap(),
            Outcome::Released
        );
        let c = q.get(c.id).unwrap().unwrap();
        assert_eq!((c.state, c.attempts), (State::Ready, 0));
    }

    #[test]
    fn kill_buries_and_remove_spares_held_jobs() {
        let (_d, mut q) = q();
        q.add(&specs(
            "sleep 1\t{\"rep_grp\":\"k\"}\nsleep 2\t{\"rep_grp\":\"k\"}\n",
        ))
        .unwrap();
        let req = q.ready_groups().unwrap()[0].key.clone();
        let j = q.reserve(&req, "r1", None, 0.0).unwrap().unwrap();
        let sel = Select {
            rep_grp: Some("k".into()),
            ..Default::default()
        };
        assert_eq!(q.kill(&sel).unwrap(), 1);
        assert_eq!(q.touch(j.id, "r1", Some(77), 1.0).unwrap(), Some(true));
        assert_eq!(q.held().unwrap()[0].cmd_pid, Some(77));
        assert_eq!(q.touch(j.id, "other", None, 1.0).unwrap(), None);
        assert_eq!(q.remove(&sel).unwrap(), 1);
        let mut r = report(j.id, "r1", 0);
        r.killed = true;
        r.exit_code = None;
        assert_eq!(q.report(&r, 30.0).unwrap().0, Outcome::Buried);
        assert_eq!(q.counts(Some("k")).unwrap()[&State::Buried], 1);
    }

    #[test]
    fn dependents_wait_for_their_groups() {
        let (_d, mut q) = q();
        q.add(&specs("{\"cmd\":\"a\",\"dep_grps\":[\"g\"]}\n{\"cmd\":\"b\",\"dep_grps\":[\"g\"]}\n{\"cmd\":\"c\",\"deps\":[\"g\"]}\n{\"cmd\":\"d\",\"deps\":[\"none\"]}\n")).unwrap();
        let c = q.counts(None).unwrap();
        assert_eq!((c[&State::Ready], c[&State::Dependent]), (3, 1));
        for runner in ["r1", "r2"] {
            let g = q.ready_groups().unwrap();
            let j = q.reserve(&g[0].key, runner, None, 0.0).unwrap().unwrap();
            assert!(j.spec.cmd == "a" || j.spec.cmd == "b", "{}", j.spec.cmd);
            let released = q.report(&report(j.id, runner, 0), 30.0).unwrap().1;
            assert_eq!(
                released,
                usize::from(runner == "r2"),
                "c is released by the last of its group"
            );
        }
        assert_eq!(q.counts(None).unwrap()[&State::Dependent], 0);
    }

    #[test]
    fn the_tally_follows_every_change() {
        let (d, mut q) = q();
        q.add(&specs("a\nb\t{\"priority\":3}\nc\t{\"memory\":\"2G\"}\n"))
            .unwrap();
        let groups = q.ready_groups().unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!((groups[0].ready, groups[0].priority), (2, 3));
        let j = q.reserve(&groups[0].key, "r", None, 0.0).unwrap().unwrap();
        assert_eq!(j.spec.cmd, "b", "priority first");
        q.report(&report(j.id, "r", 0), 1.0).unwrap();
        q.remove(&Select {
            ids: vec![1],
            ..Default::default()
        })
        .unwrap();
        let c = q.counts(None).unwrap();
        assert_eq!((c[&State::Ready], c[&State::Complete]), (1, 1));
        // Counting from scratch agrees.
        let direct: i64 = q
            .conn
            .query_row("SELECT COUNT(*) FROM jobs WHERE state = 'ready'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(direct, 1);
        q.conn.execute("DELETE FROM tally", []).unwrap();
        drop(q);
        let q = Queue::open(&d.path().join("db")).unwrap();
        assert_eq!(q.counts(None).unwrap(), c, "rebuilt when missing");
    }

    #[test]
    fn a_copy_reads_back() {
        let (d, mut q) = q();
        q.add(&specs("echo a\n")).unwrap();
        let to = d.path().join("copy");
        q.copy_to(&to).unwrap();
        let c = Queue::open(&to).unwrap();
        assert_eq!(c.counts(None).unwrap()[&State::Ready], 1);
    }
}
