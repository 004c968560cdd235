//! A context's remote (docs/disdat.md §7): `<url>/context/<remote>/objects/<uuid>/…` holds the
//! same files as the local bundle directory, with no index. S3 (`s3://bucket/prefix`) as
//! Disdat has it, and `file:///dir` beyond it, both through object_store.
//!
//! Order is what keeps a reader safe: a push writes a bundle's data and frames before its
//! hyperframe, and a pull writes them locally before the hyperframe and the index row, so a
//! bundle whose parts are missing is never seen on either side; a transfer cut short is finished
//! by running it again.
//!
//! S3 credentials and region are found as the AWS CLI finds them: the environment
//! (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_DEFAULT_REGION/AWS_REGION),
//! else the profile (AWS_PROFILE, default `default`) in ~/.aws/credentials and ~/.aws/config
//! (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE). AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL,
//! point it at another S3 server.

use crate::context::Context;
use crate::pb::HyperFrame;
use crate::{io, write_atomic, Error};
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use prost::Message;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Result<T, E = RemoteError> = std::result::Result<T, E>;

/// Transfers in flight at once.
const PARALLEL: usize = 16;
/// Files larger than this go up in parts of this size, up to PARTS_IN_FLIGHT at once (the AWS
/// CLI's own defaults: 8 MiB, 10).
const PART: usize = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 10;

/// Why a remote could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{url}: expected s3://BUCKET[/PREFIX] or file:///DIRECTORY")]
    Url { url: String },
    #[error("Unable to bind context {remote} because bucket {bucket} does not exist.")]
    NoBucket { remote: String, bucket: String },
    #[error("{url}: {source}")]
    Store {
        url: String,
        source: object_store::Error,
    },
    #[error(transparent)]
    Local(#[from] Error),
}

pub struct Remote {
    store: Arc<dyn ObjectStore>,
    /// The remote context's name and the bucket (or directory), for `NoBucket`.
    remote: String,
    bucket: String,
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

/// `s3://bucket/prefix` → (bucket, prefix); `file:///dir` → (dir, "").
fn split(url: &str) -> Result<(&str, &str, &str)> {
    let bad = || RemoteError::Url {
        url: url.to_string(),
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    match scheme {
        "s3" => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad());
            }
            Ok(("s3", bucket, prefix.trim_matches('/')))
        }
        "file" if rest.starts_with('/') => Ok(("file", rest, "")),
        _ => Err(bad()),
    }
}

/// The value `ctxt.json` keeps for a remote URL: `<url>/context`.
pub fn context_url(url: &str) -> String {
    format!("{}/context", url.trim_end_matches('/'))
}

fn ini_section(path: &Path, section: &str) -> BTreeMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
        } else if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }
    out
}

fn s3_store(bucket: &str, profile: Option<&str>) -> object_store::Result<Arc<dyn ObjectStore>> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
    let home = env("HOME").map(PathBuf::from).unwrap_or_default();
    let profile = profile
        .map(str::to_string)
        .or_else(|| env("AWS_PROFILE"))
        .unwrap_or_else(|| "default".into());
    if env("AWS_ACCESS_KEY_ID").is_none() {
        let creds = ini_section(
            &env("AWS_SHARED_CREDENTIALS_FILE")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".aws/credentials")),
            &profile,
        );
        if let Some(v) = creds.get("aws_access_key_id") {
            b = b.with_access_key_id(v);
        }
        if let Some(v) = creds.get("aws_secret_access_key") {
            b = b.with_secret_access_key(v);
        }
        if let Some(v) = creds.get("aws_session_token") {
            b = b.with_token(v);
        }
    }
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| {
            let section = if profile == "default" {
                "default".to_string()
            } else {
                format!("profile {profile}")
            };
            ini_section(
                &env("AWS_CONFIG_FILE")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| home.join(".aws/config")),
                &section,
            )
            .get("region")
            .cloned()
        });
    if let Some(r) = region {
        b = b.with_region(r);
    }
    if let Some(endpoint) = env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")) {
        b = b
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint);
    }
    // Every object is stored encrypted (SSE-S3), as Python Disdat asks for it.
    if env("AWS_SERVER_SIDE_ENCRYPTION").is_none() {
        if let Ok(key) = "aws_server_side_encryption".parse() {
            b = b.with_config(key, "AES256");
        }
    }
    // A SHA-256 checksum goes with every object and part (AWS_CHECKSUM_ALGORITHM may name
    // another): the server verifies what it stores, as it does for the AWS CLI's CRC32, and an
    // S3 server that would otherwise checksum the whole object at completion checksums parts.
    if env("AWS_CHECKSUM_ALGORITHM").is_none() {
        b = b.with_checksum_algorithm(object_store::aws::Checksum::SHA256);
    }
    // A dead server costs seconds, not object_store's default three minutes of retries.
    b = b.with_retry(object_store::RetryConfig {
        backoff: Default::default(),
        max_retries: 3,
        retry_timeout: std::time::Duration::from_secs(20),
    });
    Ok(Arc::new(b.build()?))
}

impl Remote {
    /// The remote `remote` of a context bound to `url` (as given to `dsdt remote`, without
    /// `/context`).
    pub fn open(url: &str, remote: &str, profile: Option<&str>) -> Result<Remote> {
        let (scheme, bucket, prefix) = split(url)?;
        let store_err = |source| RemoteError::Store {
            url: url.to_string(),
            source,
        };
        let store: Arc<dyn ObjectStore> = match scheme {
            "s3" => s3_store(bucket, profile).map_err(store_err)?,
            _ => {
                if !Path::new(bucket).is_dir() {
                    return Err(RemoteError::NoBucket {
                        remote: remote.to_string(),
                        bucket: bucket.to_string(),
                    });
                }
                Arc::new(
                    object_store::local::LocalFileSystem::new_with_prefix(bucket)
                        .map_err(store_err)?,
                )
            }
        };
        let objects = if prefix.is_empty() {
            format!("context/{remote}/objects")
        } else {
            format!("{prefix}/context/{remote}/objects")
        };
        Ok(Remote {
            store,
            remote: remote.to_string(),
            bucket: bucket.to_string(),
            objects,
            objects_url: format!("{}/{remote}/objects", context_url(url)),
        })
    }

    fn err(&self, source: object_store::Error) -> RemoteError {
        RemoteError::Store {
            url: self.objects_url.clone(),
            source,
        }
    }

    fn key(&self, rel: &str) -> Key {
        Key::from(format!("{}/{rel}", self.objects))
    }

    /// Whether the bucket (or directory) answers; `NoBucket` when it does not exist.
    pub async fn check(&self) -> Result<()> {
        match self
            .store
            .list_with_delimiter(Some(&Key::from(self.objects.as_str())))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("NoSuchBucket") => Err(RemoteError::NoBucket {
                remote: self.remote.clone(),
                bucket: self.bucket.clone(),
            }),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Every object under the remote's objects, as `<uuid>/<rel>`.
    pub async fn keys(&self) -> Result<HashSet<String>> {
        let prefix = Key::from(self.objects.as_str());
        let metas: Vec<_> = self
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
        let key = self.key(rel);
        let len = std::fs::metadata(local).map_err(io(local))?.len();
        if len as usize <= PART {
            let bytes = tokio::fs::read(local).await.map_err(io(local))?;
            self.store
                .put(&key, PutPayload::from(bytes))
                .await
                .map_err(|e| self.err(e))?;
        } else {
            use tokio::io::AsyncReadExt;
            let upload = self
                .store
                .put_multipart(&key)
                .await
                .map_err(|e| self.err(e))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
            let mut file = tokio::fs::File::open(local).await.map_err(io(local))?;
            let mut buf = vec![0u8; 4 * 1024 * 1024];
            loop {
                let n = file.read(&mut buf).await.map_err(io(local))?;
                if n == 0 {
                    break;
                }
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| self.err(e))?;
                writer.write(&buf[..n]);
            }
            writer.finish().await.map_err(|e| self.err(e))?;
        }
        Ok(len)
    }

    async fn download(&self, rel: &str, local: &Path) -> Result<u64> {
        if !crate::inside_bundle(rel) {
            return Err(RemoteError::Local(Error::Malformed {
                path: local.to_path_buf(),
                message: format!("remote key {rel:?} would leave the bundle's directory"),
            }));
        }
        let got = self
            .store
            .get(&self.key(rel))
            .await
            .map_err(|e| self.err(e))?;
        let dir = local.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        // Into a temp file beside it, renamed when complete: a pull cut short leaves no part.
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
        let mut file = tokio::fs::File::from_std(tmp.reopen().map_err(io(local))?);
        let mut stream = got.into_stream();
        let mut n = 0u64;
        use tokio::io::AsyncWriteExt;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.err(e))?;
            n += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(io(local))?;
        }
        file.flush().await.map_err(io(local))?;
        drop(file);
        // As Python Disdat leaves pulled files (a temp file is 0600).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(io(local))?;
        tmp.persist(local).map_err(|e| Error::Io {
            path: local.to_path_buf(),
            source: e.error,
        })?;
        Ok(n)
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
        assert_eq!(split("s3://b/p/q/").unwrap(), ("s3", "b", "p/q"));
        assert_eq!(split("s3://b").unwrap(), ("s3", "b", ""));
        assert_eq!(split("file:///tmp/r").unwrap(), ("file", "/tmp/r", ""));
        assert!(split("http://b/p").is_err());
        assert!(split("file://relative").is_err());
        assert_eq!(context_url("s3://b/p/"), "s3://b/p/context");
    }
}
