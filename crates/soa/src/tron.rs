//! `tron-<cluster>.yaml` (PaaSTA's tron schema): top-level keys are jobs, each with a
//! `schedule` and `actions` (a mapping of names to actions, or a list of actions with `name`),
//! each action a `command` and the actions it `requires`. Here a job's actions run as scheduled
//! jobs: action `a` of job `j` is the instance `j.a`; an action that requires nothing runs on
//! the job's schedule, one that requires others runs after them (their `parents`), so a job's
//! actions run in dependency order and rerun, service-ctl and setup-service treat them as they
//! treat chronos jobs (docs/paasta.md, "Tron jobs").
//!
//! Schedules: `daily [HH:MM[:SS]] [days]` (days as Tron writes them: M T W R F S U),
//! `cron <five fields>`, `interval <n><unit>` (s, m, h, d; at least a minute), or the mapping
//! form `{type: daily|cron|interval, value: …}`; a seconds field other than 00 cannot be kept.

use serde_yaml::{Mapping, Value};

/// One action of a job, with its name.
pub struct Action<'a> {
    pub name: String,
    pub map: &'a Mapping,
}

/// A job's actions in file order; a list item without a string `name` is skipped (the
/// validator reports it).
pub fn actions(job: &Mapping) -> Vec<Action<'_>> {
    match job.get("actions") {
        Some(Value::Mapping(m)) => m
            .iter()
            .filter_map(|(k, v)| {
                Some(Action {
                    name: crate::yaml::key_text(k),
                    map: v.as_mapping()?,
                })
            })
            .collect(),
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(|v| {
                let map = v.as_mapping()?;
                Some(Action {
                    name: map.get("name")?.as_str()?.to_string(),
                    map,
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The actions an action requires.
pub fn requires(action: &Mapping) -> Vec<String> {
    action
        .get("requires")
        .and_then(Value::as_sequence)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A Tron schedule as this toolkit writes schedules (five-field cron, or an ISO 8601 repeating
/// interval); the reason when it cannot be.
pub fn schedule(value: &Value) -> Result<String, String> {
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Mapping(m) => {
            let kind = m.get("type").and_then(Value::as_str).unwrap_or("");
            let v = m.get("value").and_then(Value::as_str).unwrap_or("");
            format!("{kind} {v}").trim().to_string()
        }
        _ => return Err("a schedule is a string such as \"daily 04:00:00\"".into()),
    };
    let (kind, rest) = text.split_once(char::is_whitespace).unwrap_or((&text, ""));
    let rest = rest.trim();
    match kind {
        "daily" => daily(rest),
        "cron" => {
            if rest.split_whitespace().count() == 5 {
                Ok(rest.to_string())
            } else {
                Err(format!("cron {rest:?}: expected five fields (minute hour day month weekday)"))
            }
        }
        "interval" => interval(rest),
        _ => Err(format!(
            "schedule {text:?}: expected \"daily HH:MM:SS [days]\", \"cron <five fields>\" or \"interval <n><s|m|h|d>\""
        )),
    }
}

fn daily(rest: &str) -> Result<String, String> {
    let mut words = rest.split_whitespace();
    let (mut hour, mut minute) = (0u32, 0u32);
    let mut days = None;
    for w in words.by_ref() {
        if w.contains(':') {
            let parts: Vec<&str> = w.split(':').collect();
            let num = |s: &str, max: u32| s.parse::<u32>().ok().filter(|n| *n <= max);
            match parts.as_slice() {
                [h, m] | [h, m, "00"] => {
                    hour = num(h, 23).ok_or_else(|| format!("daily {rest:?}: bad hour {h:?}"))?;
                    minute =
                        num(m, 59).ok_or_else(|| format!("daily {rest:?}: bad minute {m:?}"))?;
                }
                [_, _, s] => {
                    return Err(format!(
                        "daily {rest:?}: seconds ({s}) other than 00 cannot be scheduled here (runs start on whole minutes)"
                    ))
                }
                _ => return Err(format!("daily {rest:?}: expected HH:MM:SS")),
            }
        } else {
            let mut cron_days = Vec::new();
            for c in w.chars() {
                let d = match c.to_ascii_uppercase() {
                    'U' => 0,
                    'M' => 1,
                    'T' => 2,
                    'W' => 3,
                    'R' => 4,
                    'F' => 5,
                    'S' => 6,
                    other => {
                        return Err(format!(
                            "daily {rest:?}: {other:?} is not a day (M T W R F S U)"
                        ))
                    }
                };
                cron_days.push(d.to_string());
            }
            days = Some(cron_days.join(","));
        }
    }
    Ok(format!(
        "{minute} {hour} * * {}",
        days.as_deref().unwrap_or("*")
    ))
}

fn interval(rest: &str) -> Result<String, String> {
    let compact: String = rest.split_whitespace().collect();
    let split = compact
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(compact.len());
    let (n, unit) = compact.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("interval {rest:?}: expected a number and a unit, e.g. 5m"))?;
    let seconds = match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => n,
        "m" | "min" | "mins" | "minute" | "minutes" => n * 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => n * 3600,
        "d" | "day" | "days" => n * 86400,
        _ => {
            return Err(format!(
                "interval {rest:?}: unknown unit {unit:?} (s, m, h, d)"
            ))
        }
    };
    if seconds < 60 {
        return Err(format!(
            "interval {rest:?}: jobs run at most once a minute here"
        ));
    }
    // Any fixed start gives the same rhythm; a recent one keeps the arithmetic short.
    Ok(format!("R/2020-01-01T00:00:00Z/PT{seconds}S"))
}

/// The scheduled-job instances (`job.action` → chronos keys) of a tron file's jobs. Templates
/// (`_…`) are not jobs. A job whose schedule cannot be read gets none on its first actions (the
/// validator says why; a master runs nothing it cannot schedule).
pub fn instances(service: &str, jobs: &Mapping) -> Mapping {
    let mut out = Mapping::new();
    for (name, job) in jobs {
        let job_name = crate::yaml::key_text(name);
        let Some(job) = job.as_mapping().filter(|_| !job_name.starts_with('_')) else {
            continue;
        };
        let sched = job.get("schedule").map(schedule);
        for action in actions(job) {
            let mut m = Mapping::new();
            let set = |m: &mut Mapping, k: &str, v: Value| {
                m.insert(Value::String(k.into()), v);
            };
            if let Some(c) = action.map.get("command") {
                set(&mut m, "cmd", c.clone());
            }
            let required = requires(action.map);
            if required.is_empty() {
                match &sched {
                    Some(Ok(s)) => set(&mut m, "schedule", Value::String(s.clone())),
                    _ => set(&mut m, "disabled", Value::Bool(true)),
                }
                if let Some(tz) = job.get("time_zone") {
                    set(&mut m, "schedule_time_zone", tz.clone());
                }
            } else {
                set(
                    &mut m,
                    "parents",
                    Value::Sequence(
                        required
                            .iter()
                            .map(|r| Value::String(format!("{service}.{job_name}.{r}")))
                            .collect(),
                    ),
                );
            }
            for k in crate::schema::TRON_ACTION_KEYS_PASSED {
                if let Some(v) = action.map.get(*k) {
                    set(&mut m, k, v.clone());
                }
            }
            if let Some(g) = action
                .map
                .get("deploy_group")
                .or_else(|| job.get("deploy_group"))
            {
                set(&mut m, "deploy_group", g.clone());
            }
            if let Some(mon) = job.get("monitoring") {
                set(&mut m, "monitoring", mon.clone());
            }
            if job.get("enabled").and_then(Value::as_bool) == Some(false) {
                set(&mut m, "disabled", Value::Bool(true));
            }
            // Tron writes its date variables in braces: {shortdate}.
            set(
                &mut m,
                "time_variable_syntax",
                Value::String("brace".into()),
            );
            out.insert(
                Value::String(format!("{job_name}.{}", action.name)),
                Value::Mapping(m),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Result<String, String> {
        schedule(&Value::String(v.into()))
    }

    #[test]
    fn schedules() {
        assert_eq!(s("daily 04:30:00").unwrap(), "30 4 * * *");
        assert_eq!(s("daily 04:30").unwrap(), "30 4 * * *");
        assert_eq!(s("daily").unwrap(), "0 0 * * *");
        assert_eq!(s("daily 12:00:00 MWF").unwrap(), "0 12 * * 1,3,5");
        assert_eq!(s("cron */5 * * * *").unwrap(), "*/5 * * * *");
        assert_eq!(s("interval 5m").unwrap(), "R/2020-01-01T00:00:00Z/PT300S");
        assert_eq!(
            s("interval 2 hours").unwrap(),
            "R/2020-01-01T00:00:00Z/PT7200S"
        );
        let mapping: Value = serde_yaml::from_str("{type: daily, value: '03:00:00'}").unwrap();
        assert_eq!(schedule(&mapping).unwrap(), "0 3 * * *");
        assert!(s("daily 04:30:15").unwrap_err().contains("seconds"));
        assert!(s("interval 30s").is_err());
        assert!(s("weekly").is_err());
        assert!(s("cron * * *").is_err());
        assert!(s("daily 25:00:00").is_err());
    }

    #[test]
    fn actions_become_jobs_in_dependency_order() {
        let jobs: Mapping = serde_yaml::from_str(
            "nightly:\n  schedule: daily 03:00:00\n  time_zone: UTC\n  deploy_group: prod\n  actions:\n    a: {command: run a, mem: 64}\n    b: {command: run b, requires: [a]}\n    c: {command: run c, requires: [a], deploy_group: canary}\n\
             listed:\n  schedule: interval 1h\n  enabled: false\n  actions:\n    - {name: only, command: x}\n_template: {x: 1}\n",
        )
        .unwrap();
        let out = instances("svc", &jobs);
        let keys: Vec<String> = out.keys().map(crate::yaml::key_text).collect();
        assert_eq!(keys, ["nightly.a", "nightly.b", "nightly.c", "listed.only"]);
        let a = &out[&Value::from("nightly.a")];
        assert_eq!(a["cmd"], Value::from("run a"));
        assert_eq!(a["schedule"], Value::from("0 3 * * *"));
        assert_eq!(a["schedule_time_zone"], Value::from("UTC"));
        assert_eq!(a["mem"], Value::from(64));
        assert_eq!(a["deploy_group"], Value::from("prod"));
        let b = &out[&Value::from("nightly.b")];
        assert_eq!(b["parents"][0], Value::from("svc.nightly.a"));
        assert!(b.get("schedule").is_none());
        assert_eq!(
            out[&Value::from("nightly.c")]["deploy_group"],
            Value::from("canary")
        );
        assert_eq!(
            out[&Value::from("listed.only")]["disabled"],
            Value::Bool(true)
        );
    }
}
