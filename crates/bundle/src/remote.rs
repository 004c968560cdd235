//! A context's remote (docs/disdat.md §7): `<url>/context/<remote>/objects/<uuid>/…` holds the
//! same files as the local bundle directory, with no index. S3 (`s3://bucket/prefix`) as
//! Disdat has it, and `file:///dir` beyond it, both through object_store.
//!
//! Order is what keeps a reader safe: a push writes a bundle's data and frames before its
//! hyperframe, and a pull writes them locally before the hyperframe and the index row, so a
//! bundle whose parts are missing is never seen on either side; a transfer cut short is finished
//! by running it again. Credentials, endpoints and the transfers themselves: the `store` crate.

use crate::context::Context;
use crate::pb::HyperFrame;
use crate::{write_atomic, Error};
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use prost::Message;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use store::{Scheme, Store};

type Result<T, E = RemoteError> = std::result::Result<T, E>;

/// Transfers in flight at once.
const PARALLEL: usize = 16;

/// Why a remote could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("Unable to bind context {remote} because bucket {bucket} does not exist.")]
    NoBucket { remote: String, bucket: String },
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Local(#[from] Error),
}

pub struct Remote {
    store: Store,
    /// The remote context's name, for `NoBucket`.
    remote: String,
    /// The key prefix of the objects: `[<prefix>/]context/<remote>/objects`.
    objects: String,
    /// `<url>/context/<remote>/objects`, for messages and unlocalized links.
    pub objects_url: String,
}

/// The files a push sends, as (local path, key under the objects prefix).
#[derive(Debug, Default)]
pub struct PushPlan {
    first: Vec<(PathBuf, String)>,
    /// Hyperframes: a bundle becomes visible when its hyperframe lands.
    last: Vec<(PathBuf, String)>,
}

impl PushPlan {
    /// How many objects it sends.
    pub fn len(&self) -> usize {
        self.first.len() + self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The value `ctxt.json` keeps for a remote URL: `<url>/context`.
pub fn context_url(url: &str) -> String {
    format!("{}/context", url.trim_end_matches('/'))
}

impl Remote {
    /// The remote `remote` of a context bound to `url` (as given to `dsdt remote`, without
    /// `/context`).
    pub fn open(url: &str, remote: &str, profile: Option<&str>) -> Result<Remote> {
        if let (Scheme::File, dir, _) = store::split(url)? {
            if !Path::new(dir).is_dir() {
                return Err(RemoteError::NoBucket {
                    remote: remote.to_string(),
                    bucket: dir.to_string(),
                });
            }
        }
        let store = Store::open(url, profile)?;
        let objects = if store.prefix.is_empty() {
            format!("context/{remote}/objects")
        } else {
            format!("{}/context/{remote}/objects", store.prefix)
        };
        Ok(Remote {
            store,
            remote: remote.to_string(),
            objects,
            objects_url: format!("{}/{remote}/objects", context_url(url)),
        })
    }

    fn err(&self, source: object_store::Error) -> RemoteError {
        RemoteError::Store(store::Error::Store {
            url: self.objects_url.clone(),
            source,
        })
    }

    fn key(&self, rel: &str) -> Key {
        Key::from(format!("{}/{rel}", self.objects))
    }

    /// Whether the bucket (or directory) answers; `NoBucket` when it does not exist.
    pub async fn check(&self) -> Result<()> {
        match self
            .store
            .store
            .list_with_delimiter(Some(&Key::from(self.objects.as_str())))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match self.err(e) {
                RemoteError::Store(e) if e.is_no_bucket() => Err(RemoteError::NoBucket {
                    remote: self.remote.clone(),
                    bucket: self.store.bucket.clone(),
                }),
                e => Err(e),
            },
        }
    }

    /// Every object under the remote's objects, as `<uuid>/<rel>`.
    pub async fn keys(&self) -> Result<HashSet<String>> {
        let prefix = Key::from(self.objects.as_str());
        let metas: Vec<_> = self
            .store
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.err(e))?;
        let strip = format!("{}/", self.objects);
        Ok(metas
            .into_iter()
            .filter_map(|m| m.location.as_ref().strip_prefix(&strip).map(str::to_string))
            .collect())
    }

    async fn upload(&self, local: &Path, rel: &str) -> Result<u64> {
        Ok(self.store.upload(local, &self.key(rel)).await?)
    }

    async fn download(&self, rel: &str, local: &Path) -> Result<u64> {
        if !crate::inside_bundle(rel) {
            return Err(RemoteError::Local(Error::Malformed {
                path: local.to_path_buf(),
                message: format!("remote key {rel:?} would leave the bundle's directory"),
            }));
        }
        // As Python Disdat leaves pulled files.
        Ok(self.store.download(&self.key(rel), local, 0o644).await?)
    }

    /// What a push of `bundles` sends: every file of each (only those the remote lacks when
    /// `skip_present`, from one listing), hyperframes apart so they go last.
    pub async fn plan_push(
        &self,
        ctx: &Context,
        bundles: &[HyperFrame],
        skip_present: bool,
    ) -> Result<PushPlan> {
        let present = if skip_present {
            self.keys().await?
        } else {
            HashSet::new()
        };
        let mut plan = PushPlan::default();
        for hf in bundles {
            let dir = ctx.bundle_dir(&hf.uuid);
            let mut files = Vec::new();
            crate::context::walk_files(&dir, &dir, &mut files)?;
            for (path, rel) in files {
                let key = format!("{}/{rel}", hf.uuid);
                if present.contains(&key) {
                    continue;
                }
                if rel == format!("{}_hframe.pb", hf.uuid) {
                    plan.last.push((path, key));
                } else {
                    plan.first.push((path, key));
                }
            }
        }
        Ok(plan)
    }

    /// Sends a plan: data and frames first, then the hyperframes. Returns how many objects went
    /// up and their bytes.
    pub async fn push(
        &self,
        plan: PushPlan,
        progress: &dyn Fn(usize, usize),
    ) -> Result<(usize, u64)> {
        let PushPlan { first, last } = plan;
        let total = first.len() + last.len();
        let mut done = 0;
        let mut bytes = 0;
        for phase in [first, last] {
            let mut s = futures_util::stream::iter(phase)
                .map(|(path, key)| async move { self.upload(&path, &key).await })
                .buffer_unordered(PARALLEL);
            while let Some(r) = s.next().await {
                bytes += r?;
                done += 1;
                progress(done, total);
            }
        }
        Ok((total, bytes))
    }

    /// Pulls the remote's bundles into `ctx`: for each bundle not here (or every one named by
    /// `want`), its frames, then (with `localize`) its data, then its hyperframe and index row.
    /// Returns the bundles pulled and the objects fetched.
    pub async fn pull(
        &self,
        ctx: &Context,
        want: &dyn Fn(&HyperFrame) -> bool,
        localize: bool,
        progress: &dyn Fn(usize, usize),
    ) -> Result<(Vec<HyperFrame>, usize)> {
        let keys = self.keys().await?;
        let mut by_bundle: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for k in &keys {
            if let Some((uuid, rel)) = k.split_once('/') {
                by_bundle
                    .entry(uuid.to_string())
                    .or_default()
                    .push(rel.to_string());
            }
        }
        // Only bundles whose hyperframe is there are bundles (a push cut short is not one).
        let mut chosen = Vec::new();
        for (uuid, rels) in by_bundle {
            let hf_rel = format!("{uuid}_hframe.pb");
            if !rels.contains(&hf_rel) {
                continue;
            }
            let local_hf = ctx.bundle_dir(&uuid).join(&hf_rel);
            let here = local_hf.exists();
            if here && !localize {
                continue;
            }
            let bytes = self
                .store
                .store
                .get(&self.key(&format!("{uuid}/{hf_rel}")))
                .await
                .map_err(|e| self.err(e))?
                .bytes()
                .await
                .map_err(|e| self.err(e))?;
            let hf = HyperFrame::decode(bytes.as_ref()).map_err(|e| Error::Malformed {
                path: PathBuf::from(format!("{}/{uuid}/{hf_rel}", self.objects_url)),
                message: format!("not a HyperFrame: {e}"),
            })?;
            if want(&hf) {
                chosen.push((hf, bytes, here, rels));
            }
        }
        let mut fetch = Vec::new();
        // Frames, and data files with `localize`, that are not here yet; the hyperframe last.
        for (hf, _, _, rels) in &chosen {
            let hf_rel = format!("{}_hframe.pb", hf.uuid);
            for rel in rels {
                let wanted = *rel != hf_rel && (localize || rel.ends_with("_frame.pb"));
                let local = ctx.bundle_dir(&hf.uuid).join(rel);
                if wanted && !local.exists() {
                    fetch.push((format!("{}/{rel}", hf.uuid), local));
                }
            }
        }
        let total = fetch.len() + chosen.iter().filter(|c| !c.2).count();
        let mut done = 0;
        let mut s = futures_util::stream::iter(fetch)
            .map(|(key, local)| async move { self.download(&key, &local).await })
            .buffer_unordered(PARALLEL);
        while let Some(r) = s.next().await {
            r?;
            done += 1;
            progress(done, total);
        }
        drop(s);
        let mut pulled = Vec::new();
        for (hf, bytes, here, _) in chosen {
            if !here {
                // Every frame is here and reads, before the hyperframe makes it a bundle.
                ctx.frames(&hf)?;
                let path = ctx
                    .bundle_dir(&hf.uuid)
                    .join(format!("{}_hframe.pb", hf.uuid));
                write_atomic(&path, &bytes, 0o644)?;
                ctx.index_insert(&hf)?;
                done += 1;
                progress(done, total);
            }
            pulled.push(hf);
        }
        Ok((pulled, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(context_url("s3://b/p/"), "s3://b/p/context");
        assert!(Remote::open("http://b/p", "r", None).is_err());
    }
}
