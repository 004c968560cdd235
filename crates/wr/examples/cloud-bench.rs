//! The cloud scheduler's decisions at scale: 1,000,000 jobs in 100 requirement groups, on a
//! cloud whose quota allows 1,000 servers (and 8,000 cores), with four flavors, max_spawns 100,
//! run to the end over simulated time. Each pass is `wr::cloud::plan`: runners placed on the
//! servers there are, spawns for the rest under quota and limits; a spawned server joins the next
//! pass; jobs end at their simulated finish times; a server idle for a pass is destroyed (a
//! keepalive of one pass). Prints decisions (runners placed + servers spawned + spawns refused)
//! per second of `plan`'s own time; the simulation's bookkeeping is not counted.
//!
//! cargo run --release -p wr --example cloud-bench [JOBS] [MAX_SERVERS]

use std::collections::BinaryHeap;
use std::time::Instant;
use wr::cloud::{plan, server_of, CloudGroup, CloudServer, Flavor, Kind, Limit, Limits, Quota};
use wr::sched::{Group, Req};

fn main() {
    let mut args = std::env::args().skip(1);
    let jobs: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let max_servers: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let ngroups = 100u64;
    let flavors: Vec<Flavor> = [(1, 2048), (2, 8192), (4, 16384), (8, 65536)]
        .iter()
        .map(|&(vcpus, ram)| Flavor {
            id: format!("f{vcpus}"),
            name: format!("m1.f{vcpus}"),
            vcpus,
            ram,
            disk: 40 * vcpus,
        })
        .collect();
    let limits = Limits {
        max_spawns: 100,
        os_ram: 1024,
        ..Limits::default()
    };
    // Groups of 1-4 cores, 0.5-8 GB, 10 priorities; durations 1-10 simulated minutes.
    let mut groups: Vec<CloudGroup> = (0..ngroups)
        .map(|g| CloudGroup {
            group: Group {
                req: Req::for_scheduler(512 * (1 + g % 16), 3600, (1 + g % 4) as f64, g % 3),
                priority: (g % 10) as u8,
                count: 0,
                running: 0,
            },
            kind: Kind::default(),
            spawning: 0,
        })
        .collect();
    let mut pending: Vec<u64> = (0..ngroups)
        .map(|g| jobs / ngroups + u64::from(g < jobs % ngroups))
        .collect();
    let mut running = vec![0u64; ngroups as usize];
    let mut servers: Vec<CloudServer> = Vec::new();
    // Spawned in the last pass: (group, flavor, count); they join the next one.
    let mut arriving: Vec<(usize, String, u64)> = Vec::new();
    // (Reverse finish minute, group, server name, count)
    let mut ends: BinaryHeap<(std::cmp::Reverse<u64>, usize, String, u64)> = BinaryHeap::new();
    let (mut now, mut placed, mut passes, mut spawned, mut refused, mut made) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut in_plan = std::time::Duration::ZERO;
    let mut most = 0usize;
    while placed < jobs || !ends.is_empty() {
        for (g, flavor, n) in arriving.drain(..) {
            let f = flavors.iter().find(|f| f.name == flavor).unwrap();
            for _ in 0..n {
                made += 1;
                servers.push(CloudServer {
                    server: server_of(&format!("s{made}"), f),
                    kind: Kind::default(),
                    flavor: Some(f.clone()),
                });
            }
            groups[g].spawning -= n;
        }
        most = most.max(servers.len());
        let used_cores: u64 = servers.iter().map(|s| s.server.millicores / 1000).sum();
        let used_ram: u64 = servers.iter().map(|s| s.server.ram).sum();
        let quota = Quota {
            instances: Limit::new(max_servers, servers.len() as u64),
            cores: Limit::new(max_servers * 8, used_cores),
            ram: Limit::new(-1, used_ram),
        };
        for (i, g) in groups.iter_mut().enumerate() {
            g.group.running = running[i];
            g.group.count = pending[i] + running[i];
        }
        let t = Instant::now();
        let p = plan(&groups, &mut servers, &flavors, &quota, &limits).unwrap();
        in_plan += t.elapsed();
        passes += 1;
        refused += p.refused.len() as u64;
        assert!(p.impossible.is_empty(), "{:?}", p.impossible);
        for s in &p.starts {
            pending[s.group] -= s.runners;
            running[s.group] += s.runners;
            placed += s.runners;
            let dur = 1 + (s.group as u64 * 7 + now) % 10;
            let name = servers[s.server].server.name.clone();
            ends.push((std::cmp::Reverse(now + dur), s.group, name, s.runners));
        }
        for s in &p.spawns {
            spawned += s.servers;
            groups[s.group].spawning += s.servers;
            arriving.push((s.group, s.flavor.clone(), s.servers));
        }
        // A server still idle after the pass (given nothing) goes: a keepalive of one pass.
        servers.retain(|s| !s.server.is_idle());
        now = match ends.peek() {
            Some(&(std::cmp::Reverse(next), ..)) if arriving.is_empty() => next,
            _ => now + 1,
        };
        while let Some((std::cmp::Reverse(t), ..)) = ends.peek() {
            if *t > now {
                break;
            }
            let (_, g, name, n) = ends.pop().unwrap();
            if let Some(s) = servers.iter_mut().find(|s| s.server.name == name) {
                s.server.release(&groups[g].group.req, n);
            }
            running[g] -= n;
        }
    }
    let secs = in_plan.as_secs_f64();
    let decisions = placed + spawned + refused;
    println!(
        "{{\"jobs\": {jobs}, \"max_servers\": {max_servers}, \"most_servers\": {most}, \"passes\": {passes}, \"placed\": {placed}, \"spawned\": {spawned}, \"refused\": {refused}, \"plan_seconds\": {secs:.3}, \"decisions_per_second\": {:.0}}}",
        decisions as f64 / secs
    );
}
