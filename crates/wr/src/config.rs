//! wr's configuration as wr reads it: every key with its default, the files and `WR_*`
//! variables in wr's order of precedence, the deployment, `managerdir` with `_<deployment>`,
//! paths under it and ports derived from the user id. Each value remembers where it came from,
//! for `conf`.
//!
//! Precedence (lowest first): the defaults; `WR_<KEY>` variables; then each file that exists,
//! later ones winning — `$WR_CONFIG_DIR/.wr_config.yml`, `$WR_CONFIG_DIR/.wr_config.<dep>.yml`,
//! `~/.wr_config.yml`, `~/.wr_config.<dep>.yml`, `./.wr_config.yml`, `./.wr_config.<dep>.yml`;
//! the variables are applied again after each file, so a variable beats every file. A file is
//! named as a value's source only when it changed the value.
//!
//! Not copied from wr's config library: loading `X/.wr_config.yml` does not also load
//! `X/.wr_config.development.yml` in production, a zero value in an earlier file is not reset
//! to the default when a later file exists, and `managerweb` set alone is kept (not replaced by
//! the computed port + 1). A user id too large for the derived ports (uid ≥ 16128) is an error
//! asking for `managerport` and `managerweb`, where wr asks on the terminal. Keys wr does not
//! know are reported as warnings.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    Env(String),
    File(PathBuf),
    /// Derived after merging (managerdir's suffix, joined paths, computed ports).
    Computed,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Env(v) => write!(f, "env var {v}"),
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Computed => f.write_str("computed"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {message}", file.display())]
    File { file: PathBuf, message: String },
    #[error("{var}: expected {expected}, got {value:?}")]
    Env {
        var: String,
        expected: &'static str,
        value: String,
    },
    #[error("managerdir: cannot expand ~ without HOME")]
    NoHome,
    #[error("user id {uid} is too large for wr's derived ports (1021 + 4 × uid must stay below 65533): set managerport and managerweb in ~/.wr_config.yml or WR_MANAGERPORT and WR_MANAGERWEB")]
    PortRange { uid: u32 },
    #[error("{key}: expected a port number (1-65535), got {value:?} (from {from})")]
    Port {
        key: &'static str,
        value: String,
        from: Source,
    },
}

/// The two deployments wr knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Deployment {
    Production,
    Development,
}

impl Deployment {
    pub fn parse(s: &str) -> Option<Deployment> {
        match s {
            "production" => Some(Deployment::Production),
            "development" => Some(Deployment::Development),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Deployment::Production => "production",
            Deployment::Development => "development",
        }
    }

    /// The prefix of cloud resource names.
    pub fn resource_prefix(self) -> &'static str {
        match self {
            Deployment::Production => "wr-prod",
            Deployment::Development => "wr-dev",
        }
    }
}

/// A string key's value in a file: wr's ports are strings, but a bare number is what people
/// write.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    S(String),
    I(i64),
    F(f64),
    B(bool),
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Scalar::S(s) => s,
            Scalar::I(i) => i.to_string(),
            Scalar::F(f) => f.to_string(),
            Scalar::B(b) => b.to_string(),
        }
    }
}

macro_rules! keys {
    ($($key:ident : $kind:ident = $default:expr),* $(,)?) => {
        /// Every key of wr's configuration, typed, after merging.
        #[derive(Debug, Clone, serde::Serialize)]
        pub struct Values {
            $(pub $key: keys!(@ty $kind),)*
        }

        /// One file's keys, each optional; a value of the wrong type fails with the key and
        /// the line.
        #[derive(Deserialize, Default)]
        struct FileValues {
            $(#[serde(default)] $key: Option<keys!(@file $kind)>,)*
        }

        /// The names of every key, in wr's order.
        pub const KEYS: &[&str] = &[$(stringify!($key)),*];

        impl Values {
            fn defaults() -> Values {
                Values { $($key: keys!(@default $kind, $default),)* }
            }

            /// Applies one file's values; returns the keys it changed.
            fn apply_file(&mut self, f: FileValues) -> Vec<&'static str> {
                let mut changed = Vec::new();
                $(if let Some(v) = f.$key {
                    let new = keys!(@from_file $kind, v);
                    if self.$key != new {
                        self.$key = new;
                        changed.push(stringify!($key));
                    }
                })*
                changed
            }

            /// Applies `WR_<KEY>` variables; returns the keys set.
            fn apply_env(&mut self, env: &BTreeMap<String, String>) -> Result<Vec<&'static str>, ConfigError> {
                let mut set = Vec::new();
                $({
                    let var = concat!("WR_", stringify!($key)).to_uppercase();
                    if let Some(raw) = env.get(&var) {
                        self.$key = keys!(@from_env $kind, stringify!($key), &var, raw)?;
                        set.push(stringify!($key));
                    }
                })*
                Ok(set)
            }

            /// (key, value as JSON) for every key, in wr's order.
            pub fn entries(&self) -> Vec<(&'static str, serde_json::Value)> {
                vec![$((stringify!($key), serde_json::json!(self.$key)),)*]
            }
        }
    };
    (@ty Str) => { String };
    (@ty Int) => { i64 };
    (@ty Bool) => { bool };
    (@file Str) => { Scalar };
    (@file Int) => { i64 };
    (@file Bool) => { bool };
    (@default Str, $d:expr) => { String::from($d) };
    (@default Int, $d:expr) => { $d };
    (@default Bool, $d:expr) => { $d };
    (@from_file Str, $v:expr) => { $v.into_string() };
    (@from_file Int, $v:expr) => { $v };
    (@from_file Bool, $v:expr) => { $v };
    (@from_env Str, $k:expr, $var:expr, $raw:expr) => { Ok::<_, ConfigError>($raw.clone()) };
    (@from_env Int, $k:expr, $var:expr, $raw:expr) => { env_int($k, $var, $raw) };
    (@from_env Bool, $k:expr, $var:expr, $raw:expr) => {
        Ok::<_, ConfigError>(!matches!($raw.as_str(), "" | "0" | "f" | "false"))
    };
}

keys! {
    managerport: Str = "",
    managerweb: Str = "",
    managerhost: Str = "localhost",
    managerdir: Str = "~/.wr",
    managerpidfile: Str = "pid",
    managerlogfile: Str = "log",
    managerdbfile: Str = "db",
    managerdbbkfile: Str = "db_bk",
    managertokenfile: Str = "client.token",
    manageruploaddir: Str = "uploads",
    managerumask: Int = 7,
    managerscheduler: Str = "local",
    managercafile: Str = "ca.pem",
    managercertfile: Str = "cert.pem",
    managerkeyfile: Str = "key.pem",
    managercertdomain: Str = "localhost",
    managersetdomainip: Bool = false,
    runnerexecshell: Str = "bash",
    privatekeypath: Str = "~/.ssh/id_rsa",
    deployment: Str = "production",
    containerimage: Str = "ubuntu:latest",
    deploysuccessscript: Str = "",
    cloudflavor: Str = "",
    cloudflavormanager: Str = "",
    cloudflavorsets: Str = "",
    cloudkeepalive: Int = 120,
    cloudservers: Int = -1,
    cloudcidr: Str = "192.168.64.0/18",
    cloudgateway: Str = "192.168.64.1",
    clouddns: Str = "8.8.4.4,8.8.8.8",
    cloudos: Str = "bionic-server",
    clouduser: Str = "ubuntu",
    cloudram: Int = 2048,
    clouddisk: Int = 1,
    cloudscript: Str = "",
    clouddestroyscript: Str = "",
    cloudconfigfiles: Str = "~/.s3cfg,~/.aws/credentials,~/.aws/config",
    cloudspawns: Int = 10,
    cloudautoconfirmdead: Int = 30,
}

fn env_int(key: &str, var: &str, raw: &str) -> Result<i64, ConfigError> {
    // wr strips a leading 0 from the umask ("077" is 77).
    let s = if key == "managerumask" {
        raw.trim_start_matches('0')
    } else {
        raw
    };
    let s = if s.is_empty() && !raw.is_empty() {
        "0"
    } else {
        s
    };
    s.parse().map_err(|_| ConfigError::Env {
        var: var.to_string(),
        expected: "an integer",
        value: raw.to_string(),
    })
}

/// What the configuration is read from: the process's surroundings, passed in so tests and
/// the manager decide them.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub env: BTreeMap<String, String>,
    pub home: Option<PathBuf>,
    pub cwd: PathBuf,
    pub uid: u32,
    /// `--deployment`, when given.
    pub deployment: Option<String>,
}

impl Inputs {
    /// This process's environment, home, working directory and user id.
    pub fn from_process(deployment: Option<String>) -> Inputs {
        use std::os::unix::fs::MetadataExt;
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Inputs {
            home: env.get("HOME").filter(|h| !h.is_empty()).map(PathBuf::from),
            env,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            uid: std::fs::metadata("/proc/self")
                .map(|m| m.uid())
                .unwrap_or(0),
            deployment,
        }
    }
}

/// The merged configuration of one deployment.
#[derive(Debug, Clone)]
pub struct Config {
    pub values: Values,
    pub sources: BTreeMap<&'static str, Source>,
    pub deployment: Deployment,
    /// Keys found in files that wr does not know, as (file, key).
    pub unknown: Vec<(PathBuf, String)>,
}

/// The deployment: `--deployment` when it is one of the two, else WR_DEPLOYMENT when it is,
/// else development inside wr's own source tree, else production.
pub fn deployment(inputs: &Inputs) -> Deployment {
    inputs
        .deployment
        .as_deref()
        .and_then(Deployment::parse)
        .or_else(|| {
            inputs
                .env
                .get("WR_DEPLOYMENT")
                .and_then(|d| Deployment::parse(d))
        })
        .unwrap_or_else(|| {
            if inputs.cwd.join("jobqueue/server.go").exists() {
                Deployment::Development
            } else {
                Deployment::Production
            }
        })
}

fn read_file(path: &Path) -> Result<Option<(FileValues, Vec<String>)>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::File {
                file: path.to_path_buf(),
                message: e.to_string(),
            })
        }
    };
    let bad = |e: serde_yaml::Error| ConfigError::File {
        file: path.to_path_buf(),
        message: e.to_string(),
    };
    if text.trim().is_empty() {
        return Ok(Some((FileValues::default(), Vec::new())));
    }
    let raw: serde_yaml::Value = serde_yaml::from_str(&text).map_err(bad)?;
    let serde_yaml::Value::Mapping(map) = &raw else {
        return Err(ConfigError::File {
            file: path.to_path_buf(),
            message: "expected a mapping of wr config keys to values".into(),
        });
    };
    let unknown = map
        .keys()
        .map(|k| match k {
            serde_yaml::Value::String(s) => s.clone(),
            other => serde_yaml::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_string(),
        })
        .filter(|k| !KEYS.contains(&k.as_str()))
        .collect();
    let values: FileValues = serde_yaml::from_str(&text).map_err(bad)?;
    Ok(Some((values, unknown)))
}

/// `~` or `~/x` under `home`; other paths as they are.
pub fn expand_home(p: &str, home: Option<&Path>) -> Result<PathBuf, ConfigError> {
    match p.strip_prefix("~") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let home = home.ok_or(ConfigError::NoHome)?;
            Ok(home.join(rest.trim_start_matches('/')))
        }
        _ => Ok(PathBuf::from(p)),
    }
}

impl Config {
    /// Reads the configuration as wr does (module docs).
    pub fn load(inputs: &Inputs) -> Result<Config, ConfigError> {
        let dep = deployment(inputs);
        let mut values = Values::defaults();
        let mut sources: BTreeMap<&'static str, Source> =
            KEYS.iter().map(|k| (*k, Source::Default)).collect();
        let env_var = |k: &str| format!("WR_{}", k.to_uppercase());
        let apply_env = |values: &mut Values,
                         sources: &mut BTreeMap<&'static str, Source>|
         -> Result<(), ConfigError> {
            for k in values.apply_env(&inputs.env)? {
                sources.insert(k, Source::Env(env_var(k)));
            }
            Ok(())
        };
        apply_env(&mut values, &mut sources)?;
        let mut dirs = Vec::new();
        if let Some(d) = inputs.env.get("WR_CONFIG_DIR").filter(|d| !d.is_empty()) {
            dirs.push(PathBuf::from(d));
        }
        if let Some(h) = &inputs.home {
            dirs.push(h.clone());
        }
        dirs.push(inputs.cwd.clone());
        let mut unknown = Vec::new();
        for dir in dirs {
            for name in [
                ".wr_config.yml".to_string(),
                format!(".wr_config.{}.yml", dep.name()),
            ] {
                let path = dir.join(name);
                let Some((file, unknown_keys)) = read_file(&path)? else {
                    continue;
                };
                unknown.extend(unknown_keys.into_iter().map(|k| (path.clone(), k)));
                for k in values.apply_file(file) {
                    sources.insert(k, Source::File(path.clone()));
                }
                apply_env(&mut values, &mut sources)?;
            }
        }
        values.deployment = dep.name().to_string();
        let dir = expand_home(&values.managerdir, inputs.home.as_deref())?;
        values.managerdir = format!("{}_{}", dir.display(), dep.name());
        let managerdir = PathBuf::from(&values.managerdir);
        // Relative file options live in managerdir; an s3:// backup stays as given.
        for v in [
            &mut values.managerpidfile,
            &mut values.managerlogfile,
            &mut values.managerdbfile,
            &mut values.managerdbbkfile,
            &mut values.managertokenfile,
            &mut values.manageruploaddir,
            &mut values.managercafile,
            &mut values.managercertfile,
            &mut values.managerkeyfile,
        ] {
            if v.starts_with("s3://") {
                continue;
            }
            let p = expand_home(v, inputs.home.as_deref())?;
            *v = managerdir.join(p).display().to_string();
        }
        let base = 1021u64 + 4 * inputs.uid as u64;
        let offset = match dep {
            Deployment::Production => 0,
            Deployment::Development => 2,
        };
        for (key, add) in [("managerport", 0), ("managerweb", 1)] {
            let v = match key {
                "managerport" => &mut values.managerport,
                _ => &mut values.managerweb,
            };
            if v.is_empty() {
                if base + 3 > 65535 {
                    return Err(ConfigError::PortRange { uid: inputs.uid });
                }
                *v = (base + offset + add).to_string();
                sources.insert(key, Source::Computed);
            }
        }
        let config = Config {
            values,
            sources,
            deployment: dep,
            unknown,
        };
        config.port("managerport")?;
        config.port("managerweb")?;
        Ok(config)
    }

    fn port(&self, key: &'static str) -> Result<u16, ConfigError> {
        let v = if key == "managerport" {
            &self.values.managerport
        } else {
            &self.values.managerweb
        };
        v.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| ConfigError::Port {
                key,
                value: v.clone(),
                from: self.sources[key].clone(),
            })
    }

    /// The manager's API port.
    pub fn manager_port(&self) -> u16 {
        self.port("managerport").unwrap_or(0)
    }

    /// The manager's web status port.
    pub fn manager_web(&self) -> u16 {
        self.port("managerweb").unwrap_or(0)
    }

    pub fn managerdir(&self) -> PathBuf {
        PathBuf::from(&self.values.managerdir)
    }

    /// The umask wr gives commands, read as octal digits (wr keeps `007` as 7).
    pub fn umask(&self) -> u32 {
        u32::from_str_radix(&self.values.managerumask.to_string(), 8).unwrap_or(0o007)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(dir: &Path) -> Inputs {
        let home = dir.join("home");
        let cwd = dir.join("cwd");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&cwd).unwrap();
        Inputs {
            env: BTreeMap::new(),
            home: Some(home),
            cwd,
            uid: 1000,
            deployment: None,
        }
    }

    #[test]
    fn defaults_and_derived_values() {
        let d = tempfile::tempdir().unwrap();
        let i = inputs(d.path());
        let c = Config::load(&i).unwrap();
        assert_eq!(c.deployment, Deployment::Production);
        assert_eq!(c.manager_port(), 5021);
        assert_eq!(c.manager_web(), 5022);
        let mdir = d.path().join("home/.wr_production");
        assert_eq!(c.managerdir(), mdir);
        assert_eq!(
            c.values.managerdbfile,
            mdir.join("db").display().to_string()
        );
        assert_eq!(c.values.cloudkeepalive, 120);
        assert_eq!(c.values.cloudcidr, "192.168.64.0/18");
        assert_eq!(c.sources["cloudkeepalive"], Source::Default);
        assert_eq!(c.sources["managerport"], Source::Computed);
        assert_eq!(c.umask(), 0o007);
        let mut i = i;
        i.deployment = Some("development".into());
        let c = Config::load(&i).unwrap();
        assert_eq!((c.manager_port(), c.manager_web()), (5023, 5024));
        assert!(c.managerdir().ends_with(".wr_development"));
    }

    #[test]
    fn env_beats_every_file_and_files_win_in_order() {
        let d = tempfile::tempdir().unwrap();
        let mut i = inputs(d.path());
        let home = i.home.clone().unwrap();
        std::fs::write(
            home.join(".wr_config.yml"),
            "cloudkeepalive: 300\nmanagerport: 11320\ncloudos: home\n",
        )
        .unwrap();
        std::fs::write(
            home.join(".wr_config.production.yml"),
            "cloudos: homeprod\n",
        )
        .unwrap();
        std::fs::write(
            i.cwd.join(".wr_config.yml"),
            "cloudos: cwd\ncloudram: 2048\n",
        )
        .unwrap();
        std::fs::write(i.cwd.join(".wr_config.development.yml"), "cloudos: notme\n").unwrap();
        i.env.insert("WR_CLOUDKEEPALIVE".into(), "60".into());
        i.env.insert("WR_MANAGERDIR".into(), "~/.wr_one".into());
        i.env.insert("WR_MANAGERUMASK".into(), "077".into());
        let c = Config::load(&i).unwrap();
        assert_eq!(c.values.cloudkeepalive, 60);
        assert_eq!(
            c.sources["cloudkeepalive"],
            Source::Env("WR_CLOUDKEEPALIVE".into())
        );
        assert_eq!(c.values.cloudos, "cwd");
        assert_eq!(
            c.sources["cloudos"],
            Source::File(i.cwd.join(".wr_config.yml"))
        );
        // The same value as the default: the file is not its source.
        assert_eq!(c.sources["cloudram"], Source::Default);
        assert_eq!(c.manager_port(), 11320);
        assert_eq!(c.manager_web(), 5022);
        assert_eq!(c.managerdir(), home.join(".wr_one_production"));
        assert_eq!(c.values.managerumask, 77);
        assert_eq!(c.umask(), 0o077);
    }

    #[test]
    fn deployment_choice() {
        let d = tempfile::tempdir().unwrap();
        let mut i = inputs(d.path());
        i.env.insert("WR_DEPLOYMENT".into(), "development".into());
        assert_eq!(deployment(&i), Deployment::Development);
        i.deployment = Some("production".into());
        assert_eq!(deployment(&i), Deployment::Production);
        i.deployment = Some("bogus".into());
        assert_eq!(deployment(&i), Deployment::Development);
        i.env.clear();
        std::fs::create_dir_all(i.cwd.join("jobqueue")).unwrap();
        std::fs::write(i.cwd.join("jobqueue/server.go"), "").unwrap();
        assert_eq!(deployment(&i), Deployment::Development);
    }

    #[test]
    fn bad_input_names_file_line_and_key() {
        let d = tempfile::tempdir().unwrap();
        let i = inputs(d.path());
        let f = i.home.clone().unwrap().join(".wr_config.yml");
        std::fs::write(&f, "managerhost: h\ncloudkeepalive: soon\n").unwrap();
        let e = Config::load(&i).unwrap_err().to_string();
        assert!(e.contains(&f.display().to_string()), "{e}");
        assert!(e.contains("cloudkeepalive"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        std::fs::write(&f, "managerhost: [unclosed\n").unwrap();
        let e = Config::load(&i).unwrap_err().to_string();
        assert!(e.contains("line"), "{e}");
        std::fs::write(&f, "cloudkeepalve: 3\n").unwrap();
        let c = Config::load(&i).unwrap();
        assert_eq!(c.unknown, vec![(f.clone(), "cloudkeepalve".to_string())]);
        let mut i = i;
        std::fs::remove_file(&f).unwrap();
        i.env.insert("WR_CLOUDSERVERS".into(), "many".into());
        let e = Config::load(&i).unwrap_err().to_string();
        assert!(e.contains("WR_CLOUDSERVERS"), "{e}");
        i.env.clear();
        i.env.insert("WR_MANAGERPORT".into(), "99999".into());
        let e = Config::load(&i).unwrap_err().to_string();
        assert!(
            e.contains("managerport") && e.contains("WR_MANAGERPORT"),
            "{e}"
        );
        i.env.clear();
        i.uid = 20000;
        assert!(matches!(
            Config::load(&i),
            Err(ConfigError::PortRange { .. })
        ));
    }

    #[test]
    fn bools_from_env() {
        let d = tempfile::tempdir().unwrap();
        let mut i = inputs(d.path());
        for (v, want) in [
            ("", false),
            ("0", false),
            ("f", false),
            ("false", false),
            ("yes", true),
            ("1", true),
        ] {
            i.env.insert("WR_MANAGERSETDOMAINIP".into(), v.into());
            assert_eq!(
                Config::load(&i).unwrap().values.managersetdomainip,
                want,
                "{v:?}"
            );
        }
    }
}
