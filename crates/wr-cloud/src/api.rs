//! What the manager and its clients (the commands and the runners) send each other: JSON over
//! HTTPS, every request carrying `Authorization: Bearer <token>`.
//!
//! | request | body | answer |
//! |---|---|---|
//! | `GET /ping` | | `Ping` |
//! | `POST /add` | `[JobSpec]` | `Added` (all or nothing) |
//! | `GET /counts?rep_grp=` | | `{state: n}` |
//! | `GET /jobs?rep_grp=&state=&limit=` | | JSON lines of `Job` |
//! | `POST /kill`, `/remove`, `/retry` | `Selection` | `Changed` |
//! | `POST /reserve` | `Reserve` | `Job`, or 204 when none came within the wait |
//! | `POST /touch` | `Touch` | `Touched`, or 410 when the runner no longer holds the job |
//! | `POST /done` | `Finished` | `Done` (with the runner's next job, when one is ready) |
//! | `GET /servers` | | `{"servers": [ServerView], "spawning": n}` (cloud mode) |
//! | `POST /servers/confirmdead` | `ServerChoice` | `{"destroyed": [name]}`: bad servers (all, or the one named) |
//! | `POST /servers/destroy` | `ServerChoice` | `{"destroyed": [name]}`: the server named, bad or not |
//! | `POST /shutdown` | | `{"stopping": true}` |

use serde::{Deserialize, Serialize};
use wr::queue::Outcome;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ping {
    pub deployment: String,
    pub pid: u32,
    pub port: u16,
    pub web: u16,
    pub managerdir: String,
    pub backup: BackupStatus,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BackupStatus {
    /// Where backups go; None in development, which keeps none.
    pub target: Option<String>,
    /// Unix seconds of the last backup that landed.
    pub last_ok: Option<f64>,
    /// The last backup's error, until one lands.
    pub error: Option<String>,
    /// Whether changes are waiting for the next backup.
    pub pending: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Added {
    pub added: u64,
    pub dups: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Selection {
    pub rep_grp: Option<String>,
    pub all: bool,
    #[serde(default)]
    pub ids: Vec<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Changed {
    pub action: String,
    pub jobs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reserve {
    pub runner: String,
    /// The scheduler group's key (`RAM:minutes:cores:disk`).
    pub group: String,
    pub pid: u32,
    /// Seconds to wait for a job before answering none.
    pub wait: f64,
    /// Take the job to run after the current one (it stays reserved until the runner begins
    /// it), so the runner starts it the moment the current one ends.
    #[serde(default)]
    pub prefetch: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Touch {
    pub id: i64,
    pub runner: String,
    /// The command's pid (and process group), so a manager that gives the job up as lost can
    /// end what is left of it before a retry.
    #[serde(default)]
    pub cmd_pid: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Touched {
    pub kill: bool,
}

/// What a runner says between commands, in one request: the result of the command before
/// (if any), the reserved job it has begun (if any), and its wish for the next job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finished {
    pub report: Option<wr::queue::Report>,
    pub began: Option<i64>,
    pub next: Option<Reserve>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Done {
    pub outcome: Option<Outcome>,
    /// The next job, when `next` was asked for and one was ready at once.
    pub next: Option<wr::queue::Job>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}

/// The server a `cloud servers` action names (None: every bad one).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerChoice {
    #[serde(default)]
    pub server: Option<String>,
}
