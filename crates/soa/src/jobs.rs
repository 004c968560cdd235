//! Scheduled jobs: which runs are due now. [`decide`] is a pure function of a job's config, the
//! runs the cluster remembers and a clock, so that setup-service's decisions are tested over
//! months of simulated time and `--now` can replay any moment.
//!
//! The rules (docs/paasta.md §7, and where the reference is silent, ours):
//! - A scheduled job's occurrences come from its schedule in `schedule_time_zone`. The latest
//!   occurrence not yet accounted for starts when it is at most `epsilon` late; older ones, and
//!   that one when it is later than epsilon, are recorded as missed (one record, with a count).
//! - One run at a time: occurrences that fall due while a run of the job is in flight are
//!   recorded as skipped, and do not happen.
//! - A job with `parents` runs once every parent has succeeded since the job's own last run
//!   began ("since" = a successful parent run that began after it). Its due time is the latest
//!   due time of those parent runs, so a chain works on one date.
//! - A failed run is retried (same due time, attempt + 1) up to `retries` times, unless a newer
//!   occurrence or a new deploy (another git sha) came since: retries belong to one version.
//! - `disabled: true` and desired_state stop start nothing. A hold (service-ctl emergency-stop)
//!   starts nothing until the job's git sha changes (the next deploy); then it is released.
//! - Reruns are jobs of their own (a temporary name): they neither block the job nor count as its
//!   runs, and their successes do not trigger dependents.
//! - With no record of a job at all (new, or everything expired), only an occurrence within
//!   epsilon of now starts; nothing earlier is called missed, as nothing says it was due then.
//! - Results are kept 24 hours after they end; the latest scheduled or emergency record of each
//!   job outlives that, as the job's memory of when it last ran (Chronos keeps lastSuccess and
//!   lastError the same way), until a newer one replaces it.

use crate::schedule::{self, Schedule};
use crate::{InstanceConfig, Problem};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How long a finished run's result is kept.
pub const KEEP_RESULTS_S: i64 = 24 * 3600;

/// Occurrences counted at most when a job has been unattended for long.
const MAX_COUNTED: u32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Scheduled,
    Rerun,
    Emergency,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Scheduled => "scheduled",
            RunKind::Rerun => "rerun",
            RunKind::Emergency => "emergency",
        }
    }
    pub fn parse(s: &str) -> Option<RunKind> {
        match s {
            "scheduled" => Some(RunKind::Scheduled),
            "rerun" => Some(RunKind::Rerun),
            "emergency" => Some(RunKind::Emergency),
            _ => None,
        }
    }
}

/// What became of a run, or what a record says did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Created, not started: a launch cut short.
    Staged,
    Running,
    Succeeded,
    Failed {
        exit_code: i64,
    },
    /// `count` occurrences up to this due time were later than epsilon.
    Missed {
        count: u32,
    },
    /// `count` occurrences up to this due time fell while a run was in flight.
    Skipped {
        count: u32,
    },
    /// The job is held (emergency-stop) until its git sha changes.
    Held,
}

impl Outcome {
    /// A record of something that did not run (no process behind it).
    pub fn is_record(&self) -> bool {
        matches!(
            self,
            Outcome::Missed { .. } | Outcome::Skipped { .. } | Outcome::Held
        )
    }
    pub fn in_flight(&self) -> bool {
        matches!(self, Outcome::Staged | Outcome::Running)
    }
}

/// A run (or a record) as the cluster remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The backend's handle.
    pub id: String,
    pub name: String,
    pub service: String,
    pub instance: String,
    /// `<service> <instance>`, or a rerun's temporary name.
    pub job: String,
    pub kind: RunKind,
    /// Unix seconds the run was due (a rerun: the date it was run for).
    pub due: i64,
    pub attempt: u32,
    /// Unix milliseconds it was launched, on the clock of whoever launched it.
    pub started_ms: i64,
    pub git_sha: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What makes a job run.
#[derive(Debug, Clone)]
pub enum Trigger {
    Schedule {
        schedule: Schedule,
        tz: Option<Tz>,
        /// Seconds a run may start after its due time.
        epsilon: i64,
    },
    Parents(Vec<(String, String)>),
}

#[derive(Debug, Clone)]
pub struct Job {
    pub service: String,
    pub instance: String,
    pub trigger: Trigger,
    pub retries: u32,
    /// False when disabled or stopped.
    pub enabled: bool,
    /// The deployed version; a hold lasts while it is the same.
    pub git_sha: String,
}

impl Job {
    /// The job of a chronos instance; errors name the key and what was expected.
    pub fn from_config(
        config: &InstanceConfig,
        git_sha: &str,
        stopped: bool,
    ) -> Result<Job, Problem> {
        let problem = |message: String| {
            Problem::new(&config.file, message).instance_of(&config.service, &config.instance)
        };
        let at = |key: &str, message: String| problem(message).key(key);
        let job = config
            .scheduled()
            .ok_or_else(|| problem("not a scheduled job".into()))?;
        let parents = job.parents.as_ref().filter(|p| !p.is_empty());
        let trigger = match (&job.schedule, parents) {
            (Some(_), Some(_)) => {
                return Err(at(
                    "parents",
                    "a job has either a schedule or parents, not both".into(),
                ))
            }
            (None, None) => {
                return Err(problem(
                    "a job needs a schedule (e.g. R/2019-01-01T03:00:00Z/P1D or 0 3 * * *) or parents (e.g. [service.instance])".into(),
                ))
            }
            (Some(text), None) => {
                let schedule = schedule::parse(text).map_err(|e| at("schedule", e.to_string()))?;
                let tz = job
                    .schedule_time_zone
                    .as_deref()
                    .map(schedule::parse_time_zone)
                    .transpose()
                    .map_err(|e| at("schedule_time_zone", e.to_string()))?;
                let epsilon = schedule::parse_epsilon(&job.epsilon)
                    .map_err(|e| at("epsilon", e.to_string()))?
                    .num_seconds();
                Trigger::Schedule {
                    schedule,
                    tz,
                    epsilon,
                }
            }
            (None, Some(parents)) => {
                let me = format!("{}.{}", config.service, config.instance);
                let mut out = Vec::new();
                for p in parents {
                    let Some((s, i)) = crate::select::split_name(p) else {
                        return Err(at("parents", format!("parent {p:?} is not written service.instance")));
                    };
                    if *p == me {
                        return Err(at("parents", format!("Job {me} cannot depend on itself")));
                    }
                    out.push((s.to_string(), i.to_string()));
                }
                Trigger::Parents(out)
            }
        };
        Ok(Job {
            service: config.service.clone(),
            instance: config.instance.clone(),
            trigger,
            retries: u32::try_from(job.retries).unwrap_or(u32::MAX),
            enabled: !job.disabled && !stopped,
            git_sha: git_sha.to_string(),
        })
    }

    pub fn name(&self) -> String {
        job_name(&self.service, &self.instance)
    }
}

/// A job's parents that are written `service.instance` (Job::from_config refuses the others).
pub fn parents(config: &InstanceConfig) -> Vec<(String, String)> {
    config
        .scheduled()
        .and_then(|j| j.parents.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|p| crate::select::split_name(p))
        .map(|(s, i)| (s.to_string(), i.to_string()))
        .collect()
}

/// Chronos's job name: `<service> <instance>`.
pub fn job_name(service: &str, instance: &str) -> String {
    format!("{service} {instance}")
}

/// The job's command with its time variables at `at` (unix seconds, UTC), in the syntax §8's
/// rule picks; None when the job runs its image's entrypoint.
pub fn command_at(config: &InstanceConfig, at: i64) -> Result<Option<String>, Problem> {
    let Some(cmd) = &config.cmd else {
        return Ok(None);
    };
    let problem = |message: String| {
        Problem::new(&config.file, message)
            .instance_of(&config.service, &config.instance)
            .key("cmd")
    };
    let text = cmd.joined();
    let when = DateTime::from_timestamp(at, 0)
        .ok_or_else(|| problem(format!("the time {at} is not a time")))?
        .naive_utc();
    crate::timevars::interpolate(&text, config.syntax_for(&text), when)
        .map(Some)
        .map_err(|e| problem(format!("the command's time variables do not parse: {e}")))
}

/// A rerun's temporary job name: `tmp-<stamp> <service> <instance>` (docs/paasta.md §7).
pub fn rerun_name(stamp: &str, service: &str, instance: &str) -> String {
    format!("tmp-{stamp} {}", job_name(service, instance))
}

/// Unix seconds as outputs show times: `2026-11-21T03:00:00Z`.
pub fn time_text(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| secs.to_string())
}

/// The runs of each job (reruns left out: they are jobs of their own), for lookups.
pub struct RunIndex<'a> {
    /// Keys to positions in `groups` (a lookup with shorter-lived keys then cannot shorten the
    /// runs' lifetime).
    by_job: HashMap<(&'a str, &'a str), usize>,
    groups: Vec<Vec<&'a Run>>,
}

impl<'a> RunIndex<'a> {
    pub fn new(runs: &'a [Run]) -> RunIndex<'a> {
        let mut by_job: HashMap<(&str, &str), usize> = HashMap::new();
        let mut groups: Vec<Vec<&Run>> = Vec::new();
        for r in runs.iter().filter(|r| r.kind != RunKind::Rerun) {
            let i = *by_job
                .entry((r.service.as_str(), r.instance.as_str()))
                .or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
            groups[i].push(r);
        }
        RunIndex { by_job, groups }
    }

    pub fn of(&self, service: &str, instance: &str) -> &[&'a Run] {
        match self.by_job.get(&(service, instance)) {
            Some(&i) => &self.groups[i],
            None => &[],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Nothing to do until the next due time.
    Idle,
    /// A run is in flight.
    Running,
    /// Waiting for its parents to succeed.
    WaitingForParents,
    Disabled,
    Held,
    /// A run starts now.
    Starting,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Idle => "idle",
            JobState::Running => "running",
            JobState::WaitingForParents => "waiting_for_parents",
            JobState::Disabled => "disabled",
            JobState::Held => "held",
            JobState::Starting => "starting",
        }
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Start {
    pub due: i64,
    pub attempt: u32,
    pub kind: RunKind,
}

/// A record to write: occurrences that did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Record {
    pub due: i64,
    pub outcome: Outcome,
}

/// What to do about one job now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub state: JobState,
    pub start: Option<Start>,
    pub records: Vec<Record>,
    /// Holds of an older git sha, to remove (ids).
    pub release: Vec<String>,
    /// Unix seconds of the next occurrence (scheduled jobs).
    pub next_due: Option<i64>,
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// The latest occurrence at or before `t`, looking back at most eight years.
fn last_at_or_before(schedule: &Schedule, tz: Option<Tz>, t: i64) -> Option<i64> {
    for window in [3600, 86_400, 32 * 86_400, 366 * 86_400, 8 * 366 * 86_400] {
        let found = schedule.runs_between(at(t - window), at(t), tz, usize::MAX);
        if let Some(last) = found.last() {
            return Some(last.timestamp());
        }
    }
    None
}

/// Occurrences in `(after, until]`.
struct Occurrences {
    /// How many (at most MAX_COUNTED).
    count: u32,
    last: Option<i64>,
    before_last: Option<i64>,
    /// The first one after `until`.
    next: Option<i64>,
}

fn occurrences(schedule: &Schedule, tz: Option<Tz>, after: i64, until: i64) -> Occurrences {
    let mut o = Occurrences {
        count: 0,
        last: None,
        before_last: None,
        next: None,
    };
    let mut t = at(after);
    loop {
        let Some(next) = schedule.next_after(t, tz) else {
            return o;
        };
        if next.timestamp() > until {
            o.next = Some(next.timestamp());
            return o;
        }
        o.count += 1;
        o.before_last = o.last;
        o.last = Some(next.timestamp());
        if o.count == MAX_COUNTED {
            // Unattended for long: jump to the end instead of walking every occurrence.
            let end = last_at_or_before(schedule, tz, until);
            if end != o.last {
                o.before_last = end.and_then(|e| last_at_or_before(schedule, tz, e - 1));
                o.last = end;
            }
            o.next = schedule.next_after(at(until), tz).map(|t| t.timestamp());
            return o;
        }
        t = next;
    }
}

/// What to do about `job` at `now` (unix seconds), given every run the cluster remembers.
pub fn decide(job: &Job, runs: &RunIndex<'_>, now: i64) -> Decision {
    let mine = runs.of(&job.service, &job.instance);
    let mut d = Decision {
        state: JobState::Idle,
        start: None,
        records: Vec::new(),
        release: Vec::new(),
        next_due: None,
    };
    let mut held = false;
    for r in mine.iter().filter(|r| r.outcome == Outcome::Held) {
        if r.git_sha == job.git_sha {
            held = true;
        } else {
            d.release.push(r.id.clone());
        }
    }
    if held {
        d.state = JobState::Held;
        return d;
    }
    if !job.enabled {
        d.state = JobState::Disabled;
        return d;
    }
    let in_flight = mine.iter().any(|r| r.outcome.in_flight());
    let last_run = mine
        .iter()
        .filter(|r| !r.outcome.is_record())
        .max_by_key(|r| (r.started_ms, r.attempt));
    let retry = last_run
        .filter(|r| {
            matches!(r.outcome, Outcome::Failed { .. })
                && r.attempt < job.retries
                && r.git_sha == job.git_sha
        })
        .map(|r| Start {
            due: r.due,
            attempt: r.attempt + 1,
            kind: r.kind,
        });
    match &job.trigger {
        Trigger::Schedule {
            schedule,
            tz,
            epsilon,
        } => {
            let anchor = mine
                .iter()
                .filter(|r| r.kind == RunKind::Scheduled)
                .map(|r| r.due)
                .max();
            let o = match anchor {
                Some(a) => occurrences(schedule, *tz, a, now),
                // No memory of the job: only an occurrence within epsilon counts.
                None => {
                    let mut o = occurrences(schedule, *tz, now - epsilon - 1, now);
                    o.count = o.count.min(1);
                    o
                }
            };
            let (n, last, before) = (o.count, o.last, o.before_last);
            d.next_due = o.next;
            match last {
                None => {
                    if in_flight {
                        d.state = JobState::Running;
                    } else if let Some(r) = retry.filter(|r| anchor.is_none_or(|a| r.due >= a)) {
                        d.state = JobState::Starting;
                        d.start = Some(r);
                    }
                }
                Some(last) if in_flight => {
                    d.state = JobState::Running;
                    d.records.push(Record {
                        due: last,
                        outcome: Outcome::Skipped { count: n },
                    });
                }
                Some(last) if now - last <= *epsilon => {
                    if let (Some(before), true) = (before, n > 1) {
                        d.records.push(Record {
                            due: before,
                            outcome: Outcome::Missed { count: n - 1 },
                        });
                    }
                    d.state = JobState::Starting;
                    d.start = Some(Start {
                        due: last,
                        attempt: 0,
                        kind: RunKind::Scheduled,
                    });
                }
                Some(last) => d.records.push(Record {
                    due: last,
                    outcome: Outcome::Missed { count: n },
                }),
            }
        }
        Trigger::Parents(parents) => {
            let since = last_run.map(|r| r.started_ms);
            let mut due: Option<i64> = Some(i64::MIN);
            for (ps, pi) in parents {
                let succeeded = runs
                    .of(ps, pi)
                    .iter()
                    .filter(|r| {
                        r.outcome == Outcome::Succeeded && since.is_none_or(|s| r.started_ms > s)
                    })
                    .map(|r| r.due)
                    .max();
                due = match (due, succeeded) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
            if in_flight {
                d.state = JobState::Running;
            } else if let Some(due) = due.filter(|_| !parents.is_empty()) {
                d.state = JobState::Starting;
                d.start = Some(Start {
                    due,
                    attempt: 0,
                    kind: RunKind::Scheduled,
                });
            } else if let Some(r) = retry {
                d.state = JobState::Starting;
                d.start = Some(r);
            } else {
                d.state = JobState::WaitingForParents;
            }
        }
    }
    d
}

/// Finished runs and records that may be past keeping: begun more than [`KEEP_RESULTS_S`] before
/// `now_ms`, neither in flight nor a hold, nor the latest scheduled or emergency record of their
/// job. Whether one is removed depends on when it ended, which only the backend knows.
pub fn expiry_candidates(runs: &[Run], now_ms: i64) -> Vec<&Run> {
    let mut latest: HashMap<(&str, &str), (i64, i64, u32)> = HashMap::new();
    for r in runs
        .iter()
        .filter(|r| r.kind != RunKind::Rerun && r.outcome != Outcome::Held)
    {
        let key = (r.started_ms, r.due, r.attempt);
        let e = latest
            .entry((r.service.as_str(), r.instance.as_str()))
            .or_insert(key);
        *e = (*e).max(key);
    }
    runs.iter()
        .filter(|r| {
            !r.outcome.in_flight()
                && r.outcome != Outcome::Held
                && r.started_ms < now_ms - KEEP_RESULTS_S * 1000
                && (r.kind == RunKind::Rerun
                    || latest.get(&(r.service.as_str(), r.instance.as_str()))
                        != Some(&(r.started_ms, r.due, r.attempt)))
        })
        .collect()
}

/// A job in the dependency graph: (service, instance) and its parents.
pub type Node = ((String, String), Vec<(String, String)>);

/// Why a dependency graph cannot be ordered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("Parent job {}.{} of {}.{} could not be found", .parent.0, .parent.1, .child.0, .child.1)]
    MissingParent {
        parent: (String, String),
        child: (String, String),
    },
    #[error("no job {}.{}", .0.0, .0.1)]
    NoJob((String, String)),
    #[error("the jobs' parents form a cycle among {} (a job cannot run until it has run)", .0.iter().map(|(s, i)| format!("{s}.{i}")).collect::<Vec<_>>().join(", "))]
    Cycle(Vec<(String, String)>),
}

/// The jobs related to `start` (its ancestors, descendants, and theirs: the connected part of
/// the graph), in an order where every parent comes before its children. Errors: a parent that
/// is not in `jobs`, or a cycle.
pub fn related_in_order(
    jobs: &[Node],
    start: &(String, String),
) -> Result<Vec<(String, String)>, GraphError> {
    let parents_of: HashMap<&(String, String), &Vec<(String, String)>> =
        jobs.iter().map(|(k, p)| (k, p)).collect();
    let mut linked: HashMap<&(String, String), Vec<&(String, String)>> = HashMap::new();
    for (k, ps) in jobs {
        for p in ps {
            let Some((pk, _)) = jobs.iter().find(|(j, _)| j == p) else {
                return Err(GraphError::MissingParent {
                    parent: p.clone(),
                    child: k.clone(),
                });
            };
            linked.entry(k).or_default().push(pk);
            linked.entry(pk).or_default().push(k);
        }
    }
    let Some((first, _)) = jobs.iter().find(|(j, _)| j == start) else {
        return Err(GraphError::NoJob(start.clone()));
    };
    let mut seen = vec![first];
    let mut i = 0;
    while i < seen.len() {
        for n in linked.get(seen[i]).into_iter().flatten() {
            if !seen.contains(n) {
                seen.push(n);
            }
        }
        i += 1;
    }
    // Kahn's algorithm over the related part, in the order of `jobs` for stable output.
    let mut group: Vec<&(String, String)> = jobs
        .iter()
        .map(|(k, _)| k)
        .filter(|k| seen.contains(k))
        .collect();
    let mut order: Vec<(String, String)> = Vec::new();
    while !group.is_empty() {
        let ready = group
            .iter()
            .position(|k| parents_of[k].iter().all(|p| order.contains(p)));
        match ready {
            Some(pos) => order.push(group.remove(pos).clone()),
            None => return Err(GraphError::Cycle(group.into_iter().cloned().collect())),
        }
    }
    Ok(order)
}

/// Jobs whose parents form a cycle, or name a job that does not exist, with the reason: such a
/// job can never run, which is an error to report rather than a silent wait.
pub fn unrunnable(jobs: &[Node]) -> HashMap<(String, String), String> {
    let known: HashMap<&(String, String), &Vec<(String, String)>> =
        jobs.iter().map(|(k, p)| (k, p)).collect();
    let mut out = HashMap::new();
    for (k, ps) in jobs {
        for p in ps {
            if !known.contains_key(p) {
                out.insert(
                    k.clone(),
                    format!("Parent job {}.{} could not be found", p.0, p.1),
                );
            }
        }
    }
    // A job is in (or behind) a cycle when following parents from it never ends.
    let mut done: HashMap<&(String, String), bool> = HashMap::new(); // true = reaches a cycle
    fn visit<'a>(
        k: &'a (String, String),
        known: &HashMap<&'a (String, String), &'a Vec<(String, String)>>,
        done: &mut HashMap<&'a (String, String), bool>,
        path: &mut Vec<&'a (String, String)>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = path.iter().position(|p| *p == k) {
            let mut cycle: Vec<String> = path[pos..]
                .iter()
                .map(|(s, i)| format!("{s}.{i}"))
                .collect();
            cycle.push(format!("{}.{}", k.0, k.1));
            return Some(cycle);
        }
        if done.get(k) == Some(&false) {
            return None;
        }
        path.push(k);
        let mut found = None;
        if let Some(ps) = known.get(k) {
            for p in ps.iter() {
                if let Some((pk, _)) = known.get_key_value(p) {
                    if let Some(c) = visit(pk, known, done, path) {
                        found = Some(c);
                        break;
                    }
                }
            }
        }
        path.pop();
        done.insert(k, found.is_some());
        found
    }
    for (k, _) in jobs {
        let mut path = Vec::new();
        if let Some(cycle) = visit(k, &known, &mut done, &mut path) {
            out.entry(k.clone()).or_insert(format!(
                "the jobs' parents form a cycle: {} (a job cannot run until it has run)",
                cycle.join(" -> ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
