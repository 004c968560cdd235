//! One exclusive lock per service instance, so that two runs (cron overlapping a slow run, or an
//! operator by hand) never act on the same instance at once. An advisory lock on a file in the
//! lock directory: the kernel drops it when the holder dies, so a killed run leaves no stale lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The lock file could not be made or locked (not: another process holds it).
#[derive(Debug, thiserror::Error)]
#[error("{what} {}: {source}", path.display())]
pub struct LockError {
    pub what: &'static str,
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Held while alive.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    pub path: PathBuf,
}

/// Takes the lock of `service.instance` in `dir`, waiting up to `wait`; None when another
/// process still holds it then.
pub fn acquire(
    dir: &Path,
    service: &str,
    instance: &str,
    wait: Duration,
) -> Result<Option<InstanceLock>, LockError> {
    let fail = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| LockError { what, path, source }
    };
    std::fs::create_dir_all(dir).map_err(fail("creating the lock directory", dir))?;
    let path = dir.join(format!("{service}.{instance}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(fail("opening the lock", &path))?;
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(InstanceLock { _file: file, path })),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(fail("locking", &path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let wait = std::time::Duration::ZERO;
        let first = super::acquire(dir.path(), "s", "i", wait).unwrap();
        assert!(first.is_some());
        assert!(super::acquire(dir.path(), "s", "i", wait)
            .unwrap()
            .is_none());
        assert!(super::acquire(dir.path(), "s", "other", wait)
            .unwrap()
            .is_some());
        drop(first);
        assert!(super::acquire(dir.path(), "s", "i", wait)
            .unwrap()
            .is_some());
    }
}
