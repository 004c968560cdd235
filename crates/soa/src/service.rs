//! One service directory of a yelpsoa-configs tree: service.yaml, deploy.yaml, monitoring.yaml,
//! smartstack.yaml and the `<type>-<cluster>.yaml` instance files, and the typed instance
//! configs made from them (instance keys deep-merged over service.yaml, PaaSTA's defaults).

use crate::docker_args::DockerOptions;
use crate::error::{Error, Problem, Result};
use crate::instance::{
    BounceMethod, DrainConfig, HealthCheck, HealthcheckMode, KeyError, KindConfig, LongRunning,
    Net, Placement, Scheduled, Whitelist, DEFAULT_CONTAINER_PORT,
};
use crate::schema::{self, InstanceType, INSTANCE_KEYS};
use crate::timevars::Syntax;
use crate::yaml::{self, describe, key_text, YamlFile};
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

pub const DEFAULT_SOA_DIR: &str = "/nail/etc/services";

/// Where PaaSTA looks for a service's repository when service.yaml has no git_url.
pub const DEFAULT_GIT_URL_TEMPLATE: &str = "git@git.yelpcorp.com:services/{service}";

/// deploy.yaml steps that are not deploy groups.
const NON_DEPLOY_STEPS: &[&str] = &[
    "itest",
    "itest-and-push-to-registry",
    "security-check",
    "performance-check",
    "push-to-registry",
];

/// Whether a pipeline step names a deploy group.
pub fn is_deploy_step(step: &str) -> bool {
    !NON_DEPLOY_STEPS.contains(&step) && !step.starts_with("command-")
}

/// The names of the services of a soa-configs tree: its directories, sorted.
pub fn list_services(soa_dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(soa_dir).map_err(|e| Error::io(soa_dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(soa_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.path().is_dir() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// One `<type>-<cluster>.yaml` file.
#[derive(Debug, Clone)]
pub struct InstanceFile {
    pub kind: InstanceType,
    pub cluster: String,
    pub path: PathBuf,
    /// The instances: the file as written, or for a tron file its actions as scheduled jobs
    /// (crate::tron), the file as written being in `source`.
    pub yaml: YamlFile,
    pub source: Option<YamlFile>,
}

impl InstanceFile {
    /// The instances of the file in file order; keys starting with `_` are templates.
    pub fn instances(&self) -> impl Iterator<Item = (String, &Value)> {
        self.yaml
            .map
            .iter()
            .map(|(k, v)| (key_text(k), v))
            .filter(|(k, _)| !k.starts_with('_'))
    }

    pub fn line_of(&self, path: &[&str]) -> Option<usize> {
        match (&self.source, path.split_first()) {
            // `job.action` is actions.action of job.
            (Some(source), Some((first, rest))) => {
                let (job, action) = first.split_once('.').unwrap_or((first, ""));
                let mut p = vec![job];
                if !action.is_empty() {
                    p.extend(["actions", action]);
                }
                p.extend(rest);
                yaml::locate(&source.text, &p)
                    .or_else(|| yaml::locate(&source.text, &p[..p.len().min(3)]))
                    .or_else(|| yaml::locate(&source.text, &[job]))
            }
            _ => yaml::locate(&self.yaml.text, path),
        }
    }

    /// The file as written (a tron file's jobs, not its actions as jobs).
    pub fn written(&self) -> &YamlFile {
        self.source.as_ref().unwrap_or(&self.yaml)
    }
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub dir: PathBuf,
    pub service_yaml: YamlFile,
    pub deploy: Option<YamlFile>,
    pub monitoring: Option<YamlFile>,
    pub smartstack: Option<YamlFile>,
    /// Sorted by cluster, then marathon, chronos, adhoc, kubernetes, tron.
    pub files: Vec<InstanceFile>,
    /// `<type>-<cluster>.yaml` files of types not run here (eks-, flink-, …): said, and the
    /// service's apps are never deleted because of what such files might hold.
    pub unsupported: Vec<(String, PathBuf)>,
    /// Per-cluster files that are symbolic links (one cluster sharing another's file). Loaded
    /// like the others; validation skips them, as PaaSTA's does, since their target is checked.
    pub symlinks: Vec<PathBuf>,
}

/// A deploy group as written, with PaaSTA's `{cluster}`, `{instance}` and `{service}` filled
/// in (`deploy_group: '{cluster}.all'`).
pub fn expand_deploy_group(group: &str, service: &str, cluster: &str, instance: &str) -> String {
    group
        .replace("{cluster}", cluster)
        .replace("{instance}", instance)
        .replace("{service}", service)
}

/// A file of a service, if it is there. One that is there but cannot be read (a symlink loop,
/// no permission) is a problem of that file, so the rest of the tree is still checked.
fn read_optional(path: &Path) -> Result<Option<YamlFile>> {
    let unreadable = |e: std::io::Error| Problem::new(path, format!("cannot be read: {e}")).into();
    // Read straight away (a master reads thousands of these a minute): absent is NotFound.
    match yaml::read_mapping(path) {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(Error::Io { source, .. }) => Err(unreadable(source)),
        r => r.map(Some),
    }
}

impl Service {
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Reads every file of `<soa_dir>/<name>`. A file that is not valid YAML is an error naming it.
    pub fn load(soa_dir: &Path, name: &str) -> Result<Service> {
        let (service, mut problems) = Service::load_tolerant(soa_dir, name)?;
        match problems.len() {
            0 => Ok(service),
            1 => Err(problems.remove(0).into()),
            _ => Err(Error::InvalidMany(problems)),
        }
    }

    /// Reads what can be read of `<soa_dir>/<name>`: a file that does not parse is reported and
    /// left out (as empty), so that a validator still checks the rest.
    pub fn load_tolerant(soa_dir: &Path, name: &str) -> Result<(Service, Vec<Problem>)> {
        let dir = soa_dir.join(name);
        if !dir.is_dir() {
            return Err(Problem::new(
                &dir,
                format!(
                    "no such service: {name} has no directory in {}",
                    soa_dir.display()
                ),
            )
            .into());
        }
        let mut problems = Vec::new();
        let mut read = |path: &Path| -> Result<Option<YamlFile>> {
            match read_optional(path) {
                Ok(f) => Ok(f),
                Err(Error::Invalid(p)) => {
                    problems.push(p);
                    Ok(Some(YamlFile {
                        text: String::new(),
                        map: Mapping::new(),
                    }))
                }
                Err(e) => Err(e),
            }
        };
        let service_yaml = read(&dir.join("service.yaml"))?.unwrap_or(YamlFile {
            text: String::new(),
            map: Mapping::new(),
        });
        let deploy = read(&dir.join("deploy.yaml"))?;
        let monitoring = read(&dir.join("monitoring.yaml"))?;
        let smartstack = read(&dir.join("smartstack.yaml"))?;
        let mut files = Vec::new();
        let mut unsupported = Vec::new();
        let mut symlinks = Vec::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = file_name.strip_suffix(".yaml") else {
                continue;
            };
            let Some((ty, cluster)) = stem.split_once('-') else {
                continue;
            };
            if cluster.is_empty() {
                continue;
            }
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                symlinks.push(path.clone());
            }
            let Some(kind) = InstanceType::parse(ty) else {
                unsupported.push((cluster.to_string(), path));
                continue;
            };
            if let Some(yaml) = read(&path)? {
                let (yaml, source) = if kind == InstanceType::Tron {
                    let jobs = YamlFile {
                        text: yaml.text.clone(),
                        map: crate::tron::instances(name, &yaml.map),
                    };
                    (jobs, Some(yaml))
                } else {
                    (yaml, None)
                };
                files.push(InstanceFile {
                    kind,
                    cluster: cluster.to_string(),
                    path,
                    yaml,
                    source,
                });
            }
        }
        files.sort_by(|a, b| (&a.cluster, a.kind).cmp(&(&b.cluster, b.kind)));
        unsupported.sort();
        symlinks.sort();
        Ok((
            Service {
                name: name.to_string(),
                dir,
                service_yaml,
                deploy,
                monitoring,
                smartstack,
                files,
                unsupported,
                symlinks,
            },
            problems,
        ))
    }

    /// service.yaml's git_url; without one, `template` (the system config's
    /// `git_url_template`, PaaSTA's default unless set) with `{service}` filled in.
    pub fn git_url(&self, template: &str) -> Result<String, Problem> {
        match self.service_yaml.map.get("git_url") {
            Some(Value::String(url)) if !url.is_empty() => Ok(url.clone()),
            Some(other) => Err(Problem::new(
                &self.path("service.yaml"),
                format!(
                    "git_url is {}, expected the URL or path of the service's git repository",
                    describe(other)
                ),
            )
            .key("git_url")
            .line(yaml::locate(&self.service_yaml.text, &["git_url"]))),
            None => Ok(template.replace("{service}", &self.name)),
        }
    }

    pub fn description(&self) -> Option<&str> {
        self.service_yaml
            .map
            .get("description")
            .and_then(Value::as_str)
    }

    /// The deploy groups of deploy.yaml's pipeline, in pipeline order (None without deploy.yaml).
    pub fn deploy_groups(&self) -> Option<Vec<String>> {
        let deploy = self.deploy.as_ref()?;
        let steps = deploy.map.get("pipeline").and_then(Value::as_sequence)?;
        Some(
            steps
                .iter()
                .filter_map(|s| s.get("step").and_then(Value::as_str))
                .filter(|s| is_deploy_step(s))
                .map(str::to_string)
                .collect(),
        )
    }

    /// The instance files of the given clusters (all clusters when `clusters` is None).
    pub fn files_in<'a>(
        &'a self,
        clusters: Option<&'a [String]>,
    ) -> impl Iterator<Item = &'a InstanceFile> + 'a {
        self.files
            .iter()
            .filter(move |f| clusters.is_none_or(|cs| cs.contains(&f.cluster)))
    }

    /// An instance's deploy group without building its whole config (what generate-deployments
    /// needs): the instance's `deploy_group`, else service.yaml's, else `<cluster>.<instance>`.
    pub fn deploy_group_of(&self, file: &InstanceFile, instance: &str) -> Result<String, Problem> {
        let own = file
            .yaml
            .map
            .get(instance)
            .and_then(|v| v.get("deploy_group"));
        let (value, from_service) = match own {
            Some(v) => (Some(v), false),
            None => (self.service_yaml.map.get("deploy_group"), true),
        };
        match value {
            None => Ok(format!("{}.{}", file.cluster, instance)),
            Some(Value::String(g)) => {
                Ok(expand_deploy_group(g, &self.name, &file.cluster, instance))
            }
            Some(other) => {
                let message = format!(
                    "deploy_group is {}, expected a string naming a deploy group",
                    describe(other)
                );
                Err(if from_service {
                    Problem::new(&self.path("service.yaml"), message)
                        .line(yaml::locate(&self.service_yaml.text, &["deploy_group"]))
                } else {
                    Problem::new(&file.path, message)
                        .instance_of(&self.name, instance)
                        .line(file.line_of(&[instance, "deploy_group"]))
                }
                .key("deploy_group"))
            }
        }
    }

    /// The typed config of one instance of one file.
    pub fn instance_config(
        &self,
        file: &InstanceFile,
        instance: &str,
    ) -> Result<InstanceConfig, Vec<Problem>> {
        let own = match file.yaml.map.get(instance) {
            Some(Value::Mapping(m)) => m,
            Some(Value::Null) => &Mapping::new(),
            Some(other) => {
                return Err(vec![Problem::new(
                    &file.path,
                    format!(
                        "the instance holds {}, expected a mapping of keys to values",
                        describe(other)
                    ),
                )
                .instance_of(&self.name, instance)
                .line(file.line_of(&[instance]))]);
            }
            None => {
                return Err(vec![Problem::new(
                    &file.path,
                    format!("no instance {instance} in this file"),
                )
                .instance_of(&self.name, instance)]);
            }
        };
        InstanceConfig::build(self, file, instance, own)
    }

    /// The instance local-run opens when none is named: adhoc `interactive` of the cluster if the
    /// service defines one, else an empty one; either way with the interactive defaults (cpus 4,
    /// mem 10240, disk 1024) under whatever it sets.
    pub fn interactive_config(&self, cluster: &str) -> Result<InstanceConfig, Vec<Problem>> {
        let mut own: Mapping =
            serde_yaml::from_str("cpus: 4\nmem: 10240\ndisk: 1024").expect("valid YAML");
        let file = match self.find_instance(cluster, "interactive", Some(InstanceType::Adhoc)) {
            Some(f) => {
                if let Some(Value::Mapping(m)) = f.yaml.map.get("interactive") {
                    own = yaml::deep_merge(&own, m);
                }
                f.clone()
            }
            None => InstanceFile {
                kind: InstanceType::Adhoc,
                cluster: cluster.to_string(),
                path: self.dir.join(format!("adhoc-{cluster}.yaml")),
                yaml: YamlFile {
                    text: String::new(),
                    map: Mapping::new(),
                },
                source: None,
            },
        };
        InstanceConfig::build(self, &file, "interactive", &own)
    }

    /// The registry images come from: service.yaml's `docker_registry`, else the system config's.
    /// An empty one is none: the image is local (docs/paasta.md §9).
    pub fn docker_registry<'a>(&'a self, system: &'a crate::SystemConfig) -> Option<&'a str> {
        self.service_yaml
            .map
            .get("docker_registry")
            .and_then(Value::as_str)
            .or_else(|| system.docker_registry())
            .filter(|r| !r.trim().is_empty())
    }

    /// The full image reference of a deployment's `docker_image`: the registry prepended.
    pub fn image_ref(&self, system: &crate::SystemConfig, docker_image: &str) -> String {
        match self.docker_registry(system) {
            Some(registry) => format!("{registry}/{docker_image}"),
            None => docker_image.to_string(),
        }
    }

    /// Every instance of the given clusters, in file order; problems are collected, not fatal.
    pub fn instance_configs(
        &self,
        clusters: Option<&[String]>,
    ) -> (Vec<InstanceConfig>, Vec<Problem>) {
        let mut configs = Vec::new();
        let mut problems = Vec::new();
        for file in self.files_in(clusters) {
            for (name, _) in file.instances() {
                match self.instance_config(file, &name) {
                    Ok(c) => configs.push(c),
                    Err(mut p) => problems.append(&mut p),
                }
            }
        }
        (configs, problems)
    }

    /// Finds `<kind>-<cluster>.yaml`'s `instance` (any kind when None).
    pub fn find_instance(
        &self,
        cluster: &str,
        instance: &str,
        kind: Option<InstanceType>,
    ) -> Option<&InstanceFile> {
        self.files.iter().find(|f| {
            f.cluster == cluster
                && kind.is_none_or(|k| f.kind.counts_as(k))
                && f.instances().any(|(n, _)| n == instance)
        })
    }
}

/// A command: `cmd` as a string (run by a shell) or a list (argv).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Cmd {
    Shell(String),
    Argv(Vec<String>),
}

impl Cmd {
    /// The command as one string: a list is joined with spaces, as PaaSTA does for Marathon.
    pub fn joined(&self) -> String {
        match self {
            Cmd::Shell(s) => s.clone(),
            Cmd::Argv(v) => v.join(" "),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Volume {
    #[serde(rename = "containerPath")]
    pub container_path: String,
    #[serde(rename = "hostPath")]
    pub host_path: String,
    pub mode: String,
}

/// An instance's config, typed, with PaaSTA's defaults applied (docs/paasta.md §1, §3).
#[derive(Debug, Clone)]
pub struct InstanceConfig {
    pub service: String,
    pub cluster: String,
    pub instance: String,
    pub file: PathBuf,
    /// The type of the file it came from (`kind()` is how it runs: kubernetes instances as
    /// marathon ones, tron actions as chronos jobs).
    pub file_kind: InstanceType,
    pub deploy_group: String,
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    pub cmd: Option<Cmd>,
    pub args: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub extra_volumes: Vec<Volume>,
    pub net: Net,
    /// The port the service listens on inside its container.
    pub container_port: u16,
    pub cfs_period_us: u64,
    pub cpu_burst_add: f64,
    pub cap_add: Vec<String>,
    /// `docker run` long options without their dashes, in file order (hashed and printed as
    /// written).
    pub extra_docker_args: Vec<(String, String)>,
    /// The same options as the Engine API takes them.
    pub docker_options: DockerOptions,
    /// The instance's own `monitoring` mapping (free-form: Sensu routing keys), read by
    /// `soa::sensu` over monitoring.yaml's.
    pub monitoring: Mapping,
    /// The team to page: the instance's `monitoring.team`, else monitoring.yaml's.
    pub team: Option<String>,
    pub time_variable_syntax: Option<Syntax>,
    pub placement: Placement,
    pub kind_config: KindConfig,
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| s.iter().map(scalar_text).collect())
        .unwrap_or_default()
}

fn str_pairs(v: Option<&Value>) -> Vec<Vec<String>> {
    v.and_then(Value::as_sequence)
        .map(|items| {
            items
                .iter()
                .filter(|s| s.is_sequence())
                .map(str_list)
                .collect()
        })
        .unwrap_or_default()
}

fn str_map(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (key_text(k), scalar_text(v)))
                .collect()
        })
        .unwrap_or_default()
}

impl InstanceConfig {
    fn build(
        service: &Service,
        file: &InstanceFile,
        instance: &str,
        own: &Mapping,
    ) -> Result<Self, Vec<Problem>> {
        let merged = yaml::deep_merge(&service.service_yaml.map, own);
        let mut problems = Vec::new();
        // Point at where a value was written: the instance, or service.yaml's default.
        let at = |key: &str| -> Problem {
            if own.contains_key(key) {
                Problem::new(&file.path, "")
                    .instance_of(&service.name, instance)
                    .line(file.line_of(&[instance, key]))
            } else {
                let path = service.path("service.yaml");
                Problem::new(&path, "").line(yaml::locate(&service.service_yaml.text, &[key]))
            }
            .key(key)
        };
        for (k, v) in &merged {
            let key = key_text(k);
            let Some(spec) = schema::lookup(INSTANCE_KEYS, &key, file.kind) else {
                continue;
            };
            if let Err(expected) = schema::check(spec.kind, v) {
                problems.push(Problem {
                    message: format!("{key} is {}, {expected}", describe(v)),
                    ..at(&key)
                });
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let get = |key: &str| merged.get(key).filter(|v| !v.is_null());
        let num = |key: &str, default: f64| get(key).and_then(Value::as_f64).unwrap_or(default);
        let text = |key: &str| get(key).and_then(Value::as_str).map(str::to_string);
        let cmd = get("cmd").map(|v| match v {
            Value::String(s) => Cmd::Shell(s.clone()),
            other => Cmd::Argv(str_list(other)),
        });
        let extra_volumes = get("extra_volumes")
            .and_then(Value::as_sequence)
            .map(|items| {
                items
                    .iter()
                    .map(|v| Volume {
                        container_path: v.get("containerPath").map(scalar_text).unwrap_or_default(),
                        host_path: v.get("hostPath").map(scalar_text).unwrap_or_default(),
                        mode: v.get("mode").map(scalar_text).unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let time_variable_syntax = get("time_variable_syntax")
            .and_then(Value::as_str)
            .map(|s| {
                if s == "percent" {
                    Syntax::Percent
                } else {
                    Syntax::Brace
                }
            });
        let monitoring = get("monitoring")
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        let team = crate::sensu::monitoring_value(service, &monitoring, "team")
            .and_then(Value::as_str)
            .map(str::to_string);
        let kind_config = match file.kind.family() {
            InstanceType::Marathon | InstanceType::Kubernetes => KindConfig::LongRunning(Box::new(
                long_running(service, instance, &merged).map_err(|e| {
                    vec![Problem {
                        message: e.message,
                        ..at(e.key)
                    }]
                })?,
            )),
            InstanceType::Chronos | InstanceType::Tron => {
                KindConfig::Scheduled(Box::new(Scheduled {
                    schedule: text("schedule"),
                    parents: get("parents").map(str_list),
                    epsilon: text("epsilon").unwrap_or_else(|| "PT60S".into()),
                    epsilon_set: get("epsilon").is_some(),
                    retries: get("retries").and_then(Value::as_u64).unwrap_or(2),
                    schedule_time_zone: text("schedule_time_zone"),
                    disabled: get("disabled").and_then(Value::as_bool).unwrap_or(false),
                }))
            }
            InstanceType::Adhoc => KindConfig::Adhoc,
        };
        let extra_docker_args = str_map(get("extra_docker_args"));
        let docker_options =
            DockerOptions::parse(&extra_docker_args).map_err(|(option, why)| {
                let mut p = at("extra_docker_args");
                p.key = Some(format!("extra_docker_args.{option}"));
                p.message = why;
                vec![p]
            })?;
        Ok(InstanceConfig {
            service: service.name.clone(),
            cluster: file.cluster.clone(),
            instance: instance.to_string(),
            file: file.path.clone(),
            file_kind: file.kind,
            deploy_group: text("deploy_group").map_or_else(
                || format!("{}.{}", file.cluster, instance),
                |g| expand_deploy_group(&g, &service.name, &file.cluster, instance),
            ),
            cpus: num(
                "cpus",
                if file.kind == InstanceType::Adhoc {
                    1.0
                } else {
                    0.25
                },
            ),
            mem: num("mem", 1024.0),
            disk: num("disk", 1024.0),
            cmd,
            args: get("args").map(str_list),
            env: str_map(get("env")),
            extra_volumes,
            net: if get("net").and_then(Value::as_str) == Some("host") {
                Net::Host
            } else {
                Net::Bridge
            },
            container_port: get("container_port")
                .and_then(Value::as_u64)
                .map_or(DEFAULT_CONTAINER_PORT, |p| p as u16),
            cfs_period_us: get("cfs_period_us")
                .and_then(Value::as_u64)
                .unwrap_or(100_000),
            cpu_burst_add: num("cpu_burst_add", 1.0),
            cap_add: get("cap_add").map(str_list).unwrap_or_default(),
            extra_docker_args,
            docker_options,
            monitoring,
            team,
            time_variable_syntax,
            placement: Placement {
                constraints: merged.get("constraints").map(|v| str_pairs(Some(v))),
                extra_constraints: str_pairs(get("extra_constraints")),
                deploy_blacklist: str_pairs(get("deploy_blacklist")),
                deploy_whitelist: get("deploy_whitelist")
                    .and_then(Value::as_sequence)
                    .and_then(|w| {
                        Some(Whitelist {
                            attribute: w.first()?.as_str()?.to_string(),
                            values: str_list(w.get(1)?),
                        })
                    }),
                pool: get("pool")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_string(),
            },
            kind_config,
        })
    }

    pub fn kind(&self) -> InstanceType {
        match self.kind_config {
            KindConfig::LongRunning(_) => InstanceType::Marathon,
            KindConfig::Scheduled(_) => InstanceType::Chronos,
            KindConfig::Adhoc => InstanceType::Adhoc,
        }
    }

    pub fn long_running(&self) -> Option<&LongRunning> {
        match &self.kind_config {
            KindConfig::LongRunning(l) => Some(l),
            _ => None,
        }
    }

    /// A scheduled job with `disabled: true`.
    pub fn disabled(&self) -> bool {
        self.scheduled().is_some_and(|s| s.disabled)
    }

    pub fn scheduled(&self) -> Option<&Scheduled> {
        match &self.kind_config {
            KindConfig::Scheduled(s) => Some(s),
            _ => None,
        }
    }

    /// `<cluster>.<instance>`: the control branch of deployments.json.
    pub fn branch(&self) -> String {
        format!("{}.{}", self.cluster, self.instance)
    }

    /// The syntax of time variables in this instance's command (the instance's
    /// `time_variable_syntax`, else the rule of [`Syntax::detect`]).
    pub fn syntax_for(&self, cmd: &str) -> Syntax {
        self.time_variable_syntax
            .unwrap_or_else(|| Syntax::detect(cmd))
    }
}

/// The keys of a long-running instance, resolved against its smartstack namespace. An error is
/// the key and what is wrong with its value.
fn long_running(
    service: &Service,
    instance: &str,
    merged: &Mapping,
) -> Result<LongRunning, KeyError> {
    let get = |key: &str| merged.get(key).filter(|v| !v.is_null());
    let num = |key: &str, default: f64| get(key).and_then(Value::as_f64).unwrap_or(default);
    let explicit_registrations = get("registrations").map(str_list);
    let namespace = explicit_registrations
        .as_ref()
        .and_then(|r| r.first())
        .map(|r| {
            r.rsplit_once('.')
                .map_or(r.as_str(), |(_, ns)| ns)
                .to_string()
        })
        .or_else(|| get("nerve_ns").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| instance.to_string());
    let registrations_named =
        explicit_registrations.is_some() || get("nerve_ns").is_some_and(Value::is_string);
    let registrations =
        explicit_registrations.unwrap_or_else(|| vec![format!("{}.{namespace}", service.name)]);
    let ns = service
        .smartstack
        .as_ref()
        .and_then(|s| s.map.get(namespace.as_str()))
        .and_then(Value::as_mapping);
    let ns_get = |k: &str| ns.and_then(|n| n.get(k)).filter(|v| !v.is_null());
    let proxy_port = ns_get("proxy_port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok());
    let mode = get("healthcheck_mode")
        .and_then(Value::as_str)
        .or_else(|| ns_get("mode").and_then(Value::as_str))
        .or(proxy_port.map(|_| "http"));
    let healthcheck = match mode {
        None => None,
        Some(m) => Some(HealthCheck {
            mode: HealthcheckMode::parse(m).ok_or_else(|| KeyError {
                key: "healthcheck_mode",
                message: format!("healthcheck_mode is {m:?}, expected http, https, tcp or cmd"),
            })?,
            path: get("healthcheck_uri")
                .and_then(Value::as_str)
                .or_else(|| ns_get("healthcheck_uri").and_then(Value::as_str))
                .unwrap_or("/status")
                .to_string(),
            command: get("healthcheck_cmd")
                .and_then(Value::as_str)
                .unwrap_or("/bin/true")
                .to_string(),
            grace_seconds: num("healthcheck_grace_period_seconds", 60.0),
            interval_seconds: num("healthcheck_interval_seconds", 10.0),
            timeout_seconds: num("healthcheck_timeout_seconds", 10.0),
            max_consecutive_failures: get("healthcheck_max_consecutive_failures")
                .and_then(Value::as_u64)
                .unwrap_or(30),
        }),
    };
    let bounce_method = match get("bounce_method").and_then(Value::as_str) {
        None => BounceMethod::default(),
        Some(m) => BounceMethod::parse(m).ok_or_else(|| KeyError {
            key: "bounce_method",
            message: format!("bounce_method is {m:?}, expected {}", BounceMethod::NAMES),
        })?,
    };
    let bounce_margin_factor = num("bounce_margin_factor", 1.0);
    if !(bounce_margin_factor > 0.0 && bounce_margin_factor <= 1.0) {
        return Err(KeyError {
            key: "bounce_margin_factor",
            message: format!(
                "bounce_margin_factor is {bounce_margin_factor}, expected a number in (0, 1]"
            ),
        });
    }
    // PaaSTA drains through hacheck by default only when the instance is in the load balancer.
    let drain_name =
        get("drain_method")
            .and_then(Value::as_str)
            .unwrap_or(if proxy_port.is_some() {
                "hacheck"
            } else {
                "noop"
            });
    let params = get("drain_method_params")
        .map(|v| serde_json::to_value(v).unwrap_or_default())
        .and_then(|j| j.as_object().cloned())
        .unwrap_or_default();
    let drain = DrainConfig::parse(drain_name, &params)?;
    Ok(LongRunning {
        instances: get("instances").and_then(Value::as_u64).unwrap_or(1),
        host_port: get("host_port")
            .and_then(Value::as_u64)
            .map_or(0, |p| p as u16),
        registrations,
        registrations_named,
        namespace,
        proxy_port,
        discover: ns_get("discover")
            .and_then(Value::as_str)
            .unwrap_or("region")
            .to_string(),
        healthcheck,
        backoff_factor: num("backoff_factor", 2.0),
        max_launch_delay_seconds: num("max_launch_delay_seconds", 300.0),
        accepted_resource_roles: get("accepted_resource_roles").map(str_list),
        bounce_method,
        bounce_margin_factor,
        min_task_uptime: get("bounce_health_params")
            .and_then(|p| p.get("min_task_uptime"))
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        drain,
        replication_threshold: num("replication_threshold", 50.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty or absent docker_registry means a local image, never `/image:tag`.
    #[test]
    fn empty_registry_means_a_local_image() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(dir.path().join("soa/svc")).unwrap();
        std::fs::create_dir_all(&etc).unwrap();
        let image = "services-svc:paasta-abc";
        for (service_yaml, system, want) in [
            ("git_url: /x\n", r#"{"cluster": "c"}"#, image.to_string()),
            (
                "git_url: /x\n",
                r#"{"docker_registry": ""}"#,
                image.to_string(),
            ),
            (
                "git_url: /x\ndocker_registry: ''\n",
                r#"{"docker_registry": "reg:5000"}"#,
                image.to_string(),
            ),
            (
                "git_url: /x\n",
                r#"{"docker_registry": "reg:5000"}"#,
                format!("reg:5000/{image}"),
            ),
            (
                "git_url: /x\ndocker_registry: mine\n",
                r#"{"docker_registry": ""}"#,
                format!("mine/{image}"),
            ),
        ] {
            std::fs::write(dir.path().join("soa/svc/service.yaml"), service_yaml).unwrap();
            std::fs::write(etc.join("system.json"), system).unwrap();
            let service = Service::load(&dir.path().join("soa"), "svc").unwrap();
            let system = crate::SystemConfig::load(&etc).unwrap();
            assert_eq!(service.image_ref(&system, image), want, "{service_yaml}");
        }
    }
}
