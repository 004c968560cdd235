//! The scheduler core at scale: 1,000,000 jobs in 100 requirement groups on 1,000 simulated
//! servers, run to the end over simulated time (every pass places what fits; jobs end at their
//! simulated finish times and free their room). Prints placement decisions per second of the
//! core's own time (passes only; the simulation's bookkeeping is not counted).
//!
//! cargo run --release -p wr --example sched-bench [JOBS] [SERVERS]

use std::collections::BinaryHeap;
use std::time::Instant;
use wr::sched::{pass, Group, Req, Server};

fn main() {
    let mut args = std::env::args().skip(1);
    let jobs: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let nservers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let ngroups = 100u64;
    let mut servers: Vec<Server> = (0..nservers)
        .map(|i| Server::new(&format!("s{i}"), 16.0, 64_000, 500))
        .collect();
    // Groups of 1-4 cores, 0.5-8 GB, 10 priorities; durations 1-10 simulated minutes.
    let mut groups: Vec<Group> = (0..ngroups)
        .map(|g| Group {
            req: Req::for_scheduler(512 * (1 + g % 16), 3600, (1 + g % 4) as f64, g % 3),
            priority: (g % 10) as u8,
            count: 0,
            running: 0,
        })
        .collect();
    let mut pending: Vec<u64> = (0..ngroups)
        .map(|g| jobs / ngroups + u64::from(g < jobs % ngroups))
        .collect();
    let mut running: Vec<u64> = vec![0; ngroups as usize];
    // (Reverse finish minute, group, server, count)
    let mut ends: BinaryHeap<(std::cmp::Reverse<u64>, usize, usize, u64)> = BinaryHeap::new();
    let mut now = 0u64;
    let mut placed = 0u64;
    let mut passes = 0u64;
    let mut starts = 0u64;
    let mut in_core = std::time::Duration::ZERO;
    while placed < jobs || !ends.is_empty() {
        for (i, g) in groups.iter_mut().enumerate() {
            g.running = running[i];
            g.count = pending[i] + running[i];
        }
        let t = Instant::now();
        let p = pass(&groups, &mut servers);
        in_core += t.elapsed();
        passes += 1;
        starts += p.starts.len() as u64;
        for s in &p.starts {
            pending[s.group] -= s.runners;
            running[s.group] += s.runners;
            placed += s.runners;
            let dur = 1 + (s.group as u64 * 7 + now) % 10;
            ends.push((std::cmp::Reverse(now + dur), s.group, s.server, s.runners));
        }
        let Some(&(std::cmp::Reverse(next), ..)) = ends.peek() else {
            break;
        };
        now = next;
        while let Some(&(std::cmp::Reverse(t), g, s, n)) = ends.peek() {
            if t > now {
                break;
            }
            ends.pop();
            servers[s].release(&groups[g].req, n);
            running[g] -= n;
        }
    }
    assert!(servers.iter().all(Server::is_idle));
    let secs = in_core.as_secs_f64();
    println!(
        "{{\"jobs\": {jobs}, \"servers\": {nservers}, \"groups\": {ngroups}, \"passes\": {passes}, \"placed\": {placed}, \"starts\": {starts}, \"core_seconds\": {secs:.3}, \"placements_per_second\": {:.0}}}",
        placed as f64 / secs
    );
}
