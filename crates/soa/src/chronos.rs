//! A scheduled job as PaaSTA describes it to Chronos (docs/paasta.md §13): the complete job,
//! its config hash (the `description`, so a job is re-sent only when it changed), and the
//! temporary job a rerun sends.
//!
//! The job's keys, in the order PaaSTA builds them: name, container {image, network, type,
//! volumes, parameters}, uris, environmentVariables, mem, cpus, disk, constraints, command,
//! arguments, epsilon, retries, async, disabled, owner, scheduleTimeZone, shell, then schedule
//! or parents, then description. The docker parameters, environment, volumes and placement
//! constraints are soa::marathon's, so a job's container is the one the docker backend runs.
//!
//! Ours where the reference is silent: the hash appends the force_bounce as the Marathon hash
//! does (so `service-ctl restart` re-sends a job), and a cron schedule is refused: Chronos takes
//! ISO 8601 repeating intervals only.

use crate::error::Problem;
use crate::instance::Net;
use crate::jobs::{command_at, job_name, rerun_name};
use crate::marathon::{
    all_volumes, apply_user_env, docker_parameters_json, dockercfg_uris, paasta_env,
    placement_constraints,
};
use crate::schedule::Schedule;
use crate::{pyjson, InstanceConfig, SystemConfig};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value as Json};

/// The schedule of a one-off run: once, as soon as possible.
pub const RUN_ONCE: &str = "R1//PT1M";

/// A job name's (service, instance): `svc inst`, or a rerun's `tmp-<stamp> svc inst`.
pub fn parse_name(name: &str) -> Option<(Option<&str>, &str, &str)> {
    let mut parts = name.split(' ');
    let first = parts.next()?;
    let (tmp, service) = if first.starts_with("tmp-") {
        (Some(first), parts.next()?)
    } else {
        (None, first)
    };
    let instance = parts.next()?;
    if parts.next().is_some() || service.is_empty() || instance.is_empty() {
        return None;
    }
    Some((tmp, service, instance))
}

/// `"config" + md5(json.dumps(job, sort_keys=True) + force_bounce)[:8]`, over the whole job.
pub fn config_hash(job: &Json, force_bounce: Option<&str>) -> String {
    let text = pyjson::dumps(job, true) + force_bounce.unwrap_or("");
    let hex: String = Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("config{}", &hex[..8])
}

/// PaaSTA's complete Chronos job for the scheduled `config` running `image` (registry
/// included): disabled when the config says so or the desired state is stop; the command's
/// time variables at `now` (unix seconds), as PaaSTA interpolates them when it sends the job.
pub fn job(
    config: &InstanceConfig,
    system: &SystemConfig,
    image: &str,
    stopped: bool,
    force_bounce: Option<&str>,
    now: i64,
) -> Result<Json, Problem> {
    let scheduled = config.scheduled().ok_or_else(|| {
        Problem::new(&config.file, "only a scheduled job has a Chronos job")
            .instance_of(&config.service, &config.instance)
    })?;
    let volumes: Vec<Json> = all_volumes(config, system)?
        .into_iter()
        .map(
            |v| json!({"containerPath": v.container_path, "hostPath": v.host_path, "mode": v.mode}),
        )
        .collect();
    let mut env = paasta_env(config, image);
    apply_user_env(&mut env, config);
    let env: Vec<Json> = env
        .into_iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    let mut container = Map::new();
    container.insert("image".into(), json!(image));
    container.insert(
        "network".into(),
        json!(if config.net == Net::Host {
            "HOST"
        } else {
            "BRIDGE"
        }),
    );
    container.insert("type".into(), json!("DOCKER"));
    container.insert("volumes".into(), Json::Array(volumes));
    container.insert("parameters".into(), docker_parameters_json(config));
    let mut job = Map::new();
    job.insert(
        "name".into(),
        json!(job_name(&config.service, &config.instance)),
    );
    job.insert("container".into(), Json::Object(container));
    job.insert("uris".into(), dockercfg_uris(system));
    job.insert("environmentVariables".into(), Json::Array(env));
    job.insert("mem".into(), json!(config.mem));
    job.insert("cpus".into(), json!(config.cpus));
    job.insert("disk".into(), json!(config.disk));
    job.insert(
        "constraints".into(),
        json!(placement_constraints(&config.placement, system, None)),
    );
    job.insert("command".into(), json!(command_at(config, now)?));
    job.insert("arguments".into(), json!(config.args));
    job.insert("epsilon".into(), json!(scheduled.epsilon));
    job.insert("retries".into(), json!(scheduled.retries));
    job.insert("async".into(), json!(false));
    job.insert("disabled".into(), json!(scheduled.disabled || stopped));
    job.insert("owner".into(), json!(config.team));
    job.insert(
        "scheduleTimeZone".into(),
        json!(scheduled.schedule_time_zone),
    );
    // Chronos ignores arguments under a shell.
    job.insert(
        "shell".into(),
        json!(config.args.as_ref().is_none_or(Vec::is_empty)),
    );
    let at_key = |key: &str| {
        Problem::new(&config.file, "")
            .instance_of(&config.service, &config.instance)
            .key(key)
    };
    match (&scheduled.schedule, &scheduled.parents) {
        (Some(s), _) => {
            if let Ok(Schedule::Cron(_)) = crate::schedule::parse(s) {
                return Err(Problem {
                    message: format!(
                        "schedule {s:?} is a cron expression, and Chronos takes only ISO 8601 repeating intervals: write it as R/<start>/<period>, e.g. R/2026-01-01T03:00:00Z/P1D"
                    ),
                    ..at_key("schedule")
                });
            }
            job.insert("schedule".into(), json!(s));
        }
        (None, Some(parents)) => {
            job.insert(
                "parents".into(),
                json!(parents
                    .iter()
                    .map(|p| p.replacen('.', " ", 1))
                    .collect::<Vec<_>>()),
            );
        }
        (None, None) => {
            return Err(Problem {
                message: "a job needs a schedule or parents".into(),
                ..at_key("schedule")
            })
        }
    }
    let mut job = Json::Object(job);
    job["description"] = json!(config_hash(&job, force_bounce));
    Ok(job)
}

/// The endpoint that takes `job`: `/scheduler/dependency` for a job with parents, else
/// `/scheduler/iso8601`.
pub fn endpoint_for(job: &Json) -> &'static str {
    if job.get("parents").is_some() {
        "/scheduler/dependency"
    } else {
        "/scheduler/iso8601"
    }
}

/// A rerun's temporary job (PaaSTA's chronos_rerun): `job` renamed `tmp-<stamp> <svc> <inst>`,
/// its command the config's, interpolated at `date`; with `parents` (the renamed parents of a
/// `-t graph` rerun) it waits for them, otherwise it runs once now ([`RUN_ONCE`]). With
/// `force_disabled` it is enabled whatever the config says. The description stays the job's.
pub fn rerun_job(
    job: &Json,
    config: &InstanceConfig,
    stamp: &str,
    date: i64,
    parents: Option<Vec<String>>,
    force_disabled: bool,
) -> Result<Json, Problem> {
    let mut tmp = job.clone();
    let m = tmp.as_object_mut().expect("a job is an object");
    m.insert(
        "name".into(),
        json!(rerun_name(stamp, &config.service, &config.instance)),
    );
    m.insert("command".into(), json!(command_at(config, date)?));
    if force_disabled {
        m.insert("disabled".into(), json!(false));
    }
    // The description stays last, as in the job it was cloned from.
    let description = m.remove("description");
    m.remove("schedule");
    m.remove("parents");
    match parents {
        Some(p) if !p.is_empty() => m.insert("parents".into(), json!(p)),
        _ => m.insert("schedule".into(), json!(RUN_ONCE)),
    };
    if let Some(d) = description {
        m.insert("description".into(), d);
    }
    Ok(tmp)
}

/// One job's line of Chronos' dependency graph CSV (`node,<name>,<last status>,<state>`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GraphNode {
    pub name: String,
    /// success, failure or fresh (never run).
    pub last_status: String,
    /// idle, running, queued, or a count of running tasks (`1 running`).
    pub state: String,
}

/// The nodes of `GET /scheduler/graph/csv`; `link` lines and anything else are skipped.
pub fn parse_graph(csv: &str) -> Vec<GraphNode> {
    csv.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(',');
            if f.next()? != "node" {
                return None;
            }
            Some(GraphNode {
                name: f.next()?.to_string(),
                last_status: f.next().unwrap_or("").to_string(),
                state: f.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Service;

    fn config(yaml: &str) -> (tempfile::TempDir, InstanceConfig, SystemConfig) {
        let dir = tempfile::tempdir().unwrap();
        let soa = dir.path().join("soa/svc");
        std::fs::create_dir_all(&soa).unwrap();
        std::fs::write(soa.join("service.yaml"), "git_url: /x\n").unwrap();
        std::fs::write(soa.join("monitoring.yaml"), "team: ops\n").unwrap();
        std::fs::write(soa.join("chronos-c.yaml"), yaml).unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("c.json"),
            r#"{"cluster": "c", "volumes": [{"hostPath": "/nail/srv", "containerPath": "/nail/srv", "mode": "RO"}]}"#,
        )
        .unwrap();
        let system = SystemConfig::load(&etc).unwrap();
        let service = Service::load(&dir.path().join("soa"), "svc").unwrap();
        let name = yaml.split(':').next().unwrap();
        let c = service.instance_config(&service.files[0], name).unwrap();
        (dir, c, system)
    }

    const AT: i64 = 1_551_398_400; // 2019-03-01T00:00:00Z

    #[test]
    fn the_job_paasta_sends() {
        let (_d, c, sys) = config(
            "nightly:\n  cmd: \"run {shortdate-1}\"\n  schedule: R/2019-01-01T03:00:00Z/P1D\n  \
             env: {A: b}\n  pool: batch\n",
        );
        let image = "registry.example/services-svc:paasta-abc123";
        let j = job(&c, &sys, image, false, None, AT).unwrap();
        let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "name",
                "container",
                "uris",
                "environmentVariables",
                "mem",
                "cpus",
                "disk",
                "constraints",
                "command",
                "arguments",
                "epsilon",
                "retries",
                "async",
                "disabled",
                "owner",
                "scheduleTimeZone",
                "shell",
                "schedule",
                "description"
            ]
        );
        assert_eq!(j["name"], "svc nightly");
        assert_eq!(j["command"], "run 2019-02-28");
        assert_eq!(j["container"]["network"], "BRIDGE");
        assert_eq!(j["container"]["volumes"][0]["hostPath"], "/nail/srv");
        assert_eq!(j["container"]["parameters"][0]["key"], "memory-swap");
        assert_eq!(
            j["environmentVariables"][0],
            json!({"name": "PAASTA_SERVICE", "value": "svc"})
        );
        assert_eq!(
            j["environmentVariables"]
                .as_array()
                .unwrap()
                .last()
                .unwrap(),
            &json!({"name": "A", "value": "b"})
        );
        assert_eq!(j["constraints"], json!([["pool", "LIKE", "batch"]]));
        assert_eq!(j["epsilon"], "PT60S");
        assert_eq!(j["retries"], 2);
        assert_eq!(j["owner"], "ops");
        assert_eq!(j["shell"], true);
        assert_eq!(j["arguments"], Json::Null);
        assert_eq!(j["disabled"], false);
        // The description hashes everything before it, and a stop changes it.
        let mut without = j.clone();
        without.as_object_mut().unwrap().remove("description");
        assert_eq!(j["description"], config_hash(&without, None));
        let stopped = job(&c, &sys, image, true, None, AT).unwrap();
        assert_eq!(stopped["disabled"], true);
        assert_ne!(stopped["description"], j["description"]);
        // The command is interpolated when the job is sent: a day later, a new job.
        let later = job(&c, &sys, image, false, None, AT + 86400).unwrap();
        assert_eq!(later["command"], "run 2019-03-01");
        assert_ne!(later["description"], j["description"]);
        assert_eq!(endpoint_for(&j), "/scheduler/iso8601");
    }

    #[test]
    fn children_cron_and_reruns() {
        let (_d, c, sys) = config(
            "child:\n  cmd: \"load %(shortdate)s\"\n  parents: [svc.nightly, other.job]\n  \
             args: [x]\n  disabled: true\n",
        );
        let j = job(&c, &sys, "img:paasta-1", false, None, AT).unwrap();
        assert_eq!(j["parents"], json!(["svc nightly", "other job"]));
        assert_eq!(j["shell"], false);
        assert_eq!(j["disabled"], true);
        assert_eq!(endpoint_for(&j), "/scheduler/dependency");

        // A rerun: renamed, run once now, enabled with -f, the command at the date.
        let r = rerun_job(&j, &c, "2019-03-02T101112123456", AT - 86400, None, true).unwrap();
        assert_eq!(r["name"], "tmp-2019-03-02T101112123456 svc child");
        assert_eq!(r["schedule"], RUN_ONCE);
        assert!(r.get("parents").is_none());
        assert_eq!(r["disabled"], false);
        assert_eq!(r["command"], "load 2019-02-28");
        assert_eq!(r["description"], j["description"]);
        assert_eq!(
            r.as_object().unwrap().keys().next_back().unwrap(),
            "description"
        );
        // In a graph rerun it waits for its parents' reruns.
        let g = rerun_job(
            &j,
            &c,
            "s",
            AT,
            Some(vec!["tmp-s svc nightly".into()]),
            false,
        )
        .unwrap();
        assert_eq!(g["parents"], json!(["tmp-s svc nightly"]));
        assert!(g.get("schedule").is_none());
        assert_eq!(g["disabled"], true);

        let (_d, c, sys) = config("cronned:\n  cmd: x\n  schedule: \"0 3 * * *\"\n");
        let e = job(&c, &sys, "img", false, None, AT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cron") && e.contains("schedule"), "{e}");
    }

    #[test]
    fn names_and_the_graph() {
        assert_eq!(parse_name("svc nightly"), Some((None, "svc", "nightly")));
        assert_eq!(
            parse_name("tmp-2019-03-02T101112123456 svc nightly"),
            Some((Some("tmp-2019-03-02T101112123456"), "svc", "nightly"))
        );
        assert_eq!(parse_name("someone-elses"), None);
        let g = parse_graph("node,svc nightly,success,idle\nnode,svc child,fresh,running\nlink,svc nightly,svc child\n");
        assert_eq!(g.len(), 2);
        assert_eq!(g[1].state, "running");
        assert_eq!(g[0].last_status, "success");
    }
}
