//! One context: its bundles under `objects/<uuid>/`, its index, its lock. Adding, committing,
//! finding and removing bundles as docs/disdat.md §4 and §6 describe them.

use crate::index::Index;
use crate::pb::{self, Frame, HyperFrame, Lineage, Link, Presentation, Sealed, StringTuple};
use crate::root::{ContextInfo, Disdat};
use crate::{io, write_atomic, Error, Result};
use md5::{Digest, Md5};
use prost::Message;
use std::fs::File;
use std::path::{Path, PathBuf};

/// md5 of the empty string, first 10 hex digits: the part of a processing name with no input.
const EMPTY_MD5_10: &str = "d41d8cd98f";

pub struct Context {
    pub info: ContextInfo,
    pub dir: PathBuf,
    index: Index,
    _lock: Option<File>,
}

/// Which bundles a command means.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A human name; one with a `.` matches as Disdat's LIKE pattern (`.*` any run, `.` one
    /// character, ASCII case-insensitive), otherwise exactly.
    pub name: Option<String>,
    pub uuid: Option<String>,
    /// Every one must be present with that value.
    pub tags: Vec<(String, String)>,
    /// Some(true): committed only; Some(false): uncommitted only.
    pub committed: Option<bool>,
}

impl Filter {
    pub fn matches(&self, hf: &HyperFrame) -> bool {
        self.name
            .as_deref()
            .is_none_or(|n| name_matches(n, &hf.human_name))
            && self.uuid.as_deref().is_none_or(|u| u == hf.uuid)
            && self.tags.iter().all(|(k, v)| hf.tag(k) == Some(v.as_str()))
            && self.committed.is_none_or(|c| c == hf.committed())
    }
}

fn name_matches(pattern: &str, name: &str) -> bool {
    if !pattern.contains('.') {
        return pattern == name;
    }
    // `.*` → any run, `.` → one character, as Disdat turns the name into a LIKE pattern.
    let p: Vec<char> = pattern.replace(".*", "\u{0}").chars().collect();
    let s: Vec<char> = name.chars().collect();
    fn m(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('\u{0}') => (0..=s.len()).any(|i| m(&p[1..], &s[i..])),
            Some('.') => !s.is_empty() && m(&p[1..], &s[1..]),
            Some(c) => s.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && m(&p[1..], &s[1..]),
        }
    }
    m(&p, &s)
}

/// The user a bundle is owned by, as Python's `getpass.getuser()` finds it.
pub fn owner() -> String {
    ["LOGNAME", "USER", "LNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "root".to_string())
}

fn md5_10(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .take(5)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What made a bundle: `dsdt add` of files, or a transform run.
pub enum Origin {
    Added,
    Run(Run),
}

/// A transform run's output bundle: the uuid the host chose, what it ran, on what, with what.
pub struct Run {
    pub uuid: String,
    /// The transform as named to run it (Python `module.Class`, or an executable's path in the
    /// pipeline): the lineage's code method.
    pub pipe_cls: String,
    /// Its short name (the class, or the executable's file name): the processing name's start.
    pub task: String,
    /// Its parameters (tagged `__param.NAME`).
    pub params: Vec<(String, String)>,
    /// The input bundles.
    pub depends_on: Vec<pb::Dependency>,
    pub start_time: f64,
    pub stop_time: f64,
}

impl Run {
    /// `<transform>_<md5 of its params>_<md5 of its inputs' uuids>`, each md5 cut to 10
    /// digits, as Disdat names a task's output by what determines it.
    pub fn processing_name(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let inputs: Vec<&str> = self
            .depends_on
            .iter()
            .map(|d| d.hframe_uuid.as_str())
            .collect();
        format!(
            "{}_{}_{}",
            self.task,
            md5_10(&params.join(",")),
            md5_10(&inputs.join(","))
        )
    }
}

impl Context {
    /// Opens `name` for reading.
    pub fn open(disdat: &Disdat, name: &str) -> Result<Context> {
        Context::open_with(disdat, name, false)
    }

    /// Opens `name` to change it: waits for the context's lock (one writer at a time).
    pub fn open_for_writing(disdat: &Disdat, name: &str) -> Result<Context> {
        Context::open_with(disdat, name, true)
    }

    fn open_with(disdat: &Disdat, name: &str, write: bool) -> Result<Context> {
        let info = disdat.info(name)?;
        let dir = disdat.context_dir(name);
        let lock = if write {
            let path = dir.join(".dsdt.lock");
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(io(&path))?;
            file.lock().map_err(io(&path))?;
            Some(file)
        } else {
            None
        };
        let index = Index::open(&dir)?;
        Ok(Context {
            info,
            dir,
            index,
            _lock: lock,
        })
    }

    pub fn objects(&self) -> PathBuf {
        self.dir.join("objects")
    }

    pub fn bundle_dir(&self, uuid: &str) -> PathBuf {
        self.objects().join(uuid)
    }

    fn bundle_err(&self, bundle: &str, message: impl Into<String>) -> Error {
        Error::Bundle {
            context: self.info.local.clone(),
            bundle: bundle.to_string(),
            message: message.into(),
        }
    }

    /// Every bundle the filter takes, newest first.
    pub fn find(&self, filter: &Filter) -> Result<Vec<HyperFrame>> {
        Ok(self
            .index
            .all()?
            .into_iter()
            .filter(|h| filter.matches(h))
            .collect())
    }

    /// The newest bundle the filter takes.
    pub fn latest(&self, filter: &Filter) -> Result<Option<HyperFrame>> {
        Ok(self.find(filter)?.into_iter().next())
    }

    /// A bundle's frames, read from its directory.
    pub fn frames(&self, hf: &HyperFrame) -> Result<Vec<Frame>> {
        hf.frames
            .iter()
            .map(|f| {
                let path = self.bundle_dir(&hf.uuid).join(format!("{}_frame.pb", f.v));
                let bytes = std::fs::read(&path).map_err(io(&path))?;
                let frame = Frame::decode(bytes.as_slice()).map_err(|e| Error::Malformed {
                    path: path.clone(),
                    message: format!("not a Frame: {e}"),
                })?;
                if !frame.hash_ok() {
                    eprintln!(
                        "dsdt: warning: {}: its hash does not match its content",
                        path.display()
                    );
                }
                Ok(frame)
            })
            .collect()
    }

    /// `dsdt add NAME PATH…`: a new bundle of the files (a directory: every file below it,
    /// sub-directories kept), copied into the bundle, with `tags` after `__param.path`.
    pub fn add(
        &self,
        name: &str,
        paths: &[PathBuf],
        tags: &[(String, String)],
    ) -> Result<HyperFrame> {
        self.make(name, paths, tags, &Origin::Added)
    }

    /// A new bundle of the files, as `add` makes it, with the lineage and params of `origin`.
    pub fn make(
        &self,
        name: &str,
        paths: &[PathBuf],
        tags: &[(String, String)],
        origin: &Origin,
    ) -> Result<HyperFrame> {
        let uuid = match origin {
            Origin::Added => uuid::Uuid::new_v4().to_string(),
            Origin::Run(run) => {
                uuid::Uuid::parse_str(&run.uuid)
                    .map_err(|_| self.bundle_err(name, format!("{:?} is not a uuid", run.uuid)))?;
                if self.bundle_dir(&run.uuid).exists() {
                    return Err(self.bundle_err(
                        name,
                        format!("a bundle with uuid {} is here already", run.uuid),
                    ));
                }
                run.uuid.clone()
            }
        };
        let dir = self.bundle_dir(&uuid);
        let mut files: Vec<(PathBuf, String)> = Vec::new();
        let mut any_dir = false;
        for p in paths {
            let meta = std::fs::metadata(p).map_err(io(p))?;
            if meta.is_dir() {
                any_dir = true;
                let mut found = Vec::new();
                walk_files(p, p, &mut found)?;
                found.sort_by(|a, b| a.1.cmp(&b.1));
                files.extend(found);
            } else {
                let base = p.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
                    self.bundle_err(name, format!("{}: not a file name", p.display()))
                })?;
                files.push((p.clone(), base.to_string()));
            }
        }
        if files.is_empty() {
            return Err(self.bundle_err(name, "nothing to add: the directory has no files"));
        }
        let result = (|| {
            let frame_uuid = uuid::Uuid::new_v4().to_string();
            let mut links = Vec::new();
            for (src, rel) in &files {
                let dest = dir.join(rel);
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                std::fs::copy(src, &dest).map_err(io(src))?;
                let mut link = Link {
                    frame_uuid: frame_uuid.clone(),
                    link: Some(pb::link::Kind::Local(pb::LocalLink {
                        path: format!("bundle://{rel}"),
                    })),
                    ..Default::default()
                };
                link.seal();
                links.push(link);
            }
            let mut frame = Frame {
                name: "unnamed:0".into(),
                uuid: frame_uuid.clone(),
                r#type: pb::Type::Link as i32,
                shape: vec![links.len() as u32],
                links,
                ..Default::default()
            };
            frame.seal();
            write_atomic(
                &dir.join(format!("{frame_uuid}_frame.pb")),
                &frame.encode_to_vec(),
                0o644,
            )?;
            let (proc_name, mut all_tags, lineage) = match origin {
                Origin::Added => {
                    let typed = paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" ");
                    let proc_name = format!("add_{}_{EMPTY_MD5_10}", md5_10(&typed));
                    let lineage = Lineage {
                        hframe_proc_name: proc_name.clone(),
                        hframe_uuid: uuid.clone(),
                        creation_date: now(),
                        code_method: "add".into(),
                        ..Default::default()
                    };
                    (
                        proc_name,
                        vec![StringTuple::new("__param.path", typed)],
                        lineage,
                    )
                }
                Origin::Run(run) => {
                    let proc_name = run.processing_name();
                    let lineage = Lineage {
                        hframe_proc_name: proc_name.clone(),
                        hframe_uuid: uuid.clone(),
                        creation_date: now(),
                        code_method: run.pipe_cls.clone(),
                        data_context: self.info.local.clone(),
                        depends_on: run.depends_on.clone(),
                        start_time: run.start_time,
                        stop_time: run.stop_time,
                        ..Default::default()
                    };
                    let params = run
                        .params
                        .iter()
                        .map(|(k, v)| StringTuple::new(format!("__param.{k}"), v.clone()))
                        .collect();
                    (proc_name, params, lineage)
                }
            };
            for (k, v) in tags {
                match all_tags.iter_mut().find(|t| &t.k == k) {
                    Some(t) => t.v = v.clone(),
                    None => all_tags.push(StringTuple::new(k, v)),
                }
            }
            let presentation = if any_dir || files.len() > 1 {
                Presentation::Tensor
            } else {
                Presentation::Scalar
            };
            let mut hf = HyperFrame {
                owner: owner(),
                human_name: name.to_string(),
                processing_name: proc_name.clone(),
                uuid: uuid.clone(),
                frames: vec![StringTuple::new("unnamed:0", frame_uuid)],
                lineage: Some(lineage),
                tags: all_tags,
                presentation: presentation as i32,
                hash: String::new(),
            };
            hf.seal();
            self.write_hframe(&hf, 0o644)?;
            self.index.insert(&hf)?;
            Ok(hf)
        })();
        if result.is_err() {
            // Nothing half-made stays behind.
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }

    fn write_hframe(&self, hf: &HyperFrame, mode: u32) -> Result<()> {
        let dir = self.bundle_dir(&hf.uuid);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        write_atomic(
            &dir.join(format!("{}_hframe.pb", hf.uuid)),
            &hf.encode_to_vec(),
            mode,
        )
    }

    /// `dsdt commit`: tags the bundle `committed=True` (last), rewrites its hyperframe and row.
    /// Ok(false) when it was committed already.
    pub fn commit(&self, hf: &mut HyperFrame) -> Result<bool> {
        if hf.committed() {
            return Ok(false);
        }
        hf.set_tag("committed", "True");
        hf.seal();
        // As Python's commit: a temp file and a rename, which leaves it mode 0600.
        self.write_hframe(hf, 0o600)?;
        self.index.insert(hf)?;
        Ok(true)
    }

    /// Removes a bundle: its row, then its directory.
    pub fn remove(&self, hf: &HyperFrame) -> Result<()> {
        self.index.delete(&hf.uuid)?;
        let dir = self.bundle_dir(&hf.uuid);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&dir)(e)),
            _ => Ok(()),
        }
    }

    /// Where each link of the bundle's frames is: the local file when it is here, else the
    /// remote object's URL; a link that would leave the bundle's directory is refused.
    pub fn link_targets(&self, hf: &HyperFrame) -> Result<Vec<Vec<String>>> {
        let mut out = Vec::new();
        for frame in self.frames(hf)? {
            let mut paths = Vec::new();
            for link in &frame.links {
                let target = link.target().unwrap_or("");
                let Some(rel) = target.strip_prefix("bundle://") else {
                    paths.push(target.to_string());
                    continue;
                };
                if !crate::inside_bundle(rel) {
                    return Err(self.bundle_err(
                        &hf.uuid,
                        format!("link {target:?} would leave the bundle's directory"),
                    ));
                }
                let local = self.bundle_dir(&hf.uuid).join(rel);
                if local.is_file() {
                    let real = local.canonicalize().map_err(io(&local))?;
                    let home = self
                        .bundle_dir(&hf.uuid)
                        .canonicalize()
                        .map_err(io(&local))?;
                    if !real.starts_with(&home) {
                        return Err(self.bundle_err(
                            &hf.uuid,
                            format!("link {target:?} is a symlink out of the bundle's directory"),
                        ));
                    }
                    paths.push(local.display().to_string());
                } else if let (Some(url), Some(remote)) = (&self.info.remote_url, &self.info.remote)
                {
                    paths.push(format!("{url}/{remote}/objects/{}/{rel}", hf.uuid));
                } else {
                    return Err(self.bundle_err(
                        &hf.uuid,
                        "Files are not local, and no remote context bound.",
                    ));
                }
            }
            out.push(paths);
        }
        Ok(out)
    }

    /// Indexes a bundle whose files are in place (a pull's last step).
    pub(crate) fn index_insert(&self, hf: &HyperFrame) -> Result<()> {
        self.index.insert(hf)
    }

    /// Reads a bundle's hyperframe file (not the index).
    pub fn read_hframe(&self, uuid: &str) -> Result<HyperFrame> {
        let path = self.bundle_dir(uuid).join(format!("{uuid}_hframe.pb"));
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        HyperFrame::decode(bytes.as_slice()).map_err(|e| Error::Malformed {
            path,
            message: format!("not a HyperFrame: {e}"),
        })
    }
}

/// Every file below `dir`, with its path relative to `top`; a symlink is refused.
pub(crate) fn walk_files(top: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        let path = e.path();
        let kind = e.file_type().map_err(io(&path))?;
        if kind.is_symlink() {
            return Err(Error::Malformed {
                path,
                message: "a symlink: a bundle holds files, not links".into(),
            });
        }
        if kind.is_dir() {
            walk_files(top, &path, out)?;
        } else {
            let rel = path
                .strip_prefix(top)
                .ok()
                .and_then(|r| r.to_str())
                .ok_or_else(|| Error::Malformed {
                    path: path.clone(),
                    message: "not a UTF-8 path".into(),
                })?
                .to_string();
            out.push((path, rel));
        }
    }
    Ok(())
}

/// Unix seconds now, as Disdat stamps bundles.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_as_disdat_matches_them() {
        assert!(name_matches("mybundle", "mybundle"));
        assert!(!name_matches("mybundle", "MYBUNDLE"));
        assert!(name_matches("my.csv", "myXcsv"));
        assert!(name_matches("my.csv", "MY.CSV"));
        assert!(name_matches("my.*", "my_anything"));
        assert!(!name_matches("my.csv", "my.csvx"));
    }

    #[test]
    fn processing_names() {
        assert_eq!(md5_10("t.csv"), "8a2ed8ef34");
        assert_eq!(md5_10("dd"), "1aabac6d06");
        assert_eq!(md5_10(""), EMPTY_MD5_10);
    }
}
