//! `wr-cloud cloud plan`: what the cloud scheduler would do now for a cloud and queue described
//! in JSON, without touching any cloud: the runners it would start on the servers there are, the
//! servers it would spawn (with their flavors) for the rest, the spawns quota and limits refuse
//! now, and the groups that can never run. The input and output schemas are in the man page
//! (CLOUD PLAN) and docs/wr.md.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use wr::cloud::{CloudGroup, CloudServer, Flavor, Kind, Limit, Limits, Quota};
use wr::sched::{millicores, Group, Req, Server};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    flavors: Vec<Flavor>,
    #[serde(default)]
    quota: QuotaIn,
    #[serde(default)]
    limits: LimitsIn,
    #[serde(default)]
    servers: Vec<ServerIn>,
    groups: Vec<GroupIn>,
}

/// A maximum as providers report it (≤ 0 or absent: unlimited) and what is used.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitIn {
    #[serde(default)]
    max: i64,
    #[serde(default)]
    used: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct QuotaIn {
    instances: LimitIn,
    cores: LimitIn,
    ram: LimitIn,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LimitsIn {
    /// Servers in all, those listed included; -1 or absent: no cap but the quota.
    max_servers: Option<i64>,
    max_spawns: u64,
    os_ram: u64,
    flavor: String,
    /// As --flavor_sets takes them: "s2;m2,m1".
    flavor_sets: String,
    failed_flavors: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerIn {
    name: String,
    /// A flavor of `flavors` (its size is the server's), or absent for a host sized by
    /// cores/ram/disk (the manager's own).
    #[serde(default)]
    flavor: Option<String>,
    #[serde(default)]
    cores: f64,
    #[serde(default)]
    ram: u64,
    #[serde(default)]
    disk: u64,
    #[serde(default)]
    used_cores: f64,
    #[serde(default)]
    used_ram: u64,
    #[serde(default)]
    used_disk: u64,
    #[serde(default)]
    bad: bool,
    #[serde(default)]
    os: String,
    #[serde(default)]
    script: String,
    #[serde(default)]
    config_files: String,
    #[serde(default)]
    shared: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupIn {
    #[serde(default = "one")]
    cores: f64,
    /// MB.
    memory: u64,
    /// Seconds.
    #[serde(default)]
    time: u64,
    /// GB.
    #[serde(default)]
    disk: u64,
    #[serde(default)]
    priority: u8,
    count: u64,
    #[serde(default)]
    running: u64,
    #[serde(default)]
    spawning: u64,
    #[serde(default)]
    cloud_os: String,
    #[serde(default)]
    cloud_script: String,
    #[serde(default)]
    cloud_config_files: String,
    #[serde(default)]
    cloud_flavor: String,
    #[serde(default)]
    cloud_shared: bool,
    /// MB the group's image needs at least.
    #[serde(default)]
    cloud_ram: u64,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Serialize)]
struct StartOut {
    group: usize,
    server: String,
    runners: u64,
}

#[derive(Debug, Serialize)]
struct Output {
    starts: Vec<StartOut>,
    spawns: Vec<wr::cloud::Spawn>,
    refused: Vec<wr::cloud::Refusal>,
    impossible: Vec<wr::cloud::Refusal>,
}

/// wr's --flavor_sets: sets separated by ';', patterns within a set by ','.
pub fn flavor_sets(text: &str) -> Vec<Vec<String>> {
    text.split(';')
        .map(|set| {
            set.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|set| !set.is_empty())
        .collect()
}

/// Reads the description (a file, or stdin for `-`) and prints the plan as one JSON object.
pub fn run(file: &Path) -> Result<()> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("reading the plan input from stdin")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    let input: Input = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not a cloud plan input (see `man wr-cloud`, CLOUD PLAN)",
            file.display()
        )
    })?;
    let mut servers = Vec::new();
    for s in &input.servers {
        let flavor = match &s.flavor {
            Some(name) => Some(
                input
                    .flavors
                    .iter()
                    .find(|f| &f.name == name || &f.id == name)
                    .cloned()
                    .with_context(|| {
                        format!(
                            "{}: server {}: flavor {name} is not among the flavors ({})",
                            file.display(),
                            s.name,
                            input
                                .flavors
                                .iter()
                                .map(|f| f.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })?,
            ),
            None => None,
        };
        let mut server = match &flavor {
            Some(f) => wr::cloud::server_of(&s.name, f),
            None => Server::new(&s.name, s.cores, s.ram, s.disk),
        };
        server.used_millicores = millicores(s.used_cores);
        server.used_ram = s.used_ram;
        server.used_disk = s.used_disk;
        server.bad = s.bad;
        servers.push(CloudServer {
            server,
            kind: Kind {
                os: s.os.clone(),
                script: s.script.clone(),
                config_files: s.config_files.clone(),
                flavor: String::new(),
                shared: s.shared,
                ram: 0,
            },
            flavor,
        });
    }
    let groups: Vec<CloudGroup> = input
        .groups
        .iter()
        .map(|g| CloudGroup {
            group: Group {
                req: Req::for_scheduler(g.memory, g.time, g.cores, g.disk),
                priority: g.priority,
                count: g.count,
                running: g.running,
            },
            kind: Kind {
                os: g.cloud_os.clone(),
                script: g.cloud_script.clone(),
                config_files: g.cloud_config_files.clone(),
                flavor: g.cloud_flavor.clone(),
                shared: g.cloud_shared,
                ram: g.cloud_ram,
            },
            spawning: g.spawning,
        })
        .collect();
    let quota = Quota {
        instances: Limit::new(input.quota.instances.max, input.quota.instances.used),
        cores: Limit::new(input.quota.cores.max, input.quota.cores.used),
        ram: Limit::new(input.quota.ram.max, input.quota.ram.used),
    };
    let l = &input.limits;
    let limits = Limits {
        max_servers: l.max_servers.filter(|m| *m >= 0).map(|m| m as u64),
        max_spawns: l.max_spawns,
        os_ram: l.os_ram,
        flavor: l.flavor.clone(),
        flavor_sets: flavor_sets(&l.flavor_sets),
        failed_flavors: l.failed_flavors.clone(),
    };
    if input.flavors.is_empty() {
        bail!("{}: flavors: the cloud offers no flavor", file.display());
    }
    let plan = wr::cloud::plan(&groups, &mut servers, &input.flavors, &quota, &limits)
        .map_err(|e| anyhow::anyhow!("{}: limits: {e}", file.display()))?;
    let out = Output {
        starts: plan
            .starts
            .iter()
            .map(|s| StartOut {
                group: s.group,
                server: servers[s.server].server.name.clone(),
                runners: s.runners,
            })
            .collect(),
        spawns: plan.spawns,
        refused: plan.refused,
        impossible: plan.impossible,
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn flavor_sets_parse_as_wr_writes_them() {
        assert_eq!(
            super::flavor_sets("s2;m2, m1;;o2"),
            [vec!["s2"], vec!["m2", "m1"], vec!["o2"]]
        );
        assert!(super::flavor_sets("").is_empty());
    }
}
