//! `ctxt.db`, the sqlite index of a context, kept as Python Disdat 1.2.0 keeps it
//! (docs/disdat.md §5): Python trusts an existing index, so every bundle we write or remove is
//! written into it too; a missing index is rebuilt from the `.pb` files.

use crate::pb::{Frame, HyperFrame};
use crate::{Error, Result};
use prost::Message;
use rusqlite::{params, Connection};
use std::path::{Path, PathBuf};

pub struct Index {
    conn: Connection,
    path: PathBuf,
}

/// `creation_date` as Python's `datetime.utcfromtimestamp(t).isoformat(" ")` writes it.
pub fn date_text(t: f64) -> String {
    crate::pyrepr::datetime(t, false)
}

impl Index {
    /// Opens the context's index, rebuilding it from `objects/` when it is missing.
    pub fn open(context_dir: &Path) -> Result<Index> {
        let path = context_dir.join("ctxt.db");
        let fresh = !path.exists();
        let conn = Connection::open(&path).map_err(|source| Error::Index {
            path: path.clone(),
            source,
        })?;
        let index = Index { conn, path };
        index.sql(|c| {
            c.execute_batch(
                "CREATE TABLE IF NOT EXISTS hframes (uuid TEXT PRIMARY KEY, owner TEXT, human_name TEXT, processing_name TEXT, creation_date TEXT, state TEXT, pb BLOB);
                 CREATE TABLE IF NOT EXISTS hframes_tags (key TEXT, uuid TEXT, value TEXT, UNIQUE (key, uuid));",
            )
        })?;
        if fresh {
            index.rebuild(&context_dir.join("objects"))?;
        }
        Ok(index)
    }

    fn sql<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        f(&self.conn).map_err(|source| Error::Index {
            path: self.path.clone(),
            source,
        })
    }

    /// Indexes every complete bundle under `objects` (its hyperframe and every frame present).
    pub fn rebuild(&self, objects: &Path) -> Result<usize> {
        let mut n = 0;
        let Ok(dirs) = std::fs::read_dir(objects) else {
            return Ok(0);
        };
        for d in dirs.filter_map(|d| d.ok()) {
            let Some(uuid) = d.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let hf_path = d.path().join(format!("{uuid}_hframe.pb"));
            let Ok(bytes) = std::fs::read(&hf_path) else {
                continue;
            };
            let Ok(hf) = HyperFrame::decode(bytes.as_slice()) else {
                continue;
            };
            let complete = hf.frames.iter().all(|f| {
                std::fs::read(d.path().join(format!("{}_frame.pb", f.v)))
                    .is_ok_and(|b| Frame::decode(b.as_slice()).is_ok())
            });
            if complete {
                self.insert(&hf)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Inserts (or replaces) a bundle's rows.
    pub fn insert(&self, hf: &HyperFrame) -> Result<()> {
        let pb = hf.encode_to_vec();
        self.sql(|c| {
            let tx = c.unchecked_transaction()?;
            tx.execute("DELETE FROM hframes WHERE uuid = ?1", params![hf.uuid])?;
            tx.execute("DELETE FROM hframes_tags WHERE uuid = ?1", params![hf.uuid])?;
            tx.execute(
                "INSERT INTO hframes (uuid, owner, human_name, processing_name, creation_date, state, pb) VALUES (?1, ?2, ?3, ?4, ?5, 'valid', ?6)",
                params![
                    hf.uuid,
                    hf.owner,
                    hf.human_name,
                    hf.processing_name,
                    date_text(hf.creation_date()),
                    pb
                ],
            )?;
            for t in &hf.tags {
                tx.execute(
                    "INSERT OR REPLACE INTO hframes_tags (key, uuid, value) VALUES (?1, ?2, ?3)",
                    params![t.k, hf.uuid, t.v],
                )?;
            }
            tx.commit()
        })
    }

    pub fn delete(&self, uuid: &str) -> Result<()> {
        self.sql(|c| {
            c.execute("DELETE FROM hframes WHERE uuid = ?1", params![uuid])?;
            c.execute("DELETE FROM hframes_tags WHERE uuid = ?1", params![uuid])?;
            Ok(())
        })
    }

    /// Every valid bundle, newest first (`creation_date` compared as text, as Python does).
    pub fn all(&self) -> Result<Vec<HyperFrame>> {
        let blobs: Vec<(String, Vec<u8>)> = self.sql(|c| {
            let mut st = c.prepare(
                "SELECT uuid, pb FROM hframes WHERE state = 'valid' ORDER BY creation_date DESC",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })?;
        blobs
            .into_iter()
            .map(|(uuid, pb)| {
                HyperFrame::decode(pb.as_slice()).map_err(|e| Error::Malformed {
                    path: self.path.clone(),
                    message: format!("bundle {uuid}: its indexed hyperframe does not decode: {e}"),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::date_text;

    #[test]
    fn dates_as_python_writes_them() {
        assert_eq!(date_text(1795886351.1324291), "2026-11-28 17:19:11.132429");
        assert_eq!(date_text(1795886351.8753288), "2026-11-28 17:19:11.875329");
        assert_eq!(date_text(1795886351.0), "2026-11-28 17:19:11");
    }
}
