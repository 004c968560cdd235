//! The system config: every readable `*.json` under `$PAASTA_SYSTEM_CONFIG_DIR` (default
//! `/etc/paasta`), recursively, in path order, deep-merged, as PaaSTA reads it.

use crate::error::{Error, Problem, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

pub const DEFAULT_DIR: &str = "/etc/paasta";
pub const ENV_DIR: &str = "PAASTA_SYSTEM_CONFIG_DIR";

#[derive(Debug, Clone, Default)]
pub struct SystemConfig {
    pub dir: PathBuf,
    pub values: Map<String, Value>,
}

/// The directory named by `$PAASTA_SYSTEM_CONFIG_DIR`, or `/etc/paasta`.
pub fn default_dir() -> PathBuf {
    std::env::var_os(ENV_DIR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

impl SystemConfig {
    /// Loads the system config from `dir`. A missing directory is an empty config: a developer's
    /// machine has none, and the tools that need a key say which one is missing.
    pub fn load(dir: &Path) -> Result<Self> {
        let mut files = Vec::new();
        if dir.is_dir() {
            collect_json(dir, &mut files)?;
        }
        files.sort();
        let mut values = Map::new();
        for file in files {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                // PaaSTA skips unreadable files; so do we.
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => continue,
                Err(e) => return Err(Error::io(&file, e)),
            };
            let parsed: Value = serde_json::from_str(&text).map_err(|e| {
                Problem::new(&file, format!("not valid JSON: {e}")).line(Some(e.line()))
            })?;
            let Value::Object(obj) = parsed else {
                return Err(Problem::new(&file, "expected a JSON object at the top level").into());
            };
            merge_json(&mut values, obj);
        }
        Ok(SystemConfig {
            dir: dir.to_path_buf(),
            values,
        })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// This machine's cluster (`cluster` key).
    pub fn cluster(&self) -> Option<&str> {
        self.get("cluster").and_then(Value::as_str)
    }

    /// The cluster a tool works on: the one given (-c), else this machine's; an error says
    /// which file would have named it.
    pub fn cluster_or(&self, given: Option<&str>) -> std::result::Result<String, Problem> {
        given
            .or_else(|| self.cluster())
            .map(str::to_string)
            .ok_or_else(|| {
                Problem::new(
                    &self.dir,
                    "no cluster given (-c) and the system config names none",
                )
                .key("cluster")
            })
    }

    /// The clusters this deployment knows (`clusters` key), if the system config lists them.
    pub fn clusters(&self) -> Result<Option<Vec<String>>> {
        match self.get("clusters") {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        Problem::new(
                            &self.dir,
                            format!("clusters holds {v}, expected cluster names (strings)"),
                        )
                        .key("clusters")
                        .into()
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(other) => Err(Problem::new(
                &self.dir,
                format!("clusters is {other}, expected a list of cluster names"),
            )
            .key("clusters")
            .into()),
        }
    }

    /// Where a service's git repository is when service.yaml has no git_url: the
    /// `git_url_template` key with `{service}` filled in, else PaaSTA's own default
    /// (`git@git.yelpcorp.com:services/{service}`).
    pub fn git_url_template(&self) -> &str {
        self.get("git_url_template")
            .and_then(Value::as_str)
            .unwrap_or(crate::service::DEFAULT_GIT_URL_TEMPLATE)
    }

    pub fn docker_registry(&self) -> Option<&str> {
        self.get("docker_registry").and_then(Value::as_str)
    }

    /// The `volumes` every container of this machine mounts.
    pub fn volumes(&self) -> Result<Vec<crate::service::Volume>> {
        let Some(v) = self.get("volumes") else {
            return Ok(Vec::new());
        };
        let bad = |what: String| -> Error { Problem::new(&self.dir, what).key("volumes").into() };
        let items = v.as_array().ok_or_else(|| {
            bad(format!(
                "volumes is {v}, expected a list of {{containerPath, hostPath, mode}}"
            ))
        })?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let field = |k: &str| {
                    item.get(k)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("volumes[{i}] has no {k} string")))
                };
                Ok(crate::service::Volume {
                    container_path: field("containerPath")?,
                    host_path: field("hostPath")?,
                    mode: field("mode")?,
                })
            })
            .collect()
    }
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        if path.is_dir() {
            collect_json(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

fn merge_json(base: &mut Map<String, Value>, over: Map<String, Value>) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Object(b)), Value::Object(o)) => merge_json(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_merge_in_path_order_recursively() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            r#"{"cluster": "a", "m": {"x": 1}}"#,
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(
            dir.path().join("sub/b.json"),
            r#"{"cluster": "b", "m": {"y": 2}}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("ignored.txt"), "nope").unwrap();
        let sc = SystemConfig::load(dir.path()).unwrap();
        assert_eq!(sc.cluster(), Some("b"));
        assert_eq!(sc.get("m").unwrap(), &serde_json::json!({"x": 1, "y": 2}));
    }

    #[test]
    fn bad_json_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.json"), "{\n\"cluster\": }").unwrap();
        let err = SystemConfig::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("c.json:2"), "{err}");
    }
}
