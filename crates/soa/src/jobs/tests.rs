//! The due-run decision over simulated time: a world where setup-service passes every minute,
//! runs take as long as the test says and end as it says.

use super::*;
use chrono::{Datelike, NaiveDate, TimeZone, Timelike};

fn ts(s: &str) -> i64 {
    DateTime::parse_from_rfc3339(s).unwrap().timestamp()
}

fn scheduled(service: &str, instance: &str, sched: &str, tz: Option<&str>, eps: i64) -> Job {
    Job {
        service: service.into(),
        instance: instance.into(),
        trigger: Trigger::Schedule {
            schedule: schedule::parse(sched).unwrap(),
            tz: tz.map(|t| schedule::parse_time_zone(t).unwrap()),
            epsilon: eps,
        },
        retries: 2,
        enabled: true,
        git_sha: "a".repeat(40),
    }
}

fn child(service: &str, instance: &str, parents: &[(&str, &str)]) -> Job {
    Job {
        service: service.into(),
        instance: instance.into(),
        trigger: Trigger::Parents(
            parents
                .iter()
                .map(|(s, i)| (s.to_string(), i.to_string()))
                .collect(),
        ),
        retries: 2,
        enabled: true,
        git_sha: "a".repeat(40),
    }
}

/// A start the world saw: job, due, attempt, the minute it started.
#[derive(Debug, Clone, PartialEq)]
struct Started {
    job: String,
    due: i64,
    attempt: u32,
    at: i64,
}

/// How a run goes: (seconds it takes, exit code), from the job, its due time and attempt.
type Behaviour = dyn Fn(&str, i64, u32) -> (i64, i64);

struct World {
    jobs: Vec<Job>,
    runs: Vec<Run>,
    /// Unix seconds each in-flight run ends, by id.
    ends: HashMap<String, (i64, i64)>,
    started: Vec<Started>,
    records: Vec<(String, Record)>,
    next_id: u64,
}

impl World {
    fn new(jobs: Vec<Job>) -> World {
        World {
            jobs,
            runs: Vec::new(),
            ends: HashMap::new(),
            started: Vec::new(),
            records: Vec::new(),
            next_id: 0,
        }
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("r{}", self.next_id)
    }

    /// One setup-service pass at `now`.
    fn pass(&mut self, now: i64, behaviour: &Behaviour) {
        for r in &mut self.runs {
            if let Some((end, code)) = self.ends.get(&r.id) {
                if *end <= now && r.outcome == Outcome::Running {
                    r.outcome = if *code == 0 {
                        Outcome::Succeeded
                    } else {
                        Outcome::Failed { exit_code: *code }
                    };
                }
            }
        }
        // Results past keeping go, as setup-service removes them.
        let expired: Vec<String> = expiry_candidates(&self.runs, now * 1000)
            .iter()
            .filter(|r| {
                let ended = self
                    .ends
                    .get(&r.id)
                    .map_or(r.started_ms / 1000, |(e, _)| *e);
                ended < now - KEEP_RESULTS_S
            })
            .map(|r| r.id.clone())
            .collect();
        self.runs.retain(|r| !expired.contains(&r.id));
        let decisions: Vec<(usize, Decision)> = {
            let index = RunIndex::new(&self.runs);
            self.jobs
                .iter()
                .enumerate()
                .map(|(i, j)| (i, decide(j, &index, now)))
                .collect()
        };
        for (i, d) in decisions {
            let job = self.jobs[i].clone();
            self.runs.retain(|r| !d.release.contains(&r.id));
            for rec in d.records {
                let id = self.id();
                self.records.push((job.name(), rec));
                self.runs.push(Run {
                    id,
                    name: String::new(),
                    service: job.service.clone(),
                    instance: job.instance.clone(),
                    job: job.name(),
                    kind: RunKind::Scheduled,
                    due: rec.due,
                    attempt: 0,
                    started_ms: now * 1000,
                    git_sha: job.git_sha.clone(),
                    outcome: rec.outcome,
                });
            }
            if let Some(s) = d.start {
                let id = self.id();
                let (took, code) = behaviour(&job.name(), s.due, s.attempt);
                self.ends.insert(id.clone(), (now + took, code));
                self.started.push(Started {
                    job: job.name(),
                    due: s.due,
                    attempt: s.attempt,
                    at: now,
                });
                self.runs.push(Run {
                    id,
                    name: String::new(),
                    service: job.service.clone(),
                    instance: job.instance.clone(),
                    job: job.name(),
                    kind: s.kind,
                    due: s.due,
                    attempt: s.attempt,
                    started_ms: now * 1000,
                    git_sha: job.git_sha.clone(),
                    outcome: Outcome::Running,
                });
            }
        }
    }

    /// Passes every minute in `[from, until)`.
    fn simulate(&mut self, from: i64, until: i64, behaviour: &Behaviour) {
        let mut t = from;
        while t < until {
            self.pass(t, behaviour);
            t += 60;
        }
    }

    fn starts_of(&self, job: &str) -> Vec<&Started> {
        self.started.iter().filter(|s| s.job == job).collect()
    }
}

fn quick(_: &str, _: i64, _: u32) -> (i64, i64) {
    (30, 0)
}

#[test]
fn daily_iso_runs_once_a_day_on_time_for_three_months() {
    let mut w = World::new(vec![scheduled(
        "svc",
        "nightly",
        "R/2026-01-01T03:00:00Z/P1D",
        None,
        60,
    )]);
    w.simulate(
        ts("2026-01-01T00:00:00Z"),
        ts("2026-04-01T00:00:00Z"),
        &quick,
    );
    let starts = w.starts_of("svc nightly");
    assert_eq!(starts.len(), 90);
    for (k, s) in starts.iter().enumerate() {
        assert_eq!(s.due, ts("2026-01-01T03:00:00Z") + k as i64 * 86_400);
        assert_eq!(s.at, s.due, "started on time");
        assert_eq!(s.attempt, 0);
    }
    assert!(w.records.is_empty(), "{:?}", w.records);
}

#[test]
fn hourly_iso_and_cron_schedules() {
    let mut w = World::new(vec![
        scheduled("svc", "hourly", "R/2026-02-01T00:30:00Z/PT1H", None, 60),
        scheduled("svc", "office", "*/15 9-17 * * 1-5", None, 60),
    ]);
    let (from, until) = (ts("2026-02-01T00:00:00Z"), ts("2026-03-01T00:00:00Z"));
    w.simulate(from, until, &quick);
    let hourly = w.starts_of("svc hourly");
    assert_eq!(hourly.len(), 28 * 24);
    assert!(hourly.iter().all(|s| s.at % 3600 == 1800 && s.at == s.due));
    // The expected office runs, counted independently of the scheduler.
    let mut expected = Vec::new();
    let mut t = from;
    while t < until {
        let d = Utc.timestamp_opt(t, 0).unwrap();
        if d.weekday().num_days_from_monday() < 5
            && (9..=17).contains(&d.hour())
            && d.minute() % 15 == 0
        {
            expected.push(t);
        }
        t += 60;
    }
    let office: Vec<i64> = w.starts_of("svc office").iter().map(|s| s.at).collect();
    assert_eq!(office, expected);
    assert_eq!(office.len(), 20 * 9 * 4);
}

#[test]
fn a_non_utc_zone_keeps_the_wall_clock_across_both_dst_changes() {
    // New York: spring forward 2026-03-08 (02:00 -> 03:00), fall back 2026-11-01.
    let ny = "America/New_York";
    let mut w = World::new(vec![
        scheduled("svc", "iso", "R/2026-03-01T02:30:00/P1D", Some(ny), 60),
        scheduled("svc", "cron", "30 1 * * *", Some(ny), 60),
    ]);
    w.simulate(
        ts("2026-03-01T00:00:00Z"),
        ts("2026-11-10T00:00:00Z"),
        &quick,
    );
    let tz: Tz = ny.parse().unwrap();
    let days = (NaiveDate::from_ymd_opt(2026, 11, 10).unwrap()
        - NaiveDate::from_ymd_opt(2026, 3, 1).unwrap())
    .num_days() as usize;
    let iso = w.starts_of("svc iso");
    assert_eq!(iso.len(), days, "one run a day");
    for s in &iso {
        let local = Utc.timestamp_opt(s.at, 0).unwrap().with_timezone(&tz);
        let expect = if local.date_naive() == NaiveDate::from_ymd_opt(2026, 3, 8).unwrap() {
            (3, 30) // 02:30 does not exist that day
        } else {
            (2, 30)
        };
        assert_eq!((local.hour(), local.minute()), expect, "{local}");
    }
    // 01:30 happens twice on 2026-11-01 and runs once.
    let cron = w.starts_of("svc cron");
    assert_eq!(cron.len(), days);
    let nov1: Vec<_> = cron
        .iter()
        .filter(|s| {
            Utc.timestamp_opt(s.at, 0)
                .unwrap()
                .with_timezone(&tz)
                .date_naive()
                == NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
        })
        .collect();
    assert_eq!(nov1.len(), 1);
    assert_eq!(
        nov1[0].at,
        ts("2026-11-01T05:30:00Z"),
        "the first 01:30 (EDT)"
    );
}

#[test]
fn runs_later_than_epsilon_are_missed_and_recorded() {
    let job = scheduled("svc", "hourly", "R/2026-01-01T00:00:00Z/PT1H", None, 600);
    let mut w = World::new(vec![job.clone()]);
    w.simulate(
        ts("2026-01-01T00:00:00Z"),
        ts("2026-01-01T08:30:00Z"),
        &quick,
    );
    assert_eq!(w.starts_of("svc hourly").len(), 9);
    // setup-service does not run from 08:30 until 12:05: 09, 10 and 11 are missed, 12:00 is
    // five minutes late, within epsilon, and starts.
    w.simulate(
        ts("2026-01-01T12:05:00Z"),
        ts("2026-01-01T12:06:00Z"),
        &quick,
    );
    assert_eq!(
        w.records,
        [(
            "svc hourly".to_string(),
            Record {
                due: ts("2026-01-01T11:00:00Z"),
                outcome: Outcome::Missed { count: 3 }
            }
        )]
    );
    let last = w.starts_of("svc hourly").last().cloned().cloned().unwrap();
    assert_eq!(
        (last.due, last.at),
        (ts("2026-01-01T12:00:00Z"), ts("2026-01-01T12:05:00Z"))
    );
    // Down again until 14:20: 13:00 and 14:00 are both missed (14:00 is 20 minutes late).
    w.records.clear();
    w.simulate(
        ts("2026-01-01T14:20:00Z"),
        ts("2026-01-01T16:00:00Z"),
        &quick,
    );
    assert_eq!(
        w.records[0].1,
        Record {
            due: ts("2026-01-01T14:00:00Z"),
            outcome: Outcome::Missed { count: 2 }
        }
    );
    let dues: Vec<i64> = w.starts_of("svc hourly").iter().map(|s| s.due).collect();
    assert!(!dues.contains(&ts("2026-01-01T14:00:00Z")));
    assert_eq!(*dues.last().unwrap(), ts("2026-01-01T15:00:00Z"));
}

#[test]
fn a_long_run_skips_the_occurrences_it_overlaps() {
    let mut w = World::new(vec![scheduled(
        "svc",
        "slow",
        "R/2026-01-01T00:00:00Z/PT1H",
        None,
        60,
    )]);
    // Each run takes two and a half hours.
    w.simulate(
        ts("2026-01-01T00:00:00Z"),
        ts("2026-01-02T00:00:00Z"),
        &|_, _, _| (9000, 0),
    );
    let starts: Vec<i64> = w.starts_of("svc slow").iter().map(|s| s.at).collect();
    let expected: Vec<i64> = (0..8)
        .map(|k| ts("2026-01-01T00:00:00Z") + k * 3 * 3600)
        .collect();
    assert_eq!(starts, expected, "never two at once");
    // 01:00 and 02:00 were each recorded as skipped while the 00:00 run was in flight.
    assert_eq!(
        w.records[..2],
        [
            (
                "svc slow".to_string(),
                Record {
                    due: ts("2026-01-01T01:00:00Z"),
                    outcome: Outcome::Skipped { count: 1 }
                }
            ),
            (
                "svc slow".to_string(),
                Record {
                    due: ts("2026-01-01T02:00:00Z"),
                    outcome: Outcome::Skipped { count: 1 }
                }
            )
        ]
    );
}

#[test]
fn a_parent_chain_across_two_services_runs_in_order_each_day() {
    let mut w = World::new(vec![
        child(
            "reports",
            "final",
            &[("reports", "daily"), ("etl", "nightly")],
        ),
        child("reports", "daily", &[("etl", "nightly")]),
        scheduled("etl", "nightly", "R/2026-01-01T03:00:00Z/P1D", None, 600),
    ]);
    let fail_day = ts("2026-01-10T03:00:00Z");
    // The nightly run takes 20 minutes and fails every attempt on the 10th; children take 5.
    let behaviour = move |job: &str, due: i64, _attempt: u32| match job {
        "etl nightly" => (1200, if due == fail_day { 1 } else { 0 }),
        _ => (300, 0),
    };
    w.simulate(
        ts("2026-01-01T00:00:00Z"),
        ts("2026-03-01T00:00:00Z"),
        &behaviour,
    );
    let nightly = w.starts_of("etl nightly");
    let daily = w.starts_of("reports daily");
    let last = w.starts_of("reports final");
    assert_eq!(nightly.iter().filter(|s| s.attempt == 0).count(), 59);
    assert_eq!(nightly.len(), 59 + 2, "two retries on the 10th");
    assert_eq!(daily.len(), 58, "no child run the day the parent failed");
    assert_eq!(last.len(), 58);
    for d in &daily {
        assert_ne!(d.due, fail_day);
        // After the parent's 20 minutes; due is the parent's due time.
        assert!(d.at >= d.due + 1200 && d.at <= d.due + 1260, "{d:?}");
        let f = last
            .iter()
            .find(|f| f.due == d.due)
            .expect("final runs that day");
        assert!(f.at >= d.at + 300, "final after daily: {f:?} {d:?}");
    }
}

#[test]
fn retries_follow_a_failed_run_then_stop() {
    let mut job = scheduled("svc", "flaky", "R/2026-01-01T00:00:00Z/P1D", None, 60);
    job.retries = 2;
    let mut w = World::new(vec![job.clone()]);
    // Fails on attempts 0 and 1, succeeds on 2.
    let flaky = |_: &str, _: i64, attempt: u32| (30, if attempt < 2 { 3 } else { 0 });
    w.simulate(
        ts("2026-01-01T00:00:00Z"),
        ts("2026-01-02T00:00:00Z"),
        &flaky,
    );
    let attempts: Vec<(u32, i64)> = w
        .starts_of("svc flaky")
        .iter()
        .map(|s| (s.attempt, s.at - s.due))
        .collect();
    assert_eq!(attempts, [(0, 0), (1, 60), (2, 120)], "retried at once");
    // With one retry allowed, the job gives up until its next due time.
    job.retries = 1;
    let mut w = World::new(vec![job]);
    w.simulate(
        ts("2026-01-01T00:00:00Z"),
        ts("2026-01-03T00:00:00Z"),
        &|_, _, _| (30, 3),
    );
    let starts: Vec<(i64, u32)> = w
        .starts_of("svc flaky")
        .iter()
        .map(|s| (s.due, s.attempt))
        .collect();
    let d1 = ts("2026-01-01T00:00:00Z");
    let d2 = ts("2026-01-02T00:00:00Z");
    assert_eq!(starts, [(d1, 0), (d1, 1), (d2, 0), (d2, 1)]);
}

#[test]
fn disabled_held_and_new_jobs() {
    let mut job = scheduled("svc", "nightly", "R/2026-01-01T03:00:00Z/P1D", None, 60);
    job.enabled = false;
    let mut w = World::new(vec![job.clone()]);
    w.simulate(
        ts("2026-01-01T00:00:00Z"),
        ts("2026-01-05T00:00:00Z"),
        &quick,
    );
    assert!(w.started.is_empty() && w.records.is_empty());

    // Deployed at 10:00 with no memory: 03:00 is not called missed; the next 03:00 runs.
    job.enabled = true;
    let mut w = World::new(vec![job.clone()]);
    w.simulate(
        ts("2026-01-05T10:00:00Z"),
        ts("2026-01-06T04:00:00Z"),
        &quick,
    );
    assert!(w.records.is_empty());
    assert_eq!(w.started.len(), 1);
    assert_eq!(w.started[0].due, ts("2026-01-06T03:00:00Z"));

    // A hold of this sha keeps it from running; a new sha releases it.
    let hold = Run {
        id: "hold".into(),
        name: String::new(),
        service: "svc".into(),
        instance: "nightly".into(),
        job: "svc nightly".into(),
        kind: RunKind::Emergency,
        due: 0,
        attempt: 0,
        started_ms: 0,
        git_sha: job.git_sha.clone(),
        outcome: Outcome::Held,
    };
    w.runs.push(hold);
    w.simulate(
        ts("2026-01-06T04:00:00Z"),
        ts("2026-01-08T04:00:00Z"),
        &quick,
    );
    assert_eq!(w.started.len(), 1, "held");
    let d = decide(
        &w.jobs[0],
        &RunIndex::new(&w.runs),
        ts("2026-01-08T04:00:00Z"),
    );
    assert_eq!(d.state, JobState::Held);
    w.jobs[0].git_sha = "b".repeat(40);
    let d = decide(
        &w.jobs[0],
        &RunIndex::new(&w.runs),
        ts("2026-01-08T04:00:00Z"),
    );
    assert_eq!(d.release, ["hold"]);
    assert_eq!(d.state, JobState::Idle);
    // The days it was held count as missed once it is released.
    assert_eq!(d.records[0].outcome, Outcome::Missed { count: 2 });
}

#[test]
fn reruns_do_not_block_nor_trigger() {
    let jobs = [
        scheduled("svc", "nightly", "R/2026-01-01T03:00:00Z/P1D", None, 60),
        child("svc", "report", &[("svc", "nightly")]),
    ];
    let rerun = Run {
        id: "x".into(),
        name: String::new(),
        service: "svc".into(),
        instance: "nightly".into(),
        job: "tmp-2026-01-01T000000 svc nightly".into(),
        kind: RunKind::Rerun,
        due: ts("2025-12-01T00:00:00Z"),
        attempt: 0,
        started_ms: ts("2026-01-01T02:59:00Z") * 1000,
        git_sha: "a".repeat(40),
        outcome: Outcome::Running,
    };
    let mut done = rerun.clone();
    done.outcome = Outcome::Succeeded;
    let runs = [rerun];
    let d = decide(&jobs[0], &RunIndex::new(&runs), ts("2026-01-01T03:00:00Z"));
    assert_eq!(d.state, JobState::Starting);
    let runs = [done];
    let d = decide(&jobs[1], &RunIndex::new(&runs), ts("2026-01-01T03:00:00Z"));
    assert_eq!(d.state, JobState::WaitingForParents);
}

#[test]
fn results_expire_after_a_day_but_each_job_keeps_its_last() {
    let mut w = World::new(vec![
        scheduled("svc", "weekly", "R/2026-01-05T03:00:00Z/P1W", None, 60),
        scheduled("svc", "hourly", "R/2026-01-05T00:00:00Z/PT1H", None, 60),
    ]);
    w.simulate(
        ts("2026-01-05T00:00:00Z"),
        ts("2026-01-25T00:00:00Z"),
        &quick,
    );
    assert_eq!(w.starts_of("svc weekly").len(), 3);
    let weekly: Vec<i64> = w
        .runs
        .iter()
        .filter(|r| r.instance == "weekly")
        .map(|r| r.due)
        .collect();
    assert_eq!(
        weekly,
        [ts("2026-01-19T03:00:00Z")],
        "only the last, as memory"
    );
    // The hourly job's results of the last 24 hours (ended within it) are kept.
    let hourly = w.runs.iter().filter(|r| r.instance == "hourly").count();
    assert_eq!(hourly, 24);
    // Within a day of its start nothing is a candidate.
    assert!(expiry_candidates(&w.runs[..1], ts("2026-01-19T04:00:00Z") * 1000).is_empty());
}

#[test]
fn graphs_order_and_cycles() {
    let k = |s: &str, i: &str| (s.to_string(), i.to_string());
    let jobs: Vec<Node> = vec![
        (k("b", "report"), vec![k("a", "nightly")]),
        (k("a", "nightly"), vec![]),
        (k("c", "final"), vec![k("b", "report"), k("a", "nightly")]),
        (k("z", "alone"), vec![]),
    ];
    assert_eq!(
        related_in_order(&jobs, &k("b", "report")).unwrap(),
        [k("a", "nightly"), k("b", "report"), k("c", "final")]
    );
    assert!(unrunnable(&jobs).is_empty());
    let cyclic: Vec<Node> = vec![
        (k("a", "x"), vec![k("b", "y")]),
        (k("b", "y"), vec![k("a", "x")]),
        (k("c", "z"), vec![k("a", "x")]),
        (k("d", "w"), vec![k("e", "missing")]),
    ];
    let bad = unrunnable(&cyclic);
    assert_eq!(
        bad[&k("a", "x")],
        "the jobs' parents form a cycle: a.x -> b.y -> a.x (a job cannot run until it has run)"
    );
    assert!(bad[&k("c", "z")].contains("cycle"));
    assert_eq!(bad[&k("d", "w")], "Parent job e.missing could not be found");
    assert_eq!(
        related_in_order(&cyclic[..3], &k("c", "z")).unwrap_err(),
        GraphError::Cycle(vec![k("a", "x"), k("b", "y"), k("c", "z")])
    );
    assert_eq!(
        related_in_order(&cyclic[..3], &k("c", "z"))
            .unwrap_err()
            .to_string(),
        "the jobs' parents form a cycle among a.x, b.y, c.z (a job cannot run until it has run)"
    );
}
