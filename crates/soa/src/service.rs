//! One service directory of a yelpsoa-configs tree: service.yaml, deploy.yaml, monitoring.yaml,
//! smartstack.yaml and the `<type>-<cluster>.yaml` instance files, and the typed instance
//! configs made from them (instance keys deep-merged over service.yaml, PaaSTA's defaults).

use crate::error::{Error, Problem, Result};
use crate::schema::{self, InstanceType, INSTANCE_KEYS};
use crate::timevars::Syntax;
use crate::yaml::{self, describe, key_text, YamlFile};
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

pub const DEFAULT_SOA_DIR: &str = "/nail/etc/services";

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
    pub yaml: YamlFile,
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
        yaml::locate(&self.yaml.text, path)
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
    /// Sorted by cluster, then marathon, chronos, adhoc.
    pub files: Vec<InstanceFile>,
}

fn read_optional(path: &Path) -> Result<Option<YamlFile>> {
    match std::fs::metadata(path) {
        Ok(_) => yaml::read_mapping(path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
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
            let Some(kind) = InstanceType::parse(ty) else {
                continue;
            };
            if cluster.is_empty() {
                continue;
            }
            let path = entry.path();
            if let Some(yaml) = read(&path)? {
                files.push(InstanceFile {
                    kind,
                    cluster: cluster.to_string(),
                    path,
                    yaml,
                });
            }
        }
        files.sort_by(|a, b| (&a.cluster, a.kind).cmp(&(&b.cluster, b.kind)));
        Ok((
            Service {
                name: name.to_string(),
                dir,
                service_yaml,
                deploy,
                monitoring,
                smartstack,
                files,
            },
            problems,
        ))
    }

    /// service.yaml's git_url.
    pub fn git_url(&self) -> Result<&str, Problem> {
        match self.service_yaml.map.get("git_url") {
            Some(Value::String(url)) if !url.is_empty() => Ok(url),
            Some(other) => Err(Problem::new(
                &self.path("service.yaml"),
                format!(
                    "git_url is {}, expected the URL or path of the service's git repository",
                    describe(other)
                ),
            )
            .key("git_url")
            .line(yaml::locate(&self.service_yaml.text, &["git_url"]))),
            None => Err(Problem::new(
                &self.path("service.yaml"),
                "service.yaml has no git_url: add the URL or path of the service's git repository",
            )
            .key("git_url")),
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
            Some(Value::String(g)) => Ok(g.clone()),
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
                        .instance(instance)
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
                .instance(instance)
                .line(file.line_of(&[instance]))]);
            }
            None => {
                return Err(vec![Problem::new(
                    &file.path,
                    format!("no instance {instance} in this file"),
                )
                .instance(instance)]);
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
            },
        };
        InstanceConfig::build(self, &file, "interactive", &own)
    }

    /// The team to page for an instance: its own `monitoring.team`, else monitoring.yaml's.
    pub fn monitoring_team(&self, config: &InstanceConfig) -> Option<String> {
        config
            .config
            .get("monitoring")
            .and_then(|m| m.get("team"))
            .or_else(|| self.monitoring.as_ref().and_then(|m| m.map.get("team")))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// The registry images come from: service.yaml's `docker_registry`, else the system config's.
    pub fn docker_registry<'a>(&'a self, system: &'a crate::SystemConfig) -> Option<&'a str> {
        self.service_yaml
            .map
            .get("docker_registry")
            .and_then(Value::as_str)
            .or_else(|| system.docker_registry())
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
                && kind.is_none_or(|k| k == f.kind)
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

/// An instance's config: the merged mapping, and typed values with PaaSTA's defaults.
#[derive(Debug, Clone)]
pub struct InstanceConfig {
    pub service: String,
    pub cluster: String,
    pub instance: String,
    pub kind: InstanceType,
    pub file: PathBuf,
    /// The instance's keys deep-merged over service.yaml.
    pub config: Mapping,
    pub deploy_group: String,
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    /// Long-running instances only.
    pub instances: Option<u64>,
    pub cmd: Option<Cmd>,
    pub args: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub extra_volumes: Vec<Volume>,
    pub net: String,
    pub schedule: Option<String>,
    pub parents: Option<Vec<String>>,
    pub epsilon: String,
    pub retries: u64,
    pub schedule_time_zone: Option<String>,
    pub disabled: bool,
    pub time_variable_syntax: Option<Syntax>,
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

impl InstanceConfig {
    fn build(
        service: &Service,
        file: &InstanceFile,
        instance: &str,
        own: &Mapping,
    ) -> Result<Self, Vec<Problem>> {
        let merged = yaml::deep_merge(&service.service_yaml.map, own);
        let mut problems = Vec::new();
        for (k, v) in &merged {
            let key = key_text(k);
            let Some(spec) = schema::lookup(INSTANCE_KEYS, &key, file.kind) else {
                continue;
            };
            if let Err(expected) = schema::check(spec.kind, v) {
                // Point at where the value was written: the instance, or service.yaml's default.
                let problem = if own.contains_key(k) {
                    Problem::new(&file.path, "")
                        .instance(instance)
                        .line(file.line_of(&[instance, &key]))
                } else {
                    let path = service.path("service.yaml");
                    Problem::new(&path, "").line(yaml::locate(&service.service_yaml.text, &[&key]))
                };
                problems.push(Problem {
                    key: Some(key.clone()),
                    message: format!("{key} is {}, expected {expected}", describe(v)),
                    ..problem
                });
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let get = |key: &str| merged.get(key);
        let num = |key: &str, default: f64| get(key).and_then(Value::as_f64).unwrap_or(default);
        let cpus_default = if file.kind == InstanceType::Adhoc {
            1.0
        } else {
            0.25
        };
        let cmd = get("cmd").map(|v| match v {
            Value::String(s) => Cmd::Shell(s.clone()),
            other => Cmd::Argv(str_list(other)),
        });
        let env = get("env")
            .and_then(Value::as_mapping)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (key_text(k), scalar_text(v)))
                    .collect()
            })
            .unwrap_or_default();
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
        Ok(InstanceConfig {
            service: service.name.clone(),
            cluster: file.cluster.clone(),
            instance: instance.to_string(),
            kind: file.kind,
            file: file.path.clone(),
            deploy_group: get("deploy_group")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{}.{}", file.cluster, instance)),
            cpus: num("cpus", cpus_default),
            mem: num("mem", 1024.0),
            disk: num("disk", 1024.0),
            instances: (file.kind == InstanceType::Marathon)
                .then(|| get("instances").and_then(Value::as_u64).unwrap_or(1)),
            cmd,
            args: get("args").map(str_list),
            env,
            extra_volumes,
            net: get("net")
                .and_then(Value::as_str)
                .unwrap_or("bridge")
                .to_string(),
            schedule: get("schedule").and_then(Value::as_str).map(str::to_string),
            parents: get("parents").filter(|v| !v.is_null()).map(str_list),
            epsilon: get("epsilon")
                .and_then(Value::as_str)
                .unwrap_or("PT60S")
                .to_string(),
            retries: get("retries").and_then(Value::as_u64).unwrap_or(2),
            schedule_time_zone: get("schedule_time_zone")
                .and_then(Value::as_str)
                .map(str::to_string),
            disabled: get("disabled").and_then(Value::as_bool).unwrap_or(false),
            time_variable_syntax,
            config: merged,
        })
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
