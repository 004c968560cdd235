//! Where Disdat keeps things (docs/disdat.md §1): the config `~/.config/disdat/disdat.cfg`
//! (`[core] meta_dir_root`, default `~`, a relative value taken from the config's directory),
//! and under `<meta_dir_root>/.disdat/` the current context (`fs.json`) and the contexts
//! (`context/<name>/ctxt.json`).

use crate::{io, write_atomic, Error, Result};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The config file `dsdt init` writes, as Disdat packages it.
pub const DEFAULT_CFG: &str =
    "[core]\n# Out of the box, ignore code version.\nignore_code_version=True";

/// An initialized Disdat: its config directory and its `.disdat` root.
#[derive(Debug, Clone)]
pub struct Disdat {
    pub config_dir: PathBuf,
    /// `<meta_dir_root>/.disdat`.
    pub root: PathBuf,
}

/// What `ctxt.json` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextInfo {
    pub local: String,
    pub remote: Option<String>,
    /// `<remote url>/context`.
    pub remote_url: Option<String>,
}

fn config_dir(home: &Path) -> PathBuf {
    home.join(".config/disdat")
}

impl Disdat {
    /// The Disdat of the user whose home is `home`; `NotInitialized` without a config.
    pub fn locate(home: &Path) -> Result<Disdat> {
        let config_dir = config_dir(home);
        let cfg = config_dir.join("disdat.cfg");
        let text = match std::fs::read_to_string(&cfg) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotInitialized)
            }
            Err(e) => return Err(io(&cfg)(e)),
        };
        let meta = meta_dir_root(&text).map_or_else(
            || home.to_path_buf(),
            |v| {
                let v = v
                    .strip_prefix("~/")
                    .map(|rest| home.join(rest))
                    .unwrap_or_else(|| {
                        if v == "~" {
                            home.to_path_buf()
                        } else {
                            PathBuf::from(v)
                        }
                    });
                if v.is_absolute() {
                    v
                } else {
                    config_dir.join(v)
                }
            },
        );
        Ok(Disdat {
            config_dir,
            root: meta.join(".disdat"),
        })
    }

    /// `key` of `[section]` in disdat.cfg (e.g. `[docker] registry`), if set and not empty.
    pub fn setting(&self, section: &str, key: &str) -> Result<Option<String>> {
        let path = self.config_dir.join("disdat.cfg");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        Ok(cfg_value(&text, section, key)
            .filter(|v| !v.is_empty())
            .map(str::to_string))
    }

    /// `dsdt init`: writes the default config; Err(dir) when one is there already.
    pub fn init(home: &Path) -> Result<std::result::Result<Disdat, PathBuf>> {
        let dir = config_dir(home);
        if dir.join("disdat.cfg").exists() {
            return Ok(Err(dir));
        }
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        write_atomic(&dir.join("disdat.cfg"), DEFAULT_CFG.as_bytes(), 0o644)?;
        Disdat::locate(home).map(Ok)
    }

    fn fs_json(&self) -> PathBuf {
        self.root.join("fs.json")
    }

    pub fn context_dir(&self, name: &str) -> PathBuf {
        self.root.join("context").join(name)
    }

    /// The current context's name (`fs.json`), if one was picked.
    pub fn current(&self) -> Result<Option<String>> {
        let path = self.fs_json();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        // Python reads the first line only.
        let first = text.lines().next().unwrap_or("");
        let v: serde_json::Value = serde_json::from_str(first).map_err(|e| Error::Malformed {
            path: path.clone(),
            message: format!("not JSON: {e}"),
        })?;
        Ok(v.get("_mangled_curr_context_name")
            .and_then(|n| n.as_str())
            .map(str::to_string))
    }

    pub fn set_current(&self, name: &str) -> Result<()> {
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let text = pyjson::dumps(&json!({ "_mangled_curr_context_name": name }), false);
        write_atomic(&self.fs_json(), text.as_bytes(), 0o644)
    }

    /// Every context (a directory with a ctxt.json), in directory order.
    pub fn contexts(&self) -> Result<Vec<ContextInfo>> {
        let dir = self.root.join("context");
        let mut names: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .filter(|e| e.path().join("ctxt.json").is_file())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&dir)(e)),
        };
        names.sort();
        names.iter().map(|n| self.info(n)).collect()
    }

    /// A context's ctxt.json.
    pub fn info(&self, name: &str) -> Result<ContextInfo> {
        let path = self.context_dir(name).join("ctxt.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoContext(name.to_string()))
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Malformed {
            path: path.clone(),
            message: format!("not JSON: {e}"),
        })?;
        let text_of = |key: &str| -> Result<Option<String>> {
            match v.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(Error::Malformed {
                    path: path.clone(),
                    message: format!("{key} is {other}, expected a string or null"),
                }),
            }
        };
        Ok(ContextInfo {
            local: text_of("local_ctxt")?.unwrap_or_else(|| name.to_string()),
            remote: text_of("remote_ctxt")?,
            remote_url: text_of("remote_ctxt_url")?,
        })
    }

    /// Writes a context's ctxt.json (Python's key order and separators, no newline).
    pub fn write_info(&self, info: &ContextInfo) -> Result<()> {
        // Python's key order, separators and escapes, no newline.
        let text = pyjson::dumps(
            &json!({
                "remote_ctxt": info.remote,
                "local_ctxt": info.local,
                "remote_ctxt_url": info.remote_url,
            }),
            false,
        );
        write_atomic(
            &self.context_dir(&info.local).join("ctxt.json"),
            text.as_bytes(),
            0o644,
        )
    }

    /// `dsdt context [R/]L`: makes the context; false when it exists already.
    pub fn create_context(&self, remote: Option<&str>, local: &str) -> Result<bool> {
        if !crate::inside_bundle(local) || local.contains('/') {
            return Err(Error::Malformed {
                path: self.root.join("context"),
                message: format!("{local:?} is not a context name"),
            });
        }
        let dir = self.context_dir(local);
        if dir.join("ctxt.json").exists() {
            return Ok(false);
        }
        let objects = dir.join("objects");
        std::fs::create_dir_all(&objects).map_err(io(&objects))?;
        self.write_info(&ContextInfo {
            local: local.to_string(),
            remote: remote.map(str::to_string),
            remote_url: None,
        })?;
        Ok(true)
    }
}

/// `[core] meta_dir_root = …` in an ini text.
fn meta_dir_root(cfg: &str) -> Option<&str> {
    cfg_value(cfg, "core", "meta_dir_root")
}

/// `key` of `[section]` in the config's ini text (`=` or `:`, as Python's configparser).
pub fn cfg_value<'a>(cfg: &'a str, section: &str, key: &str) -> Option<&'a str> {
    let mut inside = false;
    for line in cfg.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
        } else if inside {
            if let Some((k, v)) = line.split_once(['=', ':']) {
                if k.trim() == key {
                    return Some(v.trim());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_contexts_and_current() {
        let home = tempfile::tempdir().unwrap();
        assert!(matches!(
            Disdat::locate(home.path()),
            Err(Error::NotInitialized)
        ));
        let d = Disdat::init(home.path()).unwrap().unwrap();
        assert!(Disdat::init(home.path()).unwrap().is_err());
        assert_eq!(d.root, home.path().join(".disdat"));
        assert!(d.create_context(None, "ex").unwrap());
        assert!(!d.create_context(None, "ex").unwrap());
        assert_eq!(
            std::fs::read_to_string(d.context_dir("ex").join("ctxt.json")).unwrap(),
            r#"{"remote_ctxt": null, "local_ctxt": "ex", "remote_ctxt_url": null}"#
        );
        d.set_current("ex").unwrap();
        assert_eq!(
            std::fs::read_to_string(d.root.join("fs.json")).unwrap(),
            r#"{"_mangled_curr_context_name": "ex"}"#
        );
        assert_eq!(d.current().unwrap().as_deref(), Some("ex"));
        assert!(d.create_context(None, "../x").is_err());
    }

    #[test]
    fn meta_dir_root_is_read_and_a_relative_one_is_the_configs() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".config/disdat");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("disdat.cfg"), "[core]\nmeta_dir_root = data\n").unwrap();
        assert_eq!(
            Disdat::locate(home.path()).unwrap().root,
            dir.join("data/.disdat")
        );
        std::fs::write(dir.join("disdat.cfg"), "[core]\nmeta_dir_root=~/m\n").unwrap();
        assert_eq!(
            Disdat::locate(home.path()).unwrap().root,
            home.path().join("m/.disdat")
        );
    }
}
