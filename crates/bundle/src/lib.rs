//! Disdat bundles, kept on disk exactly as Python Disdat 1.2.0 keeps them (docs/disdat.md), so
//! a team can use either tool on the same tree: the Disdat config and `.disdat/` root
//! (`root`), contexts with their objects and `ctxt.db` index (`context`, `index`), the
//! HyperFrame/Frame/Link messages and their hash rule (`pb`), and the text Disdat prints for a
//! bundle's value (`pyrepr`).
//!
//! Reads and writes files only: no process is spawned. Writes are atomic (a temp file in the
//! same directory, then rename); a bundle's frames are written before its hyperframe, the commit
//! point; one writer at a time per context (an advisory lock the kernel drops when the holder
//! dies).

pub mod context;
pub mod index;
pub mod pb;
pub mod pyrepr;
pub mod remote;
pub mod root;
pub mod values;

pub use context::{Context, Filter, Origin, Run};
pub use root::Disdat;

use std::path::{Path, PathBuf};

/// What went wrong, naming the context, bundle or file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Malformed { path: PathBuf, message: String },
    #[error("{}: the index: {source}", path.display())]
    Index {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("Did not find Disdat configuration. Call \"dsdt init\" to initialize Disdat.")]
    NotInitialized,
    #[error("context {0}: not found (dsdt context lists them; dsdt context NAME makes one)")]
    NoContext(String),
    #[error("no current context: dsdt switch NAME picks one")]
    NoCurrentContext,
    #[error("context {context}: bundle {bundle}: {message}")]
    Bundle {
        context: String,
        bundle: String,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` through a temp file in the same directory and a rename, so a reader
/// sees the old file or the new one, never a part. `mode` sets the file's permission bits.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    store::write_file(path, bytes, mode).map_err(io(path))
}

/// A path relative to a bundle's directory that stays inside it: no `..`, not absolute.
pub fn inside_bundle(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn safe_paths() {
        assert!(super::inside_bundle("t.csv"));
        assert!(super::inside_bundle("sub/two.txt"));
        assert!(!super::inside_bundle("../x"));
        assert!(!super::inside_bundle("/etc/passwd"));
        assert!(!super::inside_bundle("a/../../x"));
        assert!(!super::inside_bundle(""));
    }
}
