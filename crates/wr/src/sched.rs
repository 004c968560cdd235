//! The scheduler core: given the groups of jobs that want to run and the servers with their
//! free resources, which groups start how many runners where. Pure and deterministic — no
//! clock, no I/O — so the local manager and a cloud scheduler (which adds spawning and quotas
//! for the shortfall this reports) share it, and tests drive it over simulated time.
//!
//! As wr's queue pass does it:
//! - A job's requirements become a scheduler requirement: RAM below 924 MB gets 100 MB more,
//!   time is rounded up to a multiple of 30 minutes (0 stays 0). Jobs with equal requirements
//!   form one group, keyed `RAM:minutes:cores:disk`.
//! - Groups are visited by priority (high first), then size (the larger share of the biggest
//!   server's RAM or cores, 0-255, large first), then the order they were given.
//! - For each group, `should = count − running`; on each usable server in order, as many as
//!   `has_space_for` allows, allocated at once so the next group sees what is left. A group that
//!   cannot start all it should is reported short (a cloud scheduler spawns for it); a group that
//!   can start none is passed over, so smaller groups fill the gaps.
//! - `has_space_for`: none when free cores, RAM or disk are below one job's; else the free cores
//!   divided by the job's cores (a 0-core job: twice the server's cores, or 4 on a 0-core server,
//!   less the 0-core jobs already there), limited by free RAM and disk. Cores are counted in
//!   thousandths. Accounting is by declared requirements only.

use serde::Serialize;

/// Cores in thousandths, as wr rounds them to three decimals.
pub fn millicores(cpus: f64) -> u64 {
    (cpus * 1000.0).round().max(0.0) as u64
}

/// What the scheduler reserves for one job of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Req {
    /// MB.
    pub ram: u64,
    pub minutes: u64,
    pub millicores: u64,
    /// GB.
    pub disk: u64,
}

impl Req {
    /// A job's requirements (MB, seconds, cpus, GB) as the scheduler sees them.
    pub fn for_scheduler(memory: u64, time_secs: u64, cpus: f64, disk: u64) -> Req {
        let ram = if memory < 924 { memory + 100 } else { memory };
        let minutes = time_secs.div_ceil(60).div_ceil(30) * 30;
        Req {
            ram,
            minutes,
            millicores: millicores(cpus),
            disk,
        }
    }

    /// Reads a key back.
    pub fn parse_key(key: &str) -> Option<Req> {
        let mut it = key.split(':');
        let ram = it.next()?.parse().ok()?;
        let minutes = it.next()?.parse().ok()?;
        let cores: f64 = it.next()?.parse().ok()?;
        let disk = it.next()?.parse().ok()?;
        it.next().is_none().then(|| Req {
            ram,
            minutes,
            millicores: millicores(cores),
            disk,
        })
    }

    /// `RAM:minutes:cores:disk`, cores in their shortest form (0.5, 2).
    pub fn key(&self) -> String {
        let cores = self.millicores as f64 / 1000.0;
        format!("{}:{}:{}:{}", self.ram, self.minutes, cores, self.disk)
    }
}

/// A server's capacity and what is allocated on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Server {
    pub name: String,
    pub millicores: u64,
    /// MB.
    pub ram: u64,
    /// GB.
    pub disk: u64,
    pub used_millicores: u64,
    pub used_ram: u64,
    pub used_disk: u64,
    pub zero_core_jobs: u64,
    /// A bad server gets nothing new.
    pub bad: bool,
}

impl Server {
    pub fn new(name: &str, cpus: f64, ram: u64, disk: u64) -> Server {
        Server {
            name: name.to_string(),
            millicores: millicores(cpus),
            ram,
            disk,
            used_millicores: 0,
            used_ram: 0,
            used_disk: 0,
            zero_core_jobs: 0,
            bad: false,
        }
    }

    /// How many more jobs of `req` fit.
    pub fn has_space_for(&self, req: &Req) -> u64 {
        let free_cores = self.millicores.saturating_sub(self.used_millicores);
        let free_ram = self.ram.saturating_sub(self.used_ram);
        let free_disk = self.disk.saturating_sub(self.used_disk);
        if free_cores < req.millicores || free_ram < req.ram || free_disk < req.disk {
            return 0;
        }
        let mut n = match free_cores.checked_div(req.millicores) {
            Some(n) => n,
            None => {
                let cap = if self.millicores == 0 {
                    4
                } else {
                    2 * self.millicores.div_ceil(1000)
                };
                cap.saturating_sub(self.zero_core_jobs)
            }
        };
        if n > 1 {
            if let Some(by_ram) = free_ram.checked_div(req.ram) {
                n = n.min(by_ram);
            }
            if let Some(by_disk) = free_disk.checked_div(req.disk) {
                n = n.min(by_disk);
            }
        }
        n
    }

    pub fn allocate(&mut self, req: &Req, n: u64) {
        self.used_millicores += req.millicores * n;
        self.used_ram += req.ram * n;
        self.used_disk += req.disk * n;
        if req.millicores == 0 {
            self.zero_core_jobs += n;
        }
    }

    pub fn release(&mut self, req: &Req, n: u64) {
        self.used_millicores = self.used_millicores.saturating_sub(req.millicores * n);
        self.used_ram = self.used_ram.saturating_sub(req.ram * n);
        self.used_disk = self.used_disk.saturating_sub(req.disk * n);
        if req.millicores == 0 {
            self.zero_core_jobs = self.zero_core_jobs.saturating_sub(n);
        }
    }

    pub fn is_idle(&self) -> bool {
        self.used_millicores == 0 && self.used_ram == 0 && self.zero_core_jobs == 0
    }
}

/// Jobs of one requirement that want to run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub req: Req,
    pub priority: u8,
    /// Jobs of the group ready or running: the runners it wants in all.
    pub count: u64,
    /// Runners of the group running now.
    pub running: u64,
}

/// Runners of `group` to start on `server`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Start {
    pub group: usize,
    pub server: usize,
    pub runners: u64,
}

/// One pass's decisions.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Pass {
    pub starts: Vec<Start>,
    /// (group, runners it could not start for lack of room): what a cloud scheduler spawns for.
    pub short: Vec<(usize, u64)>,
}

impl Pass {
    pub fn runners(&self) -> u64 {
        self.starts.iter().map(|s| s.runners).sum()
    }
}

/// A group's size: its share of the largest RAM or cores, 0-255.
fn size(req: &Req, max_ram: u64, max_millicores: u64) -> u64 {
    let pct = |v: u64, max: u64| {
        if max == 0 {
            0.0
        } else {
            100.0 * v as f64 / max as f64
        }
    };
    let s = (2.55 * pct(req.ram, max_ram).max(pct(req.millicores, max_millicores))).round();
    s.clamp(0.0, 255.0) as u64
}

/// The order groups are visited in: priority, then size (both high first), then as given.
pub fn order(groups: &[Group], servers: &[Server]) -> Vec<usize> {
    let max_ram = servers.iter().map(|s| s.ram).max().unwrap_or(0);
    let max_cores = servers.iter().map(|s| s.millicores).max().unwrap_or(0);
    order_by_size_of(groups, max_ram, max_cores)
}

/// The visiting order with sizes against given maxima (a cloud's quota rather than the
/// largest server).
pub fn order_by_size_of(groups: &[Group], max_ram: u64, max_millicores: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..groups.len()).collect();
    idx.sort_by_key(|&i| {
        let g = &groups[i];
        (
            std::cmp::Reverse(g.priority),
            std::cmp::Reverse(size(&g.req, max_ram, max_millicores)),
            i,
        )
    });
    idx
}

/// One queue pass over `groups`, allocating on `servers` what it starts.
pub fn pass(groups: &[Group], servers: &mut [Server]) -> Pass {
    let order = order(groups, servers);
    pass_in(groups, servers, &order, |_, _| true)
}

/// A pass visiting groups in `order`, a group using only the servers `usable(group, server)`
/// allows (a cloud's servers differ in image, script and flavor).
pub fn pass_in<S: std::borrow::BorrowMut<Server>>(
    groups: &[Group],
    servers: &mut [S],
    order: &[usize],
    usable: impl Fn(usize, usize) -> bool,
) -> Pass {
    let mut out = Pass::default();
    for &gi in order {
        let g = &groups[gi];
        let mut left = g.count.saturating_sub(g.running);
        if left == 0 {
            continue;
        }
        for (si, s) in servers.iter_mut().enumerate() {
            if left == 0 {
                break;
            }
            let s: &mut Server = s.borrow_mut();
            if s.bad || !usable(gi, si) {
                continue;
            }
            let n = s.has_space_for(&g.req).min(left);
            if n > 0 {
                s.allocate(&g.req, n);
                out.starts.push(Start {
                    group: gi,
                    server: si,
                    runners: n,
                });
                left -= n;
            }
        }
        if left > 0 {
            out.short.push((gi, left));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(mem: u64, cpus: f64, priority: u8, count: u64) -> Group {
        Group {
            req: Req::for_scheduler(mem, 3600, cpus, 0),
            priority,
            count,
            running: 0,
        }
    }

    #[test]
    fn requirements_and_keys() {
        let r = Req::for_scheduler(100, 0, 1.0, 0);
        assert_eq!((r.ram, r.minutes), (200, 0));
        assert_eq!(r.key(), "200:0:1:0");
        assert_eq!(
            Req::for_scheduler(1024, 3600, 0.5, 2).key(),
            "1024:60:0.5:2"
        );
        assert_eq!(Req::for_scheduler(924, 61, 2.0, 0).key(), "924:30:2:0");
        assert_eq!(Req::for_scheduler(923, 1801, 2.0, 0).minutes, 60);
        assert_eq!(Req::for_scheduler(923, 1800, 2.0, 0).minutes, 30);
        let r = Req::for_scheduler(1024, 3600, 0.5, 2);
        assert_eq!(Req::parse_key(&r.key()), Some(r));
    }

    #[test]
    fn space() {
        let s = Server::new("a", 4.0, 8000, 10);
        let r = Req::for_scheduler(1000, 60, 1.0, 0);
        assert_eq!(s.has_space_for(&r), 4);
        assert_eq!(s.has_space_for(&Req::for_scheduler(3000, 60, 1.0, 0)), 2);
        assert_eq!(s.has_space_for(&Req::for_scheduler(1000, 60, 1.0, 11)), 0);
        assert_eq!(s.has_space_for(&Req::for_scheduler(1000, 60, 0.0, 0)), 8);
        let mut z = s.clone();
        z.allocate(&Req::for_scheduler(1000, 60, 0.0, 0), 3);
        assert_eq!(z.has_space_for(&Req::for_scheduler(100, 60, 0.0, 0)), 5);
        let none = Server::new("z", 0.0, 8000, 0);
        assert_eq!(none.has_space_for(&Req::for_scheduler(100, 60, 0.0, 0)), 4);
        let mut s2 = s.clone();
        s2.allocate(&r, 3);
        assert_eq!(s2.has_space_for(&r), 1);
        s2.release(&r, 3);
        assert!(s2.is_idle());
        assert_eq!(s2, s);
    }

    #[test]
    fn priority_first_then_size_and_backfill() {
        // 4 cores, 8 GB: the 2-core high-priority group goes first, the big low-priority group
        // cannot fit in what is left and is passed over, the small one backfills.
        let mut servers = vec![Server::new("localhost", 4.0, 8000, 100)];
        let groups = vec![
            group(1000, 1.0, 0, 10),
            group(1000, 2.0, 5, 1),
            group(7500, 1.0, 0, 1),
        ];
        let p = pass(&groups, &mut servers);
        assert_eq!(
            p.starts,
            vec![
                Start {
                    group: 1,
                    server: 0,
                    runners: 1
                },
                Start {
                    group: 0,
                    server: 0,
                    runners: 2
                },
            ]
        );
        assert_eq!(p.short, vec![(2, 1), (0, 8)]);
        assert_eq!(servers[0].used_millicores, 4000);
    }

    #[test]
    fn running_runners_count_and_bad_servers_get_nothing() {
        let mut servers = vec![
            Server::new("a", 2.0, 8000, 100),
            Server::new("b", 2.0, 8000, 100),
        ];
        servers[0].bad = true;
        let mut g = group(1000, 1.0, 0, 5);
        g.running = 2;
        let p = pass(&[g], &mut servers);
        assert_eq!(
            p.starts,
            vec![Start {
                group: 0,
                server: 1,
                runners: 2
            }]
        );
        assert_eq!(p.short, vec![(0, 1)]);
    }

    /// Over simulated time, every job runs once, nothing is over-allocated, and the result is
    /// the same every time.
    #[test]
    fn simulated_time_runs_everything_without_overcommit() {
        let run = || {
            let mut servers: Vec<Server> = (0..3)
                .map(|i| Server::new(&format!("s{i}"), 4.0, 16000, 100))
                .collect();
            let mut groups = vec![
                group(1000, 1.0, 0, 40),
                group(4000, 2.0, 1, 10),
                group(100, 0.0, 0, 30),
            ];
            let mut pending: Vec<u64> = groups.iter().map(|g| g.count).collect();
            // (finish time, group, server)
            let mut running: Vec<(u64, usize, usize)> = Vec::new();
            let mut now = 0;
            let mut log = Vec::new();
            while pending.iter().any(|p| *p > 0) || !running.is_empty() {
                for (gi, g) in groups.iter_mut().enumerate() {
                    g.running = running.iter().filter(|r| r.1 == gi).count() as u64;
                    g.count = pending[gi] + g.running;
                }
                let p = pass(&groups, &mut servers);
                for s in &servers {
                    assert!(s.used_millicores <= s.millicores && s.used_ram <= s.ram);
                }
                for st in &p.starts {
                    for _ in 0..st.runners {
                        pending[st.group] -= 1;
                        running.push((now + 1 + st.group as u64, st.group, st.server));
                    }
                }
                log.push(p);
                now = running.iter().map(|r| r.0).min().unwrap_or(now);
                running.retain(|&(t, g, s)| {
                    if t <= now {
                        servers[s].release(&groups[g].req, 1);
                    }
                    t > now
                });
            }
            assert!(servers.iter().all(Server::is_idle));
            log
        };
        let a = run();
        assert_eq!(a.iter().map(Pass::runners).sum::<u64>(), 80);
        assert_eq!(a, run());
    }
}
