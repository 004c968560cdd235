//! Validation of a soa-configs tree: the schema of every file (unknown keys, types, ranges,
//! instance names), deploy groups against deploy.yaml's pipeline, the scheduled-job rules
//! (schedule xor parents, valid schedule and interval, repeat, epsilon, time zone, parents that
//! exist, no self-dependency and, beyond PaaSTA, no cycles), unique instance names per cluster,
//! and time variables that parse. Every problem names the file, the instance, the key, the value
//! and what was expected.

use crate::error::{Error, Problem};
use crate::schedule;
use crate::schema::{
    self, InstanceType, KeySpec, DEPLOY_KEYS, INSTANCE_KEYS, MONITORING_KEYS, SERVICE_KEYS,
    SMARTSTACK_KEYS, STEP_KEYS,
};
use crate::service::{InstanceFile, Service};
use crate::timevars;
use crate::yaml::{self, describe, key_text, YamlFile};
use rayon::prelude::*;
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The result for one file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    pub file: PathBuf,
    pub valid: bool,
    pub problems: Vec<Problem>,
    /// What is not an error but is not checked or run here (a file type not supported): said
    /// always; invalid only under --strict.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Problem>,
    /// Keys accepted and not used here, files not checked themselves (symbolic links):
    /// soa-validate --verbose.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Problem>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub valid: bool,
    pub files: Vec<FileReport>,
}

impl Report {
    pub fn problem_count(&self) -> usize {
        self.files.iter().map(|f| f.problems.len()).sum()
    }

    pub fn warning_count(&self) -> usize {
        self.files.iter().map(|f| f.warnings.len()).sum()
    }
}

/// What validation found: problems make a file invalid; warnings and notes do not.
#[derive(Default)]
struct Found {
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
    notes: Vec<Problem>,
}

/// Validates the given services of `soa_dir` (all of them when `services` is None).
/// What a root with no service directories holds instead: nothing checked is not "valid".
fn no_services(soa_dir: &Path) -> Problem {
    let looks_like_a_service = std::fs::read_dir(soa_dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name == "service.yaml"
                || InstanceType::ALL
                    .iter()
                    .any(|t| name.starts_with(&format!("{t}-")) && name.ends_with(".yaml"))
        });
    let message = if looks_like_a_service {
        format!(
            "this is one service's directory, not a soa-configs root: validate its parent ({}), or `-s {}` there",
            soa_dir.parent().unwrap_or(soa_dir).display(),
            soa_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        )
    } else {
        "no service here: a soa-configs root holds one directory per service".to_string()
    };
    Problem::new(soa_dir, message)
}

pub fn validate(soa_dir: &Path, services: Option<&[String]>) -> Result<Report, Error> {
    let names = match services {
        Some(s) => s.to_vec(),
        None => crate::service::list_services(soa_dir)?,
    };
    if names.is_empty() {
        return Err(no_services(soa_dir).into());
    }
    // Services load and are checked on every core; the job index they consult (parents in
    // other services) is complete before any check starts, so it is shared read-only.
    let mut loaded = Vec::with_capacity(names.len());
    for result in names
        .par_iter()
        .map(|name| Service::load_tolerant(soa_dir, name))
        .collect::<Vec<_>>()
    {
        loaded.push(result?);
    }
    let mut by_file: BTreeMap<PathBuf, Found> = BTreeMap::new();
    for (service, _) in &loaded {
        for f in service_files(service) {
            by_file.entry(f).or_default();
        }
    }
    let (services, load_problems): (Vec<Service>, Vec<Vec<Problem>>) = loaded.into_iter().unzip();
    let index = JobIndex::build(soa_dir, services);
    let checked: Vec<Found> = names
        .par_iter()
        .zip(load_problems)
        .map(|(name, load_problems)| {
            let service = index.service(name).expect("every service checked is in the index");
            let mut found = Found {
                problems: load_problems,
                ..Default::default()
            };
            check_service(service, &index, &mut found);
            for (cluster, path) in &service.unsupported {
                let ty = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.split_once('-'))
                    .map_or("", |(t, _)| t);
                found.warnings.push(Problem::new(path, format!("file type not supported: {ty} instances (cluster {cluster}) are neither checked nor run here, and setup-service --all leaves the apps of {} alone", service.name)));
            }
            for path in &service.symlinks {
                let target = std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
                found.notes.push(Problem::new(path, format!("a symbolic link to {target}: not checked itself, as PaaSTA does not (its instances are those of the file it names)")));
            }
            found
        })
        .collect();
    for found in checked {
        for (kind, list) in [(0, found.problems), (1, found.warnings), (2, found.notes)] {
            for p in list {
                let entry = by_file.entry(p.file.clone()).or_default();
                match kind {
                    0 => entry.problems.push(p),
                    1 => entry.warnings.push(p),
                    _ => entry.notes.push(p),
                }
            }
        }
    }
    for p in index.cycles(&names) {
        by_file.entry(p.file.clone()).or_default().problems.push(p);
    }
    let files: Vec<FileReport> = by_file
        .into_iter()
        .map(|(file, mut found)| {
            for list in [&mut found.problems, &mut found.warnings, &mut found.notes] {
                list.sort_by_key(|p| p.line.unwrap_or(0));
            }
            FileReport {
                valid: found.problems.is_empty(),
                file,
                problems: found.problems,
                warnings: found.warnings,
                notes: found.notes,
            }
        })
        .collect();
    Ok(Report {
        valid: files.iter().all(|f| f.valid),
        files,
    })
}

/// The files of a service that validation looks at.
fn service_files(s: &Service) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for name in [
        "service.yaml",
        "deploy.yaml",
        "monitoring.yaml",
        "smartstack.yaml",
    ] {
        let p = s.path(name);
        if p.exists() {
            out.push(p);
        }
    }
    out.extend(s.files.iter().map(|f| f.path.clone()));
    out.extend(s.unsupported.iter().map(|(_, p)| p.clone()));
    out
}

fn problem_at(file: &Path, y: &YamlFile, path: &[&str], message: String) -> Problem {
    Problem::new(file, message).line(yaml::locate(&y.text, path))
}

/// Checks the keys of `map` against `table` (plus `also` for extra allowed keys). With
/// `free_form`, a key no table knows is accepted and noted there instead (monitoring.yaml:
/// teams keep their own keys in it).
fn check_keys(
    file: &Path,
    y: &YamlFile,
    at: &[&str],
    map: &Mapping,
    table: &[KeySpec],
    also: Option<&[KeySpec]>,
    what: &str,
) -> Vec<Problem> {
    check_keys_in(file, y, at, map, table, also, what, None)
}

#[allow(clippy::too_many_arguments)]
fn check_keys_in(
    file: &Path,
    y: &YamlFile,
    at: &[&str],
    map: &Mapping,
    table: &[KeySpec],
    also: Option<&[KeySpec]>,
    what: &str,
    mut free_form: Option<&mut Vec<Problem>>,
) -> Vec<Problem> {
    let mut out = Vec::new();
    for (k, v) in map {
        let key = key_text(k);
        let mut path: Vec<&str> = at.to_vec();
        path.push(&key);
        let spec = schema::find(table, &key).or_else(|| {
            also.and_then(|t| {
                InstanceType::ALL
                    .into_iter()
                    .find_map(|ty| schema::lookup(t, &key, ty))
            })
        });
        match spec {
            None if free_form.is_some() => {
                if let Some(notes) = free_form.as_deref_mut() {
                    notes.push(
                        problem_at(
                            file,
                            y,
                            &path,
                            format!("{key}: accepted ({what} is free-form), not used here"),
                        )
                        .key(path.join(".")),
                    );
                }
            }
            None => out.push(
                problem_at(
                    file,
                    y,
                    &path,
                    format!(
                        "unknown key {key} in {what}; known keys: {}",
                        known(table, also)
                    ),
                )
                .key(path.join(".")),
            ),
            Some(spec) => {
                if let Err(expected) = schema::check(spec.kind, v) {
                    out.push(
                        problem_at(
                            file,
                            y,
                            &path,
                            format!("{key} is {}, {expected}", describe(v)),
                        )
                        .key(path.join(".")),
                    );
                }
            }
        }
    }
    out
}

fn known(table: &[KeySpec], also: Option<&[KeySpec]>) -> String {
    let mut names: Vec<&str> = table.iter().map(|s| s.name).collect();
    if also.is_some() {
        names.push("(and any instance key, as a default)");
    }
    names.join(", ")
}

fn check_service(s: &Service, index: &JobIndex, found: &mut Found) {
    let out = &mut found.problems;
    let service_path = s.path("service.yaml");
    out.extend(check_keys(
        &service_path,
        &s.service_yaml,
        &[],
        &s.service_yaml.map,
        SERVICE_KEYS,
        Some(INSTANCE_KEYS),
        "service.yaml",
    ));
    if s.name.starts_with("tmp") {
        out.push(Problem::new(
            &service_path,
            format!(
                "the service name {} starts with \"tmp\", which is reserved for rerun jobs",
                s.name
            ),
        ));
    }
    if let Some(m) = &s.monitoring {
        out.extend(check_keys_in(
            &s.path("monitoring.yaml"),
            m,
            &[],
            &m.map,
            MONITORING_KEYS,
            None,
            "monitoring.yaml",
            Some(&mut found.notes),
        ));
    }
    if let Some(sm) = &s.smartstack {
        let path = s.path("smartstack.yaml");
        for (ns, v) in &sm.map {
            let ns = key_text(ns);
            match v {
                Value::Mapping(m) => out.extend(check_keys(&path, sm, &[&ns], m, SMARTSTACK_KEYS, None, &format!("smartstack namespace {ns}"))),
                other => out.push(
                    problem_at(&path, sm, &[&ns], format!("namespace {ns} is {}, expected a mapping such as {{proxy_port: 20001, mode: http}}", describe(other)))
                        .key(ns.clone()),
                ),
            }
        }
    }
    let deploy_groups = check_deploy(s, out);
    let mut seen: HashMap<(String, String), PathBuf> = HashMap::new();
    for file in s.files.iter().filter(|f| !s.symlinks.contains(&f.path)) {
        // PaaSTA's schemas want at least one instance. (A file that failed to parse is also
        // loaded empty; its text is read again so it is not said to be empty as well.)
        if file.yaml.map.is_empty()
            && std::fs::read_to_string(&file.path).is_ok_and(|t| {
                t.lines()
                    .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            })
        {
            out.push(
                Problem::new(
                    &file.path,
                    "the file holds no instance: an instance file lists at least one (delete it if the service has none here)",
                )
                .line(Some(1)),
            );
        }
        if file.kind == InstanceType::Tron {
            check_tron(s, file, out, &mut found.notes);
        }
        for (name, _) in file.instances() {
            if file.kind == InstanceType::Kubernetes {
                if let Some(Value::Mapping(own)) = file.yaml.map.get(&name) {
                    for k in own.keys().map(key_text) {
                        if schema::unused_kubernetes_key(&k) {
                            found.notes.push(
                                Problem::new(&file.path, format!("{k}: accepted (PaaSTA's kubernetes schema has it), not used here: it does not change how a task runs on these backends"))
                                    .instance_of(&s.name, &name)
                                    .key(k.clone())
                                    .line(file.line_of(&[&name, &k])),
                            );
                        }
                    }
                }
            }
            if file.kind != InstanceType::Tron {
                if let Some(first) =
                    seen.insert((file.cluster.clone(), name.clone()), file.path.clone())
                {
                    out.push(
                        Problem::new(&file.path, format!("instance {name} is also defined in {}: instance names must be unique within cluster {}", first.display(), file.cluster))
                            .instance_of(&s.name, &name)
                            .line(file.line_of(&[&name])),
                    );
                }
            }
            check_instance(s, file, &name, deploy_groups.as_deref(), index, out);
        }
    }
}

/// Checks deploy.yaml; returns its deploy groups when it has a readable pipeline.
fn check_deploy(s: &Service, out: &mut Vec<Problem>) -> Option<Vec<String>> {
    let path = s.path("deploy.yaml");
    let Some(d) = &s.deploy else {
        if !s.files.is_empty() {
            out.push(Problem::new(&path, "deploy.yaml is missing: it must list the pipeline whose steps name the instances' deploy groups"));
        }
        return None;
    };
    out.extend(check_keys(
        &path,
        d,
        &[],
        &d.map,
        DEPLOY_KEYS,
        None,
        "deploy.yaml",
    ));
    let Some(steps) = d.map.get("pipeline").and_then(Value::as_sequence) else {
        if !d.map.contains_key("pipeline") {
            out.push(
                problem_at(
                    &path,
                    d,
                    &[],
                    "deploy.yaml has no pipeline: expected a list of steps such as - step: prod"
                        .into(),
                )
                .key("pipeline"),
            );
        }
        return None;
    };
    for (i, step) in steps.iter().enumerate() {
        let key = format!("pipeline[{i}]");
        match step {
            Value::Mapping(m) => {
                out.extend(check_keys(
                    &path,
                    d,
                    &["pipeline"],
                    m,
                    STEP_KEYS,
                    None,
                    "a pipeline step",
                ));
                if !m.get("step").is_some_and(Value::is_string) {
                    out.push(problem_at(&path, d, &["pipeline"], format!("{key} has no step name: expected step: <deploy group or itest, push-to-registry, …>")).key(key));
                }
            }
            other => out.push(
                problem_at(
                    &path,
                    d,
                    &["pipeline"],
                    format!(
                        "{key} is {}, expected a mapping such as {{step: prod}}",
                        describe(other)
                    ),
                )
                .key(key),
            ),
        }
    }
    s.deploy_groups()
}

fn check_instance(
    s: &Service,
    file: &InstanceFile,
    name: &str,
    deploy_groups: Option<&[String]>,
    index: &JobIndex,
    out: &mut Vec<Problem>,
) {
    let at = |key: Option<&str>, message: String| -> Problem {
        let line = match key {
            Some(k) => file.line_of(&[name, k]).or_else(|| file.line_of(&[name])),
            None => file.line_of(&[name]),
        };
        let p = Problem::new(&file.path, message)
            .instance_of(&s.name, name)
            .line(line);
        match key {
            Some(k) => p.key(k),
            None => p,
        }
    };
    // A tron action's name is checked with its job (check_tron).
    let tron = file.kind == InstanceType::Tron;
    if !tron && !crate::valid_instance_name(name) {
        out.push(at(None, format!("the instance name {name:?} is not valid: expected lowercase letters, digits, '_' and '-', starting and ending with a letter or digit")));
    }
    let own = match file.yaml.map.get(name) {
        Some(Value::Mapping(m)) => m.clone(),
        _ => Mapping::new(),
    };
    for k in own.keys().filter(|_| !tron) {
        let key = key_text(k);
        if schema::lookup(INSTANCE_KEYS, &key, file.kind).is_none()
            && schema::lookup(SERVICE_KEYS, &key, file.kind).is_none()
        {
            let others = schema::other_types_of(&key);
            let hint = if others.is_empty() {
                String::new()
            } else {
                format!(
                    " (it is a key of {} instances)",
                    others
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(" and ")
                )
            };
            out.push(at(
                Some(&key),
                format!(
                    "unknown key {key} for {} {} instance{hint}",
                    if file.kind.as_str().starts_with('a') {
                        "an"
                    } else {
                        "a"
                    },
                    file.kind
                ),
            ));
        }
    }
    // A tron job's monitoring has keys of its own (PaaSTA's tron schema), left to Tron.
    if let Some(Value::Mapping(m)) = own.get("monitoring").filter(|_| !tron) {
        let found = check_keys(
            &file.path,
            &file.yaml,
            &[name, "monitoring"],
            m,
            MONITORING_KEYS,
            None,
            "an instance's monitoring",
        );
        out.extend(found.into_iter().map(|p| p.instance_of(&s.name, name)));
    }
    // The deploy group is checked on its own so that a type error elsewhere does not hide it.
    if let (Some(groups), Ok(group)) = (deploy_groups, s.deploy_group_of(file, name)) {
        if !groups.contains(&group) {
            let key = own.contains_key("deploy_group").then_some("deploy_group");
            let shown = if groups.is_empty() {
                "none".to_string()
            } else {
                groups.join(", ")
            };
            out.push(at(key, format!("deploy_group {group} is not a deploy group of deploy.yaml's pipeline (its deploy groups: {shown})")));
        }
    }
    let config = match s.instance_config(file, name) {
        Ok(c) => c,
        Err(problems) => {
            out.extend(problems);
            return;
        }
    };
    let Some(job) = config.scheduled() else {
        return;
    };
    match (&job.schedule, &job.parents) {
        (Some(_), Some(_)) => out.push(at(Some("parents"), "a job has either a schedule or parents, not both".into())),
        // A tron action without either had a schedule check_tron reported.
        (None, None) if tron => {}
        (None, None) => out.push(at(None, "a job needs a schedule (e.g. R/2019-01-01T03:00:00Z/P1D or 0 3 * * *) or parents (e.g. [service.instance])".into())),
        _ => {}
    }
    if let Some(sched) = &job.schedule {
        if let Err(e) = schedule::parse(sched) {
            out.push(at(Some("schedule"), e.to_string()));
        }
    }
    if let Some(tz) = &job.schedule_time_zone {
        if let Err(e) = schedule::parse_time_zone(tz) {
            out.push(at(Some("schedule_time_zone"), e.to_string()));
        }
    }
    if job.epsilon_set {
        if let Err(e) = schedule::parse_epsilon(&job.epsilon) {
            out.push(at(Some("epsilon"), e.to_string()));
        }
    }
    let me = format!("{}.{}", s.name, name);
    for parent in job.parents.iter().flatten() {
        let Some((psvc, pinst)) = parent.split_once('.') else {
            out.push(at(
                Some("parents"),
                format!("parent {parent:?} is not written service.instance"),
            ));
            continue;
        };
        if *parent == me {
            out.push(at(
                Some("parents"),
                format!("Job {me} cannot depend on itself"),
            ));
        } else if !tron && !index.has_job(psvc, &file.cluster, pinst, s) {
            out.push(at(Some("parents"), format!("Parent job {parent} could not be found (no chronos-{}.yaml instance {pinst} in service {psvc})", file.cluster)));
        }
    }
    if let Some(cmd) = &config.cmd {
        let text = cmd.joined();
        if let Err(e) = timevars::check(&text, config.syntax_for(&text)) {
            out.push(at(
                Some("cmd"),
                format!("the command's time variables do not parse: {e}"),
            ));
        }
    }
}

/// A tron file as written: its jobs' keys and names, schedules, time zones, actions (keys,
/// names, a command each) and what they require (actions of the same job). What the actions
/// become (scheduled jobs) is checked as jobs are; keys accepted and unused go to `notes`.
fn check_tron(s: &Service, file: &InstanceFile, out: &mut Vec<Problem>, notes: &mut Vec<Problem>) {
    let src = file.written();
    let name_ok = |n: &str| {
        let mut chars = n.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.len() <= 255
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    for (jname, job) in &src.map {
        let job_name = key_text(jname);
        if job_name.starts_with('_') {
            continue;
        }
        let at = |path: &[&str], key: Option<&str>, message: String| {
            let mut full = vec![job_name.as_str()];
            full.extend_from_slice(path);
            let p = problem_at(&file.path, src, &full, message).instance_of(&s.name, &job_name);
            match key {
                Some(k) => p.key(k),
                None => p,
            }
        };
        if !name_ok(&job_name) {
            out.push(at(&[], None, format!("the job name {job_name:?} is not valid: expected a letter or '_', then letters, digits, '_' and '-'")));
        }
        let Value::Mapping(job) = job else {
            out.push(at(
                &[],
                None,
                format!(
                    "job {job_name} is {}, expected a mapping with a schedule and actions",
                    describe(job)
                ),
            ));
            continue;
        };
        let found = check_keys(
            &file.path,
            src,
            &[&job_name],
            job,
            schema::TRON_JOB_KEYS,
            None,
            "a tron job",
        );
        out.extend(found.into_iter().map(|p| p.instance_of(&s.name, &job_name)));
        for k in job.keys().map(key_text) {
            if schema::find(schema::TRON_JOB_KEYS, &k).is_some()
                && !schema::TRON_JOB_KEYS_USED.contains(&k.as_str())
            {
                notes.push(at(
                    &[&k],
                    Some(&k),
                    format!("{k}: accepted (PaaSTA's tron schema has it), not used here"),
                ));
            }
        }
        match job.get("schedule") {
            None => out.push(at(&[], Some("schedule"), "a tron job needs a schedule (e.g. \"daily 03:00:00\", \"cron 0 3 * * *\", \"interval 1h\")".into())),
            Some(v) => {
                if let Err(e) = crate::tron::schedule(v) {
                    out.push(at(&["schedule"], Some("schedule"), e));
                }
            }
        }
        if let Some(tz) = job.get("time_zone").and_then(Value::as_str) {
            if let Err(e) = schedule::parse_time_zone(tz) {
                out.push(at(&["time_zone"], Some("time_zone"), e.to_string()));
            }
        }
        let listed = match job.get("actions") {
            None => {
                out.push(at(
                    &[],
                    Some("actions"),
                    "a tron job needs actions, each with a command".into(),
                ));
                continue;
            }
            Some(Value::Mapping(_)) => false,
            Some(Value::Sequence(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if !item.get("name").is_some_and(Value::is_string) {
                        out.push(at(
                            &["actions"],
                            Some(&format!("actions[{i}]")),
                            format!(
                                "actions[{i}] has no name: a list of actions names each (name: …)"
                            ),
                        ));
                    }
                }
                true
            }
            Some(other) => {
                out.push(at(
                    &["actions"],
                    Some("actions"),
                    format!(
                        "actions is {}, expected a mapping of action names to actions",
                        describe(other)
                    ),
                ));
                continue;
            }
        };
        let actions = crate::tron::actions(job);
        let names: Vec<&str> = actions.iter().map(|a| a.name.as_str()).collect();
        for a in &actions {
            let path: Vec<&str> = if listed {
                vec!["actions"]
            } else {
                vec!["actions", &a.name]
            };
            let inst = format!("{job_name}.{}", a.name);
            let mut keyed: Vec<&str> = vec![job_name.as_str()];
            keyed.extend(&path);
            let found = check_keys(
                &file.path,
                src,
                &keyed,
                a.map,
                schema::TRON_ACTION_KEYS,
                None,
                "a tron action",
            );
            out.extend(found.into_iter().map(|p| p.instance_of(&s.name, &inst)));
            if !name_ok(&a.name) {
                out.push(at(&path, None, format!("the action name {:?} is not valid: expected a letter or '_', then letters, digits, '_' and '-'", a.name)).instance_of(&s.name, &inst));
            }
            if !a.map.get("command").is_some_and(Value::is_string) {
                out.push(
                    at(
                        &path,
                        Some("command"),
                        format!(
                            "action {} has no command: each action runs a command",
                            a.name
                        ),
                    )
                    .instance_of(&s.name, &inst),
                );
            }
            for r in crate::tron::requires(a.map) {
                if r == a.name {
                    out.push(
                        at(
                            &path,
                            Some("requires"),
                            format!("action {} cannot require itself", a.name),
                        )
                        .instance_of(&s.name, &inst),
                    );
                } else if !names.contains(&r.as_str()) {
                    out.push(at(&path, Some("requires"), format!("action {} requires {r}, which is not an action of job {job_name} (its actions: {})", a.name, names.join(", "))).instance_of(&s.name, &inst));
                }
            }
            for k in a.map.keys().map(key_text) {
                if schema::find(schema::TRON_ACTION_KEYS, &k).is_some()
                    && !schema::tron_action_key_used(&k)
                {
                    notes.push(
                        at(
                            &path,
                            Some(&k),
                            format!("{k}: accepted (PaaSTA's tron schema has it), not used here"),
                        )
                        .instance_of(&s.name, &inst),
                    );
                }
            }
        }
    }
}

/// Scheduled jobs of the tree, loaded as parents name them, for existence and cycle checks.
struct JobIndex {
    services: HashMap<String, Service>,
}

impl JobIndex {
    /// The services given, and every service their jobs name as parents (read from the tree,
    /// and theirs in turn, so cycles through them are found too).
    fn build(soa_dir: &Path, given: Vec<Service>) -> Self {
        let mut services: HashMap<String, Service> =
            given.into_iter().map(|s| (s.name.clone(), s)).collect();
        let mut missing: BTreeSet<String> = BTreeSet::new();
        let mut absent: BTreeSet<String> = BTreeSet::new();
        let named = |s: &Service| -> Vec<String> {
            s.files
                .iter()
                .filter(|f| f.kind.family() == InstanceType::Chronos)
                .flat_map(|f| f.yaml.map.values())
                .filter_map(|v| v.get("parents").and_then(Value::as_sequence))
                .flatten()
                .filter_map(|p| p.as_str()?.split_once('.').map(|(svc, _)| svc.to_string()))
                .collect()
        };
        for s in services.values() {
            missing.extend(named(s));
        }
        while let Some(name) = missing.pop_first() {
            if services.contains_key(&name) || absent.contains(&name) {
                continue;
            }
            match Service::load_tolerant(soa_dir, &name) {
                Ok((s, _)) => {
                    missing.extend(named(&s));
                    services.insert(name, s);
                }
                Err(_) => {
                    absent.insert(name);
                }
            }
        }
        JobIndex { services }
    }

    fn service(&self, name: &str) -> Option<&Service> {
        self.services.get(name)
    }

    fn has_job(&self, service: &str, cluster: &str, instance: &str, current: &Service) -> bool {
        let svc = if service == current.name {
            Some(current)
        } else {
            self.service(service)
        };
        svc.is_some_and(|s| {
            s.find_instance(cluster, instance, Some(InstanceType::Chronos))
                .is_some()
        })
    }

    /// The parents of a job as (service, instance), read from its file.
    fn parents(&self, service: &str, cluster: &str, instance: &str) -> Vec<(String, String)> {
        let Some(s) = self.service(service) else {
            return Vec::new();
        };
        let Some(file) = s.find_instance(cluster, instance, Some(InstanceType::Chronos)) else {
            return Vec::new();
        };
        let Some(own) = file.yaml.map.get(instance) else {
            return Vec::new();
        };
        own.get("parents")
            .and_then(Value::as_sequence)
            .map(|ps| {
                ps.iter()
                    .filter_map(Value::as_str)
                    .filter_map(|p| p.split_once('.'))
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Each dependency cycle reachable from the jobs of `services`, reported once, at the job of
    /// the cycle that sorts first.
    fn cycles(&self, services: &[String]) -> Vec<Problem> {
        let mut starts = Vec::new();
        for name in services {
            if let Some(s) = self.service(name) {
                for f in s
                    .files
                    .iter()
                    .filter(|f| f.kind.family() == InstanceType::Chronos)
                {
                    for (inst, _) in f.instances() {
                        starts.push((f.cluster.clone(), name.clone(), inst));
                    }
                }
            }
        }
        let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
        let mut problems = Vec::new();
        let mut done: BTreeSet<(String, String, String)> = BTreeSet::new();
        for (cluster, svc, inst) in starts {
            let mut stack: Vec<(String, String)> = Vec::new();
            self.dfs(
                &cluster,
                (svc, inst),
                &mut stack,
                &mut done,
                &mut |cycle: Vec<(String, String)>| {
                    let mut names: Vec<String> =
                        cycle.iter().map(|(s, i)| format!("{s}.{i}")).collect();
                    let min = names
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, n)| (*n).clone())
                        .map(|(i, _)| i)
                        .unwrap_or(0);
                    names.rotate_left(min);
                    if reported.insert(names.clone()) {
                        problems.push((cluster.clone(), names));
                    }
                },
            );
        }
        problems
            .into_iter()
            .filter_map(|(cluster, names)| {
                let (svc, inst) = names[0].split_once('.')?;
                let s = self.service(svc)?;
                let file = s.find_instance(&cluster, inst, Some(InstanceType::Chronos))?;
                let mut chain = names.clone();
                chain.push(names[0].clone());
                Some(
                    Problem::new(&file.path, format!("the jobs' parents form a cycle: {} (a job cannot run until it has run)", chain.join(" -> ")))
                        .instance(&names[0])
                        .key("parents")
                        .line(file.line_of(&[inst, "parents"])),
                )
            })
            .collect()
    }

    fn dfs(
        &self,
        cluster: &str,
        job: (String, String),
        stack: &mut Vec<(String, String)>,
        done: &mut BTreeSet<(String, String, String)>,
        found: &mut dyn FnMut(Vec<(String, String)>),
    ) {
        if let Some(pos) = stack.iter().position(|j| *j == job) {
            let cycle = stack[pos..].to_vec();
            // A job depending on itself is reported by its own check.
            if cycle.len() > 1 {
                found(cycle);
            }
            return;
        }
        let key = (cluster.to_string(), job.0.clone(), job.1.clone());
        if done.contains(&key) {
            return;
        }
        stack.push(job.clone());
        for parent in self.parents(&job.0, cluster, &job.1) {
            self.dfs(cluster, parent, stack, done, found);
        }
        stack.pop();
        done.insert(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    const BASE: &[(&str, &str)] = &[
        ("svc/service.yaml", "description: d\ngit_url: /tmp/x\n"),
        (
            "svc/deploy.yaml",
            "pipeline:\n  - step: itest\n  - step: prod\n",
        ),
    ];

    /// The report on BASE plus `extra`.
    fn report(extra: &[(&str, &str)]) -> Report {
        let mut files = BASE.to_vec();
        files.extend_from_slice(extra);
        let dir = tree(&files);
        validate(dir.path(), None).unwrap()
    }

    /// Each problem of `list` in every file, as it prints.
    fn lines(report: &Report, list: fn(&FileReport) -> &Vec<Problem>) -> Vec<String> {
        report
            .files
            .iter()
            .flat_map(|f| list(f).iter().map(|p| p.to_string()))
            .collect()
    }

    fn messages(extra: &[(&str, &str)]) -> Vec<String> {
        lines(&report(extra), |f| &f.problems)
    }

    #[test]
    fn a_good_tree_is_valid() {
        let m = messages(&[
            ("svc/marathon-prod.yaml", "main:\n  cpus: 0.5\n  deploy_group: prod\n_tmpl: &t\n  mem: 100\n"),
            ("svc/chronos-prod.yaml", "nightly:\n  cmd: run {shortdate-1}\n  schedule: R/2019-01-01T00:00:00Z/P1D\n  deploy_group: prod\nchild:\n  cmd: c\n  parents: [svc.nightly]\n  deploy_group: prod\n"),
        ]);
        assert!(m.is_empty(), "{m:?}");
    }

    #[test]
    fn each_problem_names_file_line_instance_and_key() {
        let m = messages(&[(
            "svc/marathon-prod.yaml",
            "main:\n  deploy_group: prod\n  cpus: lots\n  colour: blue\n  schedule: x\n  monitoring:\n    team: t\n    paeg: true\nBad_Name:\n  deploy_group: nope\n",
        )]);
        let all = m.join("\n");
        assert!(all.contains("marathon-prod.yaml:3: instance svc.main: key cpus: cpus is the string \"lots\", expected a number"), "{all}");
        assert!(all.contains("marathon-prod.yaml:4: instance svc.main: key colour: unknown key colour for a marathon instance"), "{all}");
        assert!(all.contains("key schedule: unknown key schedule for a marathon instance (it is a key of chronos instances)"), "{all}");
        assert!(
            all.contains("instance svc.Bad_Name: the instance name \"Bad_Name\" is not valid"),
            "{all}"
        );
        assert!(all.contains("marathon-prod.yaml:8: instance svc.main: key main.monitoring.paeg: unknown key paeg in an instance's monitoring"), "{all}");
        assert!(all.contains("marathon-prod.yaml:10: instance svc.Bad_Name: key deploy_group: deploy_group nope is not a deploy group of deploy.yaml's pipeline (its deploy groups: prod)"), "{all}");
    }

    /// Everything validation found, by kind: (problems, warnings, notes).
    fn found(extra: &[(&str, &str)]) -> (String, String, String) {
        let r = report(extra);
        (
            lines(&r, |f| &f.problems).join("\n"),
            lines(&r, |f| &f.warnings).join("\n"),
            lines(&r, |f| &f.notes).join("\n"),
        )
    }

    #[test]
    fn kubernetes_files_take_marathon_keys_and_note_the_kubernetes_only_ones() {
        let (problems, _, notes) = found(&[(
            "svc/kubernetes-prod.yaml",
            "main:\n  cpus: 0.5\n  instances: 3\n  deploy_group: prod\n  namespace: paasta\n  prometheus_port: 8888\n  node_selectors: {pool: default}\n",
        )]);
        assert!(problems.is_empty(), "{problems}");
        assert!(notes.contains("instance svc.main: key namespace: namespace: accepted (PaaSTA's kubernetes schema has it), not used here"), "{notes}");
        assert!(notes.contains("key prometheus_port"), "{notes}");
        let (problems, _, _) = found(&[(
            "svc/kubernetes-prod.yaml",
            "main:\n  deploy_group: prod\n  colour: blue\n  prometheus_port: high\n",
        )]);
        assert!(
            problems.contains("unknown key colour for a kubernetes instance"),
            "{problems}"
        );
        assert!(
            problems.contains("key prometheus_port: prometheus_port is the string \"high\""),
            "{problems}"
        );
    }

    #[test]
    fn tron_files_are_checked_against_the_tron_schema_and_as_jobs() {
        let good = "nightly:\n  schedule: daily 03:00:00\n  time_zone: America/New_York\n  deploy_group: prod\n  node: paasta\n  actions:\n    a:\n      command: run a {shortdate}\n      mem: 64\n    b:\n      command: run b\n      requires: [a]\n      executor: paasta\n    c: {command: run c, requires: [a]}\n\
                    hourly:\n  schedule: {type: interval, value: 1h}\n  actions:\n    - {name: only, command: x, deploy_group: prod}\n";
        let (problems, _, notes) = found(&[("svc/tron-prod.yaml", good)]);
        assert!(problems.is_empty(), "{problems}");
        assert!(notes.contains("instance svc.nightly: key node: node: accepted (PaaSTA's tron schema has it), not used here"), "{notes}");
        assert!(
            notes.contains("instance svc.nightly.b: key executor"),
            "{notes}"
        );

        let bad = "nightly:\n  schedule: weekly\n  colour: red\n  actions:\n    a:\n      mem: lots\n    b:\n      command: run b\n      requires: [a, z]\n    c: {command: c, requires: [d]}\n    d: {command: d, requires: [c]}\n\
                   nothing:\n  schedule: daily\n9bad:\n  schedule: daily\n  actions: {a: {command: x}}\n";
        let (problems, _, _) = found(&[("svc/tron-prod.yaml", bad)]);
        for want in [
            "tron-prod.yaml:2: instance svc.nightly: key schedule: schedule \"weekly\": expected",
            "tron-prod.yaml:3: instance svc.nightly: key nightly.colour: unknown key colour in a tron job",
            "instance svc.nightly.a: key nightly.actions.a.mem: mem is the string \"lots\"",
            "instance svc.nightly.a: key command: action a has no command",
            "instance svc.nightly.b: key requires: action b requires z, which is not an action of job nightly (its actions: a, b, c, d)",
            "instance svc.nothing: key actions: a tron job needs actions",
            "instance svc.9bad: the job name \"9bad\" is not valid",
            "the jobs' parents form a cycle: svc.nightly.c -> svc.nightly.d -> svc.nightly.c",
        ] {
            assert!(problems.contains(want), "missing {want:?} in\n{problems}");
        }
    }

    #[test]
    fn other_file_types_are_a_warning_and_monitoring_is_free_form() {
        let (problems, warnings, notes) = found(&[
            ("svc/eks-prod.yaml", "main:\n  cpus: 1\n"),
            (
                "svc/monitoring.yaml",
                "team: ops\nsla_owner: someone\npage: true\n",
            ),
        ]);
        assert!(problems.is_empty(), "{problems}");
        assert!(warnings.contains("eks-prod.yaml: file type not supported: eks instances (cluster prod) are neither checked nor run here, and setup-service --all leaves the apps of svc alone"), "{warnings}");
        assert!(
            notes.contains("key sla_owner: sla_owner: accepted (monitoring.yaml is free-form)"),
            "{notes}"
        );
        let (problems, _, _) = found(&[("svc/monitoring.yaml", "team: [a, b]\n")]);
        assert!(
            problems.contains("key team: team is a list, expected a string"),
            "{problems}"
        );
    }

    #[test]
    fn deploy_group_templates_are_expanded_and_links_are_not_checked_twice() {
        let dir = tree(&[
            BASE[0],
            ("svc/deploy.yaml", "pipeline:\n  - step: prod.all\n"),
            (
                "svc/marathon-prod.yaml",
                "main:\n  deploy_group: '{cluster}.all'\n",
            ),
            (
                "svc/marathon-dev.yaml",
                "main:\n  deploy_group: '{cluster}.all'\n",
            ),
        ]);
        std::os::unix::fs::symlink(
            "marathon-prod.yaml",
            dir.path().join("svc/marathon-canary.yaml"),
        )
        .unwrap();
        let report = validate(dir.path(), None).unwrap();
        let problems: Vec<String> = report
            .files
            .iter()
            .flat_map(|f| f.problems.iter().map(|p| p.to_string()))
            .collect();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("marathon-dev.yaml:2: instance svc.main: key deploy_group: deploy_group dev.all is not a deploy group"), "{problems:?}");
        let link = report
            .files
            .iter()
            .find(|f| f.file.ends_with("marathon-canary.yaml"))
            .unwrap();
        assert!(link.valid);
        assert!(
            link.notes[0]
                .message
                .contains("a symbolic link to marathon-prod.yaml"),
            "{:?}",
            link.notes
        );
        // The link's instances are still the canary cluster's.
        let s = Service::load(dir.path(), "svc").unwrap();
        let f = s.find_instance("canary", "main", None).unwrap();
        assert_eq!(
            s.instance_config(f, "main").unwrap().deploy_group,
            "canary.all"
        );
    }

    /// A value of the shape `kind` asks for.
    fn sample(kind: schema::Kind) -> Value {
        use schema::Kind as K;
        let y = |t: &str| serde_yaml::from_str::<Value>(t).unwrap();
        match kind {
            K::Number { min, .. } => Value::from(if min > 0.0 { min + 1.0 } else { 1.0 }),
            K::Integer { min, max } => Value::from(1i64.clamp(min, max)),
            K::Bool => Value::Bool(true),
            K::Str | K::Cmd | K::Any => Value::from("x"),
            K::StrList | K::OptStrList => y("[x]"),
            K::StrMap => y("{A: x}"),
            K::Volumes => y("[{containerPath: /a, hostPath: /b, mode: RO}]"),
            K::Constraints => y("[[region, LIKE, west]]"),
            K::Mapping => y("{}"),
            K::List => y("[]"),
            K::OneOf(options) => Value::from(options[0]),
            K::AlertDuration => Value::from("2m"),
            K::OrNull(_) => Value::Null,
        }
    }

    /// Every key of PaaSTA's kubernetes-only and tron tables, each with a value of its type, is
    /// accepted (the tables are the schema facts; a key added there is tested here).
    #[test]
    fn every_kubernetes_and_tron_key_is_accepted() {
        let mut k8s = Mapping::new();
        k8s.insert("deploy_group".into(), "prod".into());
        for spec in INSTANCE_KEYS
            .iter()
            .filter(|s| schema::unused_kubernetes_key(s.name))
        {
            k8s.insert(spec.name.into(), sample(spec.kind));
        }
        let mut action = Mapping::new();
        for spec in schema::TRON_ACTION_KEYS {
            let v = match spec.name {
                "requires" => Value::Sequence(vec![]),
                "deploy_group" => "prod".into(),
                "name" => "first".into(),
                _ => sample(spec.kind),
            };
            action.insert(spec.name.into(), v);
        }
        let mut job = Mapping::new();
        for spec in schema::TRON_JOB_KEYS {
            let v = match spec.name {
                "schedule" => "daily 03:00:00".into(),
                "time_zone" => "UTC".into(),
                "deploy_group" => "prod".into(),
                "actions" => {
                    let mut actions = Mapping::new();
                    actions.insert("first".into(), Value::Mapping(action.clone()));
                    Value::Mapping(actions)
                }
                _ => sample(spec.kind),
            };
            job.insert(spec.name.into(), v);
        }
        let mut k8s_file = Mapping::new();
        k8s_file.insert("main".into(), Value::Mapping(k8s));
        let mut tron_file = Mapping::new();
        tron_file.insert("job".into(), Value::Mapping(job));
        let (problems, _, notes) = found(&[
            (
                "svc/kubernetes-prod.yaml",
                &serde_yaml::to_string(&k8s_file).unwrap(),
            ),
            (
                "svc/tron-prod.yaml",
                &serde_yaml::to_string(&tron_file).unwrap(),
            ),
        ]);
        assert!(problems.is_empty(), "{problems}");
        assert!(
            notes.contains("kubernetes-prod.yaml") && notes.contains("tron-prod.yaml"),
            "{notes}"
        );
    }

    #[test]
    fn job_rules() {
        let m = messages(&[(
            "svc/chronos-prod.yaml",
            "a:\n  cmd: x\n  deploy_group: prod\nb:\n  cmd: x\n  schedule: garbage\n  parents: [svc.a]\n  deploy_group: prod\nc:\n  cmd: x\n  parents: [svc.c, other.job, nodot]\n  deploy_group: prod\nd:\n  cmd: \"x {nope}\"\n  schedule: R/2019-01-01T00:00:00Z/PT30S\n  epsilon: soon\n  deploy_group: prod\n",
        )]);
        let all = m.join("\n");
        for want in [
            "instance svc.a: a job needs a schedule",
            "instance svc.b: key parents: a job has either a schedule or parents, not both",
            "instance svc.b: key schedule: The specified schedule \"garbage\" is neither a valid cron schedule nor a valid ISO 8601 schedule",
            "instance svc.c: key parents: Job svc.c cannot depend on itself",
            "instance svc.c: key parents: Parent job other.job could not be found",
            "instance svc.c: key parents: parent \"nodot\" is not written service.instance",
            "instance svc.d: key schedule: Unsupported interval \"PT30S\"",
            "instance svc.d: key epsilon: The specified epsilon value \"soon\" does not conform to the ISO8601 format.",
            "instance svc.d: key cmd: the command's time variables do not parse: unknown variable nope",
        ] {
            assert!(all.contains(want), "missing {want:?} in\n{all}");
        }
    }

    #[test]
    fn cycles_across_services_and_duplicates() {
        let m = messages(&[
            ("svc/chronos-prod.yaml", "a:\n  cmd: x\n  parents: [other.b]\n  deploy_group: prod\nmain:\n  cmd: x\n  schedule: 0 3 * * *\n  deploy_group: prod\n"),
            ("svc/marathon-prod.yaml", "main:\n  deploy_group: prod\n"),
            ("other/service.yaml", "git_url: /tmp/y\n"),
            ("other/deploy.yaml", "pipeline:\n  - step: prod\n"),
            ("other/chronos-prod.yaml", "b:\n  cmd: x\n  parents: [svc.a]\n  deploy_group: prod\n"),
        ]);
        let all = m.join("\n");
        assert_eq!(all.matches("form a cycle").count(), 1, "{all}");
        assert!(all.contains("other.b -> svc.a -> other.b"), "{all}");
        assert!(
            all.contains("instance svc.main: instance main is also defined in"),
            "{all}"
        );
    }

    #[test]
    fn broken_yaml_is_reported_and_the_rest_still_checked() {
        let m = messages(&[
            ("svc/marathon-prod.yaml", "main: [\n"),
            ("svc/adhoc-prod.yaml", "batch:\n  deploy_group: nope\n"),
        ]);
        let all = m.join("\n");
        assert!(
            all.contains("marathon-prod.yaml:2: not valid YAML"),
            "{all}"
        );
        assert!(
            all.contains("adhoc-prod.yaml:2: instance svc.batch: key deploy_group"),
            "{all}"
        );
    }
}
