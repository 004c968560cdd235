//! The database backup: where it goes (`managerdbbkfile`: a local path, or
//! `s3://[profile@]bucket/path/file`), how a consistent copy gets there, how a manager that
//! starts without a database restores from it, and when the next backup is due.
//!
//! A local backup is a copy written beside the backup file and renamed over it; an S3 backup
//! is a copy beside the database, uploaded, then deleted. Either way a backup cut short leaves
//! the previous one whole. Backups are spaced `max(interval, the last backup's duration)`
//! apart; changes made while one runs collapse into one follow-up.

use crate::queue::{Queue, QueueError};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("managerdbbkfile {url:?}: expected s3://[PROFILE@]BUCKET/PATH/FILE (a path with an object name)")]
    Url { url: String },
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

type Result<T, E = BackupError> = std::result::Result<T, E>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where backups go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Local(PathBuf),
    S3 {
        /// `s3://bucket` (no profile, no key).
        bucket_url: String,
        key: String,
        profile: Option<String>,
    },
}

impl Target {
    pub fn parse(value: &str) -> Result<Target> {
        let Some(rest) = value.strip_prefix("s3://") else {
            return Ok(Target::Local(PathBuf::from(value)));
        };
        let bad = || BackupError::Url {
            url: value.to_string(),
        };
        let (profile, rest) = match rest.split_once('@') {
            Some((p, r)) if !p.contains('/') => (Some(p.to_string()), r),
            _ => (None, rest),
        };
        let (bucket, key) = rest.split_once('/').ok_or_else(bad)?;
        let key = key.trim_matches('/');
        if bucket.is_empty() || key.is_empty() {
            return Err(bad());
        }
        Ok(Target::S3 {
            bucket_url: format!("s3://{bucket}"),
            key: key.to_string(),
            profile,
        })
    }

    /// For messages.
    pub fn describe(&self) -> String {
        match self {
            Target::Local(p) => p.display().to_string(),
            Target::S3 {
                bucket_url, key, ..
            } => format!("{bucket_url}/{key}"),
        }
    }
}

fn remove_if_there(p: &Path) -> Result<()> {
    store::remove_file(p).map_err(io(p))
}

/// The consistent copy a backup sends, read through a connection of its own: in WAL mode a
/// reader sees one moment of the database and holds up no writer, so the manager goes on
/// while a large queue is copied.
pub fn snapshot(target: &Target, db: &Path) -> Result<PathBuf> {
    let tmp = match target {
        Target::Local(bk) => PathBuf::from(format!("{}.tmp", bk.display())),
        Target::S3 { .. } => PathBuf::from(format!("{}.s3backup_tmp", db.display())),
    };
    if let Some(dir) = tmp.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    remove_if_there(&tmp)?;
    Queue::open_read(db)?.copy_to(&tmp)?;
    Ok(tmp)
}

/// Sends a snapshot to the target and removes it.
pub async fn send(snapshot: &Path, target: &Target) -> Result<()> {
    match target {
        Target::Local(bk) => {
            std::fs::rename(snapshot, bk).map_err(io(bk))?;
            Ok(())
        }
        Target::S3 {
            bucket_url,
            key,
            profile,
        } => {
            let s = store::Store::open(bucket_url, profile.as_deref())?;
            let sent = s.upload(snapshot, &s.key(key)).await;
            remove_if_there(snapshot)?;
            sent?;
            Ok(())
        }
    }
}

/// At start: with no database at `db`, fetch the backup into it. Returns whether it did.
/// A missing backup is no error (a first start).
pub async fn restore(target: &Target, db: &Path) -> Result<bool> {
    if db.exists() {
        return Ok(false);
    }
    match target {
        Target::Local(bk) => {
            if !bk.exists() {
                return Ok(false);
            }
            let tmp = PathBuf::from(format!("{}.restoring", db.display()));
            std::fs::copy(bk, &tmp).map_err(io(bk))?;
            std::fs::rename(&tmp, db).map_err(io(db))?;
            Ok(true)
        }
        Target::S3 {
            bucket_url,
            key,
            profile,
        } => {
            let s = store::Store::open(bucket_url, profile.as_deref())?;
            match s.download(&s.key(key), db, 0o600).await {
                Ok(_) => Ok(true),
                Err(store::Error::Store {
                    source: object_store::Error::NotFound { .. },
                    ..
                }) => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// When backups run: pure, given the clock.
#[derive(Debug, Clone)]
pub struct Pacer {
    pub interval: f64,
    /// Changes not yet in a backup.
    pub pending: bool,
    pub running: bool,
    last_start: Option<f64>,
    last_duration: f64,
}

impl Pacer {
    pub fn new(interval: f64) -> Pacer {
        Pacer {
            interval,
            pending: false,
            running: false,
            last_start: None,
            last_duration: 0.0,
        }
    }

    /// Something changed that a backup should hold.
    pub fn changed(&mut self) {
        self.pending = true;
    }

    /// When the next backup may start (None: nothing to do).
    pub fn due_at(&self) -> Option<f64> {
        if !self.pending || self.running {
            return None;
        }
        Some(match self.last_start {
            None => 0.0,
            Some(t) => t + self.interval.max(self.last_duration),
        })
    }

    /// Starts a backup if one is due; the changes so far go into it.
    pub fn start(&mut self, now: f64) -> bool {
        match self.due_at() {
            Some(t) if t <= now => {
                self.pending = false;
                self.running = true;
                self.last_start = Some(now);
                true
            }
            _ => false,
        }
    }

    /// A backup ended (well or not; a failed one is tried again when due).
    pub fn finished(&mut self, now: f64, ok: bool) {
        self.running = false;
        if let Some(t) = self.last_start {
            self.last_duration = now - t;
        }
        if !ok {
            self.pending = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            Target::parse("/a/db_bk").unwrap(),
            Target::Local("/a/db_bk".into())
        );
        assert_eq!(
            Target::parse("s3://prof@bucket/path/file").unwrap(),
            Target::S3 {
                bucket_url: "s3://bucket".into(),
                key: "path/file".into(),
                profile: Some("prof".into())
            }
        );
        assert_eq!(
            Target::parse("s3://bucket/file").unwrap(),
            Target::S3 {
                bucket_url: "s3://bucket".into(),
                key: "file".into(),
                profile: None
            }
        );
        assert!(Target::parse("s3://bucket").is_err());
        assert!(Target::parse("s3://bucket/").is_err());
    }

    #[test]
    fn pacing_collapses_and_spaces_backups() {
        let mut p = Pacer::new(30.0);
        assert!(!p.start(0.0));
        p.changed();
        assert!(p.start(0.0));
        p.changed();
        p.changed();
        assert!(!p.start(1.0), "one at a time");
        p.finished(40.0, true);
        // The last one took 40 s: the next waits 40 s from its start, not 30.
        assert_eq!(p.due_at(), Some(40.0));
        assert!(p.start(40.0));
        p.finished(41.0, false);
        assert_eq!(p.due_at(), Some(70.0), "a failure is tried again when due");
        assert!(p.start(70.0));
        p.finished(71.0, true);
        assert_eq!(p.due_at(), None);
    }

    #[test]
    fn local_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("db");
        let mut q = Queue::open(&db).unwrap();
        q.add(&crate::job::parse_lines("echo a\n", &Default::default()).unwrap())
            .unwrap();
        let t = Target::Local(d.path().join("bk/db_bk"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let snap = snapshot(&t, &db).unwrap();
        rt.block_on(send(&snap, &t)).unwrap();
        assert!(!snap.exists());
        let db2 = d.path().join("db2");
        assert!(rt.block_on(restore(&t, &db2)).unwrap());
        assert!(
            !rt.block_on(restore(&t, &db2)).unwrap(),
            "a database there is kept"
        );
        let q2 = Queue::open(&db2).unwrap();
        assert_eq!(q2.counts(None).unwrap()[&crate::job::State::Ready], 1);
        assert!(!rt
            .block_on(restore(
                &Target::Local(d.path().join("none")),
                &d.path().join("db3")
            ))
            .unwrap());
    }
}
