//! Benchmark: setup-service's due-run decision (soa::jobs::decide) for N jobs at once, as one
//! pass over a master's whole cluster computes it. The jobs mix daily and hourly ISO schedules
//! (some in a non-UTC zone), cron expressions and children of other jobs, each remembering its
//! last three runs (at its own last three occurrences, as a cluster set up every minute would). Prints JSON: the median and range of the wall time of one whole pass
//! (building the run index included) over the given number of passes.
//!
//! usage: cargo run --release -p soa --example due_runs [JOBS] [PASSES]

use soa::jobs::{decide, Job, Outcome, Run, RunIndex, RunKind, Trigger};
use soa::schedule;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(10_000, |a| a.parse().expect("JOBS"));
    let passes: usize = args.next().map_or(20, |a| a.parse().expect("PASSES"));
    let now = 1_795_000_000i64; // 2026-11-18T10:13:20Z
    let ny = schedule::parse_time_zone("America/New_York").unwrap();
    let kinds = [
        ("R/2026-01-01T03:00:00Z/P1D", None),
        ("R/2026-01-01T00:30:00Z/PT1H", None),
        ("R/2026-03-01T02:30:00/P1D", Some(ny)),
        ("*/15 9-17 * * 1-5", None),
        ("30 2 * * *", Some(ny)),
    ];
    let mut jobs = Vec::with_capacity(n);
    let mut runs = Vec::with_capacity(n * 3);
    for i in 0..n {
        let service = format!("svc{}", i / 10);
        let instance = format!("job{}", i % 10);
        let trigger = if i % 10 >= 8 {
            // Two children per service, of its first job.
            Trigger::Parents(vec![(service.clone(), "job0".to_string())])
        } else {
            let (text, tz) = kinds[i % kinds.len()];
            Trigger::Schedule {
                schedule: schedule::parse(text).unwrap(),
                tz,
                epsilon: 600,
            }
        };
        let dues: Vec<i64> = match &trigger {
            Trigger::Schedule { schedule, tz, .. } => {
                let at = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap();
                let all = schedule.runs_between(at(now - 8 * 86_400), at(now), *tz, usize::MAX);
                all[all.len() - 3..].iter().map(|t| t.timestamp()).collect()
            }
            Trigger::Parents(_) => (0..3).map(|k| now - 86_400 * (3 - k)).collect(),
        };
        for (k, due) in dues.into_iter().enumerate() {
            runs.push(Run {
                id: format!("{i}-{k}"),
                name: String::new(),
                service: service.clone(),
                instance: instance.clone(),
                job: format!("{service} {instance}"),
                kind: RunKind::Scheduled,
                due,
                attempt: 0,
                started_ms: due * 1000,
                git_sha: "a".repeat(40),
                outcome: if k == 2 && i % 7 == 0 {
                    Outcome::Failed { exit_code: 1 }
                } else {
                    Outcome::Succeeded
                },
            });
        }
        jobs.push(Job {
            service,
            instance,
            trigger,
            retries: 2,
            enabled: true,
            git_sha: "a".repeat(40),
        });
    }
    let mut times = Vec::with_capacity(passes);
    let mut starting = 0;
    for _ in 0..passes {
        let t = Instant::now();
        let index = RunIndex::new(&runs);
        let decisions: Vec<_> = jobs.iter().map(|j| decide(j, &index, now)).collect();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        starting = decisions.iter().filter(|d| d.start.is_some()).count();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"jobs\": {n}, \"runs\": {}, \"passes\": {passes}, \"median_ms\": {:.2}, \"min_ms\": {:.2}, \"max_ms\": {:.2}, \"starting\": {starting}}}",
        runs.len(),
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
}
