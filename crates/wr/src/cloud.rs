//! The cloud scheduler's decisions, pure: what a queue pass starts on the servers there are, and
//! which servers it spawns for the rest, under the cloud's flavors and quota and the
//! deployment's limits. The manager's cloud mode and `wr-cloud cloud plan` (capacity planning
//! from a JSON description) both call `plan`; the provider I/O happens around it.
//!
//! As wr's OpenStack scheduler decides (the rules are in docs/wr.md):
//! - groups are visited by priority, then size against the quota's maxima, then as given; a
//!   group starts runners on the servers that match it (same image, script, config files,
//!   requested flavor and shared disk) and are not bad, as far as their free room allows;
//! - a group left short gets servers of the cheapest flavor that fits one job (the name matching
//!   `flavor` and, with flavor sets, a set's pattern; vCPUs ≥ ⌈cores⌉, RAM ≥ max(job RAM, the
//!   image's RAM); cheapest = fewest vCPUs, then least RAM, then least disk, then name; disk is no
//!   filter, a boot volume adds it); with flavor sets the first set's pick whose flavor has not
//!   failed recently, else the first set's pick;
//! - servers wanted = ⌈short / jobs per server⌉ less those of the group already spawning, then
//!   capped by the quota left (instances, cores, RAM: maximum less used less reserved by this
//!   plan's earlier spawns; a maximum ≤ 0 is unlimited, where wr took Nova's −1 literally), by
//!   `max_servers` against the servers known and spawning, and by `max_spawns` against every
//!   spawn in flight;
//! - a job larger than the quota's maximum cores or RAM, a `cloud_flavor` too small for it, or
//!   no flavor (set) that fits makes the group impossible (its jobs are buried); a spawn the quota
//!   or the limits refuse now is reported with the reason and retried by a later pass.

use crate::sched::{order_by_size_of, pass_in, Group, Req, Server, Start};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A size of server the cloud offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub vcpus: u64,
    /// MB.
    pub ram: u64,
    /// GB.
    pub disk: u64,
}

/// What a server (or a group's jobs) needs to match: the image, the post-creation script, the
/// config files, a requested flavor, a shared disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Kind {
    /// The image name (a group matches a server whose image starts with it).
    pub os: String,
    pub script: String,
    pub config_files: String,
    /// A flavor name or id the group asked for (cloud_flavor); empty: any.
    pub flavor: String,
    pub shared: bool,
    /// MB its image needs at least (cloud_ram), beyond the deployment's `os_ram`; 0: none.
    pub ram: u64,
}

impl Kind {
    /// Whether a server of kind `server` (with flavor `flavor`) can take jobs of this kind.
    fn takes(&self, server: &Kind, flavor: Option<&Flavor>) -> bool {
        server.os.starts_with(&self.os)
            && self.script == server.script
            && self.config_files == server.config_files
            && self.shared == server.shared
            && (self.flavor.is_empty()
                || flavor.is_some_and(|f| f.name == self.flavor || f.id == self.flavor))
    }
}

/// One limit of a quota: the maximum (None: unlimited) and what is used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub max: Option<u64>,
    pub used: u64,
}

impl Limit {
    /// From a provider's figures: a maximum ≤ 0 (Nova's −1) is unlimited.
    pub fn new(max: i64, used: u64) -> Limit {
        Limit {
            max: (max > 0).then_some(max as u64),
            used,
        }
    }

    fn left(&self, reserved: u64) -> u64 {
        self.max
            .map_or(u64::MAX, |m| m.saturating_sub(self.used + reserved))
    }
}

/// The project's quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quota {
    pub instances: Limit,
    pub cores: Limit,
    /// MB.
    pub ram: Limit,
}

/// The deployment's limits and choices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Servers in all, the manager's host included (None: no cap but the quota).
    pub max_servers: Option<u64>,
    /// Spawns in flight at once (0: no cap).
    pub max_spawns: u64,
    /// MB the image needs at least (os_ram).
    pub os_ram: u64,
    /// A pattern flavor names must match (searched, not anchored); empty: any.
    pub flavor: String,
    /// Flavor sets: sets of patterns, in order of preference ("s2;m2,m1").
    pub flavor_sets: Vec<Vec<String>>,
    /// Flavors whose last spawn found no host, avoided for a while.
    pub failed_flavors: Vec<String>,
}

/// A server as the plan sees it: its room, what it holds, its kind and flavor.
#[derive(Debug, Clone)]
pub struct CloudServer {
    pub server: Server,
    pub kind: Kind,
    /// The flavor it was made with (None: the manager's host).
    pub flavor: Option<Flavor>,
}

impl std::borrow::Borrow<Server> for CloudServer {
    fn borrow(&self) -> &Server {
        &self.server
    }
}

impl std::borrow::BorrowMut<Server> for CloudServer {
    fn borrow_mut(&mut self) -> &mut Server {
        &mut self.server
    }
}

/// A group of queued jobs with one requirement and kind.
#[derive(Debug, Clone)]
pub struct CloudGroup {
    pub group: Group,
    pub kind: Kind,
    /// Servers being spawned for it now.
    pub spawning: u64,
}

/// New servers of `flavor` for `group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Spawn {
    pub group: usize,
    pub flavor: String,
    pub servers: u64,
    /// Jobs of the group one server takes.
    pub per_server: u64,
}

/// A group's shortfall that no spawn answers now, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub group: usize,
    pub reason: String,
}

/// What one pass decides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub starts: Vec<Start>,
    pub spawns: Vec<Spawn>,
    /// Shortfalls waiting: quota, limits, or spawns already under way.
    pub refused: Vec<Refusal>,
    /// Groups whose jobs can never run here.
    pub impossible: Vec<Refusal>,
}

/// Why no flavor fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoFit(pub String);

/// The pattern tests of `limits`, compiled once per plan.
struct Patterns {
    flavor: Option<regex::Regex>,
    sets: Vec<Vec<regex::Regex>>,
}

impl Patterns {
    fn new(limits: &Limits) -> Result<Patterns, String> {
        let compile = |p: &str| {
            regex::Regex::new(p)
                .map_err(|e| format!("the flavor pattern {p:?} does not parse: {e}"))
        };
        Ok(Patterns {
            flavor: (!limits.flavor.is_empty())
                .then(|| compile(&limits.flavor))
                .transpose()?,
            sets: limits
                .flavor_sets
                .iter()
                .map(|set| set.iter().map(|p| compile(p)).collect())
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The cheapest flavor among those `allowed` that takes one job of `req` (RAM at least `ram`).
fn cheapest<'f>(
    flavors: &'f [Flavor],
    req: &Req,
    ram: u64,
    allowed: impl Fn(&Flavor) -> bool,
) -> Option<&'f Flavor> {
    let cores = req.millicores.div_ceil(1000);
    flavors
        .iter()
        .filter(|f| allowed(f) && f.vcpus >= cores && f.ram >= ram)
        .min_by(|a, b| (a.vcpus, a.ram, a.disk, &a.name).cmp(&(b.vcpus, b.ram, b.disk, &b.name)))
}

/// The flavor for a group's new servers.
fn choose<'f>(
    flavors: &'f [Flavor],
    patterns: &Patterns,
    limits: &Limits,
    req: &Req,
    kind: &Kind,
) -> Result<&'f Flavor, NoFit> {
    let ram = req.ram.max(limits.os_ram).max(kind.ram);
    if !kind.flavor.is_empty() {
        let f = flavors
            .iter()
            .find(|f| f.name == kind.flavor || f.id == kind.flavor)
            .ok_or_else(|| {
                NoFit(format!(
                    "the requested flavor {} does not exist",
                    kind.flavor
                ))
            })?;
        return cheapest(std::slice::from_ref(f), req, ram, |_| true).ok_or_else(|| {
            NoFit(format!(
                "the requested flavor {} ({} vCPUs, {} MB) is too small for a job of {} cores and {} MB",
                f.name,
                f.vcpus,
                f.ram,
                req.millicores as f64 / 1000.0,
                ram
            ))
        });
    }
    let named = |f: &Flavor| patterns.flavor.as_ref().is_none_or(|p| p.is_match(&f.name));
    if patterns.sets.is_empty() {
        return cheapest(flavors, req, ram, named).ok_or_else(|| {
            NoFit(format!(
                "no flavor{} has {} vCPUs and {} MB",
                if limits.flavor.is_empty() {
                    String::new()
                } else {
                    format!(" matching {}", limits.flavor)
                },
                req.millicores.div_ceil(1000),
                ram
            ))
        });
    }
    let picks: Vec<&Flavor> = patterns
        .sets
        .iter()
        .filter_map(|set| {
            cheapest(flavors, req, ram, |f| {
                named(f) && set.iter().any(|p| p.is_match(&f.name))
            })
        })
        .collect();
    let first = *picks.first().ok_or_else(|| {
        NoFit(format!(
            "no flavor set has a flavor of {} vCPUs and {} MB",
            req.millicores.div_ceil(1000),
            ram
        ))
    })?;
    Ok(picks
        .into_iter()
        .find(|f| !limits.failed_flavors.contains(&f.name))
        .unwrap_or(first))
}

/// The cheapest flavor under `limits` for one job of `cores` and `ram` MB (the head node's:
/// one core and the image's RAM). The error lists the flavors there are.
pub fn flavor_for<'f>(
    flavors: &'f [Flavor],
    cores: f64,
    ram: u64,
    limits: &Limits,
) -> Result<&'f Flavor, String> {
    let patterns = Patterns::new(limits)?;
    let req = Req {
        ram,
        minutes: 0,
        millicores: crate::sched::millicores(cores),
        disk: 0,
    };
    choose(flavors, &patterns, limits, &req, &Kind::default()).map_err(|NoFit(why)| {
        let mut all: Vec<&Flavor> = flavors.iter().collect();
        all.sort_by(|a, b| (a.vcpus, a.ram, &a.name).cmp(&(b.vcpus, b.ram, &b.name)));
        let list: Vec<String> = all
            .iter()
            .map(|f| {
                format!(
                    "{} ({} vCPUs, {} MB, {} GB)",
                    f.name, f.vcpus, f.ram, f.disk
                )
            })
            .collect();
        format!(
            "{why}; the flavors are: {}",
            if list.is_empty() {
                "(none)".to_string()
            } else {
                list.join(", ")
            }
        )
    })
}

/// A server of `flavor`, empty.
pub fn server_of(name: &str, flavor: &Flavor) -> Server {
    Server::new(name, flavor.vcpus as f64, flavor.ram, flavor.disk)
}

/// One pass of the cloud scheduler: starts on `servers` (allocated on them), then spawns for
/// what is left, under `quota` and `limits`.
pub fn plan(
    groups: &[CloudGroup],
    servers: &mut [CloudServer],
    flavors: &[Flavor],
    quota: &Quota,
    limits: &Limits,
) -> Result<Plan, String> {
    let patterns = Patterns::new(limits)?;
    let plain: Vec<Group> = groups.iter().map(|g| g.group.clone()).collect();
    let max_ram = quota
        .ram
        .max
        .unwrap_or_else(|| servers.iter().map(|s| s.server.ram).max().unwrap_or(0));
    let max_cores = quota.cores.max.map_or_else(
        || {
            servers
                .iter()
                .map(|s| s.server.millicores)
                .max()
                .unwrap_or(0)
        },
        |c| c * 1000,
    );
    let order = order_by_size_of(&plain, max_ram, max_cores);
    // Which servers each group may use, decided once per distinct (group kind, server kind and
    // flavor): clouds have few kinds and many servers.
    let mut server_class: Vec<usize> = Vec::with_capacity(servers.len());
    let mut classes: Vec<(&Kind, Option<&Flavor>)> = Vec::new();
    for s in servers.iter() {
        let key = (&s.kind, s.flavor.as_ref());
        let id = match classes.iter().position(|c| *c == key) {
            Some(id) => id,
            None => {
                classes.push(key);
                classes.len() - 1
            }
        };
        server_class.push(id);
    }
    let mut group_kinds: Vec<&Kind> = Vec::new();
    let group_class: Vec<usize> = groups
        .iter()
        .map(|g| match group_kinds.iter().position(|k| **k == g.kind) {
            Some(id) => id,
            None => {
                group_kinds.push(&g.kind);
                group_kinds.len() - 1
            }
        })
        .collect();
    let takes: Vec<Vec<bool>> = group_kinds
        .iter()
        .map(|k| classes.iter().map(|(sk, f)| k.takes(sk, *f)).collect())
        .collect();
    drop(classes);
    let pass = pass_in(&plain, servers, &order, |g, s| {
        takes[group_class[g]][server_class[s]]
    });
    let mut out = Plan {
        starts: pass.starts,
        ..Plan::default()
    };
    let mut spawning_total: u64 = groups.iter().map(|g| g.spawning).sum();
    let known = servers.len() as u64;
    let (mut res_instances, mut res_cores, mut res_ram) = (0u64, 0u64, 0u64);
    // The pick per (requirement, kind), as wr caches it for the pass.
    let mut picks: HashMap<(Req, Kind), Result<&Flavor, NoFit>> = HashMap::new();
    for (gi, short) in pass.short {
        let g = &groups[gi];
        let req = g.group.req;
        let refuse = |reason: String| Refusal { group: gi, reason };
        let too_big = [
            (quota.cores.max.map(|m| m * 1000), req.millicores, "cores"),
            (quota.ram.max, req.ram, "RAM"),
        ]
        .into_iter()
        .find_map(|(max, want, what)| max.filter(|m| want > *m).map(|_| what));
        if let Some(what) = too_big {
            out.impossible.push(refuse(format!(
                "a job needs more {what} than the project's whole quota"
            )));
            continue;
        }
        let flavor = match picks
            .entry((req, g.kind.clone()))
            .or_insert_with(|| choose(flavors, &patterns, limits, &req, &g.kind))
        {
            Ok(f) => *f,
            Err(NoFit(why)) => {
                out.impossible.push(refuse(why.clone()));
                continue;
            }
        };
        let mut one = req;
        one.ram = req.ram.max(limits.os_ram).max(g.kind.ram);
        let per_server = server_of(&flavor.name, flavor).has_space_for(&one);
        let wanted = short.div_ceil(per_server.max(1)).saturating_sub(g.spawning);
        if wanted == 0 {
            out.refused.push(refuse(format!(
                "{} servers already spawning for it",
                g.spawning
            )));
            continue;
        }
        let cap = limits.max_servers.map_or(u64::MAX, |m| {
            m.saturating_sub(known + spawning_total + res_instances)
        });
        let by = [
            (quota.instances.left(res_instances).min(cap), 1, "instance"),
            (quota.cores.left(res_cores), flavor.vcpus, "cores"),
            (quota.ram.left(res_ram), flavor.ram, "RAM"),
        ];
        if let Some((_, _, what)) = by.iter().find(|(left, each, _)| left < each) {
            out.refused.push(refuse(format!(
                "not enough {what} quota{} for a server of {}",
                if *what == "instance" && cap < quota.instances.left(res_instances) {
                    " (max_servers)"
                } else {
                    ""
                },
                flavor.name
            )));
            continue;
        }
        let mut servers_n = by
            .iter()
            .map(|(left, each, _)| left / each.max(&1))
            .min()
            .unwrap_or(0)
            .min(wanted);
        if limits.max_spawns > 0 {
            let room = limits.max_spawns.saturating_sub(spawning_total);
            if room == 0 {
                out.refused.push(refuse(format!(
                    "{spawning_total} spawns in flight, the most max_spawns allows"
                )));
                continue;
            }
            servers_n = servers_n.min(room);
        }
        res_instances += servers_n;
        res_cores += servers_n * flavor.vcpus;
        res_ram += servers_n * flavor.ram;
        spawning_total += servers_n;
        out.spawns.push(Spawn {
            group: gi,
            flavor: flavor.name.clone(),
            servers: servers_n,
            per_server,
        });
        if servers_n < wanted {
            out.refused.push(refuse(format!(
                "{} more servers wanted than quota and limits allow now",
                wanted - servers_n
            )));
        }
    }
    Ok(out)
}

/// A spawned server as the upkeep sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Upkept {
    pub name: String,
    /// Runners on it now.
    pub busy: bool,
    /// Since when it has had no runner (None: busy, or not seen idle yet).
    pub idle_since: Option<f64>,
    /// Since when it has been bad (None: good).
    pub bad_since: Option<f64>,
    /// Whether it can take work: false for a server an earlier manager left whose kind is not
    /// known, which only finishes what runs there.
    pub reusable: bool,
}

/// Why the upkeep destroys a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Doom {
    /// No runner for `keepalive` seconds.
    Idle(u64),
    /// Bad for `auto_confirm_dead` seconds.
    Dead(u64),
    /// It cannot take work and has nothing left to run.
    Unused,
}

/// One upkeep round at `now`: each server's idle clock (started when it has no runner, cleared
/// when it has one), and the servers to destroy: idle and good for `keepalive` seconds (0:
/// never), or bad for `auto_confirm_dead` seconds (0: never; a bad server is not destroyed
/// for idling, so it can be looked at). A server that cannot take work goes as soon as it has
/// none, whatever the keepalive: keeping it would cost and serve nothing.
pub fn upkeep(
    servers: &mut [Upkept],
    now: f64,
    keepalive: f64,
    auto_confirm_dead: f64,
) -> Vec<(String, Doom)> {
    let mut out = Vec::new();
    for s in servers.iter_mut() {
        if s.busy {
            s.idle_since = None;
        } else {
            let since = *s.idle_since.get_or_insert(now);
            if !s.reusable && s.bad_since.is_none() {
                out.push((s.name.clone(), Doom::Unused));
                continue;
            }
            if keepalive > 0.0 && s.bad_since.is_none() && now - since >= keepalive {
                out.push((s.name.clone(), Doom::Idle((now - since) as u64)));
                continue;
            }
        }
        if let Some(bad) = s.bad_since {
            if auto_confirm_dead > 0.0 && now - bad >= auto_confirm_dead {
                out.push((s.name.clone(), Doom::Dead((now - bad) as u64)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flavor(name: &str, vcpus: u64, ram: u64, disk: u64) -> Flavor {
        Flavor {
            id: format!("id-{name}"),
            name: name.into(),
            vcpus,
            ram,
            disk,
        }
    }

    fn flavors() -> Vec<Flavor> {
        vec![
            flavor("m1.large", 4, 16000, 80),
            flavor("m1.small", 1, 2000, 20),
            flavor("m1.medium", 2, 8000, 40),
            flavor("s1.tiny", 1, 1000, 10),
            flavor("o1.huge", 16, 128000, 100),
        ]
    }

    fn group(cores: f64, mem: u64, count: u64) -> CloudGroup {
        CloudGroup {
            group: Group {
                req: Req::for_scheduler(mem, 3600, cores, 0),
                priority: 0,
                count,
                running: 0,
            },
            kind: Kind::default(),
            spawning: 0,
        }
    }

    fn localhost(cores: f64, ram: u64) -> CloudServer {
        CloudServer {
            server: Server::new("localhost", cores, ram, 100),
            kind: Kind::default(),
            flavor: None,
        }
    }

    fn unlimited() -> Quota {
        Quota::default()
    }

    #[test]
    fn cheapest_flavor_that_fits_with_patterns_and_sets() {
        let p = |l: &Limits| Patterns::new(l).unwrap();
        let req = Req::for_scheduler(1500, 60, 1.0, 0);
        let l = Limits::default();
        // 1 core, 1600 MB: the smallest with 1 vCPU and ≥ 1600 MB.
        assert_eq!(
            choose(&flavors(), &p(&l), &l, &req, &Kind::default())
                .unwrap()
                .name,
            "m1.small"
        );
        // os_ram raises the RAM wanted.
        let l = Limits {
            os_ram: 4000,
            ..Limits::default()
        };
        assert_eq!(
            choose(&flavors(), &p(&l), &l, &req, &Kind::default())
                .unwrap()
                .name,
            "m1.medium"
        );
        // A name pattern.
        let l = Limits {
            flavor: "^o".into(),
            ..Limits::default()
        };
        assert_eq!(
            choose(&flavors(), &p(&l), &l, &req, &Kind::default())
                .unwrap()
                .name,
            "o1.huge"
        );
        // Flavor sets: the first set's pick, unless that flavor failed lately.
        let l = Limits {
            flavor_sets: vec![vec!["^o".into()], vec!["^m1".into()]],
            ..Limits::default()
        };
        assert_eq!(
            choose(&flavors(), &p(&l), &l, &req, &Kind::default())
                .unwrap()
                .name,
            "o1.huge"
        );
        let l = Limits {
            failed_flavors: vec!["o1.huge".into()],
            ..l
        };
        assert_eq!(
            choose(&flavors(), &p(&l), &l, &req, &Kind::default())
                .unwrap()
                .name,
            "m1.small"
        );
        let l = Limits {
            failed_flavors: vec!["o1.huge".into(), "m1.small".into()],
            ..l
        };
        assert_eq!(
            choose(&flavors(), &p(&l), &l, &req, &Kind::default())
                .unwrap()
                .name,
            "o1.huge"
        );
        // A requested flavor, by name or id; too small is no fit.
        let l = Limits::default();
        let asked = Kind {
            flavor: "id-m1.large".into(),
            ..Kind::default()
        };
        assert_eq!(
            choose(&flavors(), &p(&l), &l, &req, &asked).unwrap().name,
            "m1.large"
        );
        let small = Kind {
            flavor: "s1.tiny".into(),
            ..Kind::default()
        };
        assert!(choose(&flavors(), &p(&l), &l, &req, &small)
            .unwrap_err()
            .0
            .contains("too small"));
        // Nothing big enough.
        let huge = Req::for_scheduler(500_000, 60, 1.0, 0);
        assert!(choose(&flavors(), &p(&l), &l, &huge, &Kind::default())
            .unwrap_err()
            .0
            .contains("no flavor"));
    }

    #[test]
    fn places_on_servers_first_then_spawns_the_cheapest_for_the_rest() {
        // localhost takes 2 one-core jobs; 10 more want m1.small servers, one job each.
        let mut servers = vec![localhost(2.0, 8000)];
        let p = plan(
            &[group(1.0, 1500, 12)],
            &mut servers,
            &flavors(),
            &unlimited(),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(p.starts.iter().map(|s| s.runners).sum::<u64>(), 2);
        assert_eq!(
            p.spawns,
            [Spawn {
                group: 0,
                flavor: "m1.small".into(),
                servers: 10,
                per_server: 1
            }]
        );
        assert!(p.refused.is_empty() && p.impossible.is_empty(), "{p:?}");
        // Half-core jobs of 400 MB (500 as the scheduler counts them): two per s1.tiny; spawns
        // already under way count.
        let mut g = group(0.5, 400, 10);
        g.spawning = 2;
        let p = plan(&[g], &mut [], &flavors(), &unlimited(), &Limits::default()).unwrap();
        assert_eq!(
            p.spawns,
            [Spawn {
                group: 0,
                flavor: "s1.tiny".into(),
                servers: 3,
                per_server: 2
            }]
        );
    }

    #[test]
    fn quota_max_servers_and_max_spawns_cap_the_spawns() {
        let quota = Quota {
            instances: Limit::new(10, 7),
            cores: Limit::new(-1, 0),
            ram: Limit::new(0, 0),
        };
        let p = plan(
            &[group(1.0, 1500, 20)],
            &mut [],
            &flavors(),
            &quota,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(p.spawns[0].servers, 3);
        assert!(
            p.refused[0].reason.contains("17 more servers wanted"),
            "{p:?}"
        );
        // RAM quota for less than one server: refused, said why.
        let quota = Quota {
            ram: Limit::new(4000, 3000),
            ..Quota::default()
        };
        let p = plan(
            &[group(1.0, 1500, 2)],
            &mut [],
            &flavors(),
            &quota,
            &Limits::default(),
        )
        .unwrap();
        assert!(p.spawns.is_empty());
        assert_eq!(
            p.refused[0].reason,
            "not enough RAM quota for a server of m1.small"
        );
        // max_servers counts the servers known (localhost) and spawning; max_spawns those in flight.
        let limits = Limits {
            max_servers: Some(4),
            ..Limits::default()
        };
        let mut servers = vec![localhost(0.5, 100)];
        let p = plan(
            &[group(1.0, 1500, 20)],
            &mut servers,
            &flavors(),
            &unlimited(),
            &limits,
        )
        .unwrap();
        assert_eq!(p.spawns[0].servers, 3);
        let limits = Limits {
            max_spawns: 5,
            ..Limits::default()
        };
        let mut busy = group(1.0, 1500, 20);
        busy.spawning = 4;
        let p = plan(
            &[busy.clone(), group(2.0, 4000, 3)],
            &mut [],
            &flavors(),
            &unlimited(),
            &limits,
        )
        .unwrap();
        assert_eq!(p.spawns.iter().map(|s| s.servers).sum::<u64>(), 1, "{p:?}");
        assert!(
            p.refused.iter().any(|r| r.reason.contains("max_spawns")),
            "{p:?}"
        );
        // Groups are visited largest first (against the quota's 3 cores): the 2-core job takes
        // two of them, and the 1-core group, visited next, gets one server of the two it wants.
        let quota = Quota {
            cores: Limit::new(3, 0),
            ..Quota::default()
        };
        let p = plan(
            &[
                group(1.0, 1500, 2),
                group(1.0, 1500, 0),
                group(2.0, 4000, 1),
            ],
            &mut [],
            &flavors(),
            &quota,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            p.spawns,
            [
                Spawn {
                    group: 2,
                    flavor: "m1.medium".into(),
                    servers: 1,
                    per_server: 1
                },
                Spawn {
                    group: 0,
                    flavor: "m1.small".into(),
                    servers: 1,
                    per_server: 1
                },
            ]
        );
        assert_eq!(
            p.refused,
            [Refusal {
                group: 0,
                reason: "1 more servers wanted than quota and limits allow now".into()
            }]
        );
    }

    #[test]
    fn impossible_groups_and_matching_servers() {
        let quota = Quota {
            cores: Limit::new(8, 0),
            ..Quota::default()
        };
        let p = plan(
            &[group(9.0, 100, 1)],
            &mut [],
            &flavors(),
            &quota,
            &Limits::default(),
        )
        .unwrap();
        assert!(p.impossible[0].reason.contains("more cores than"), "{p:?}");
        let mut g = group(1.0, 100, 1);
        g.kind.flavor = "nope".into();
        let p = plan(&[g], &mut [], &flavors(), &unlimited(), &Limits::default()).unwrap();
        assert!(p.impossible[0].reason.contains("does not exist"), "{p:?}");
        // A server of another image or script takes none of the group's jobs.
        let mut other = localhost(8.0, 32000);
        other.kind.os = "Centos".into();
        let mut g = group(1.0, 100, 1);
        g.kind.os = "Ubuntu".into();
        let p = plan(
            &[g.clone()],
            &mut [other.clone()],
            &flavors(),
            &unlimited(),
            &Limits::default(),
        )
        .unwrap();
        assert!(p.starts.is_empty() && p.spawns.len() == 1, "{p:?}");
        other.kind.os = "Ubuntu 22.04".into();
        let p = plan(
            &[g],
            &mut [other],
            &flavors(),
            &unlimited(),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(p.starts.len(), 1, "{p:?}");
        assert!(plan(
            &[],
            &mut [],
            &flavors(),
            &unlimited(),
            &Limits {
                flavor: "(".into(),
                ..Limits::default()
            }
        )
        .is_err());
    }

    fn upkept(name: &str) -> Upkept {
        Upkept {
            name: name.into(),
            busy: false,
            idle_since: None,
            bad_since: None,
            reusable: true,
        }
    }

    #[test]
    fn idle_servers_go_after_the_keepalive_and_bad_ones_after_auto_confirm_dead() {
        let mut s = vec![upkept("a"), upkept("b"), upkept("c")];
        s[1].busy = true;
        // Second by second over simulated time; a gets work at 5 s, c goes bad at 2 s.
        let mut doomed = Vec::new();
        for t in 0..=200 {
            let t = t as f64;
            if t == 5.0 {
                s[0].busy = true;
            }
            if t == 6.0 {
                s[0].busy = false;
            }
            if t == 2.0 {
                s[2].bad_since = Some(2.0);
            }
            for (name, why) in upkeep(&mut s, t, 120.0, 60.0) {
                doomed.push((t, name.clone(), why));
                s.retain(|x| x.name != name);
            }
        }
        assert_eq!(
            doomed,
            [
                (62.0, "c".to_string(), Doom::Dead(60)),
                (126.0, "a".to_string(), Doom::Idle(120)),
            ]
        );
        assert_eq!(s[0].name, "b", "busy all along");
        assert_eq!(s[0].idle_since, None);
    }

    #[test]
    fn a_server_that_cannot_take_work_goes_once_nothing_runs_there() {
        let mut s = vec![upkept("a"), upkept("b"), upkept("c")];
        for x in &mut s {
            x.reusable = false;
        }
        s[0].busy = true;
        s[2].bad_since = Some(0.0);
        // Even with keepalive 0 (for ever): a goes the second its last job ends; b at once;
        // c, bad, waits to be looked at like any bad server.
        let mut doomed = Vec::new();
        for t in 0..=30 {
            let t = t as f64;
            if t == 10.0 {
                s[0].busy = false;
            }
            for (name, why) in upkeep(&mut s, t, 0.0, 0.0) {
                doomed.push((t, name.clone(), why));
                s.retain(|x| x.name != name);
            }
        }
        assert_eq!(
            doomed,
            [
                (0.0, "b".to_string(), Doom::Unused),
                (10.0, "a".to_string(), Doom::Unused),
            ]
        );
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn zero_keeps_servers_for_ever() {
        let mut s = vec![upkept("a"), upkept("b")];
        s[1].bad_since = Some(0.0);
        for t in 0..10_000 {
            assert!(upkeep(&mut s, t as f64, 0.0, 0.0).is_empty());
        }
    }
}
