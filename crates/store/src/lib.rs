//! Object stores from URLs, shared by Disdat remotes (bundle) and wr's database backup (wr).
//!
//! `s3://bucket[/prefix]` is S3; `file:///dir` is a directory. S3 credentials and region are
//! found as the AWS CLI finds them: the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
//! AWS_SESSION_TOKEN, AWS_DEFAULT_REGION/AWS_REGION), else the profile (the one asked for, else
//! AWS_PROFILE, else `default`) in ~/.aws/credentials and ~/.aws/config
//! (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE). AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL,
//! point it at another S3 server.
//!
//! Objects go up with server-side encryption AES256 (AWS_SERVER_SIDE_ENCRYPTION chooses another)
//! and a SHA-256 checksum (AWS_CHECKSUM_ALGORITHM chooses another). A file comes down into a temp
//! file beside its destination and is renamed when complete, so a transfer cut short leaves no
//! part behind. `write_file` and `remove_file` are that local end for files written whole:
//! Disdat's index files, wr's keys, tokens and pid file, its database backups.

use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Files larger than this go up in parts of this size, up to PARTS_IN_FLIGHT at once (the AWS
/// CLI's own defaults: 8 MiB, 10).
const PART: usize = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 10;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{url}: expected s3://BUCKET[/PREFIX] or file:///DIRECTORY")]
    Url { url: String },
    #[error("{url}: {source}")]
    Store {
        url: String,
        source: object_store::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the server said the bucket does not exist.
    pub fn is_no_bucket(&self) -> bool {
        matches!(self, Error::Store { source, .. } if source.to_string().contains("NoSuchBucket"))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` whole or not at all: a temp file beside it (created 0600), synced,
/// given `mode`, renamed over `path`.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Removes the file at `path`; one that is not there is no error.
pub fn remove_file(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A store opened from a URL: the bucket (or directory) and the key prefix inside it.
pub struct Store {
    pub store: Arc<dyn ObjectStore>,
    /// The URL as given, for messages.
    pub url: String,
    pub scheme: Scheme,
    /// The bucket, or the directory of a `file://` URL.
    pub bucket: String,
    /// The key prefix, without slashes at either end; "" for none.
    pub prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    S3,
    File,
}

/// `s3://bucket/prefix` → (S3, bucket, prefix); `file:///dir` → (File, dir, "").
pub fn split(url: &str) -> Result<(Scheme, &str, &str)> {
    let bad = || Error::Url {
        url: url.to_string(),
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    match scheme {
        "s3" => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad());
            }
            Ok((Scheme::S3, bucket, prefix.trim_matches('/')))
        }
        "file" if rest.starts_with('/') => Ok((Scheme::File, rest, "")),
        _ => Err(bad()),
    }
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

/// AWS credentials and region as the AWS CLI finds them (the module's doc says where).
#[derive(Debug, Clone, Default)]
pub struct Aws {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    /// The profile looked in.
    pub profile: String,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

impl Aws {
    /// `profile`, else AWS_PROFILE, else `default`.
    pub fn find(profile: Option<&str>) -> Aws {
        let home = env("HOME").map(PathBuf::from).unwrap_or_default();
        let profile = profile
            .map(str::to_string)
            .or_else(|| env("AWS_PROFILE"))
            .unwrap_or_else(|| "default".into());
        let mut aws = Aws {
            profile: profile.clone(),
            ..Default::default()
        };
        if env("AWS_ACCESS_KEY_ID").is_some() {
            aws.access_key_id = env("AWS_ACCESS_KEY_ID");
            aws.secret_access_key = env("AWS_SECRET_ACCESS_KEY");
            aws.session_token = env("AWS_SESSION_TOKEN");
        } else {
            let creds = ini_section(
                &env("AWS_SHARED_CREDENTIALS_FILE")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| home.join(".aws/credentials")),
                &profile,
            );
            aws.access_key_id = creds.get("aws_access_key_id").cloned();
            aws.secret_access_key = creds.get("aws_secret_access_key").cloned();
            aws.session_token = creds.get("aws_session_token").cloned();
        }
        aws.region = env("AWS_REGION")
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
        aws
    }

    /// Where to send requests for `service` (e.g. `s3`, `batch`): AWS_ENDPOINT_URL_<SERVICE>,
    /// then AWS_ENDPOINT_URL; None for AWS's own.
    pub fn endpoint(service: &str) -> Option<String> {
        env(&format!(
            "AWS_ENDPOINT_URL_{}",
            service.to_ascii_uppercase()
        ))
        .or_else(|| env("AWS_ENDPOINT_URL"))
    }
}

fn s3_store(bucket: &str, profile: Option<&str>) -> object_store::Result<Arc<dyn ObjectStore>> {
    let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
    let aws = Aws::find(profile);
    if let Some(v) = &aws.access_key_id {
        b = b.with_access_key_id(v);
    }
    if let Some(v) = &aws.secret_access_key {
        b = b.with_secret_access_key(v);
    }
    if let Some(v) = &aws.session_token {
        b = b.with_token(v);
    }
    if let Some(r) = &aws.region {
        b = b.with_region(r);
    }
    if let Some(endpoint) = Aws::endpoint("s3") {
        b = b
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint);
    }
    if env("AWS_SERVER_SIDE_ENCRYPTION").is_none() {
        if let Ok(key) = "aws_server_side_encryption".parse() {
            b = b.with_config(key, "AES256");
        }
    }
    // The server verifies what it stores, and an S3 server that would otherwise checksum the
    // whole object at completion checksums each part instead.
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

impl Store {
    /// Opens `url`; `profile` names the AWS profile (else AWS_PROFILE, else `default`). A
    /// `file://` directory must exist.
    pub fn open(url: &str, profile: Option<&str>) -> Result<Store> {
        let (scheme, bucket, prefix) = split(url)?;
        let store_err = |source| Error::Store {
            url: url.to_string(),
            source,
        };
        let store: Arc<dyn ObjectStore> = match scheme {
            Scheme::S3 => s3_store(bucket, profile).map_err(store_err)?,
            Scheme::File => Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(bucket).map_err(store_err)?,
            ),
        };
        Ok(Store {
            store,
            url: url.to_string(),
            scheme,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The key of `rel` under the prefix.
    pub fn key(&self, rel: &str) -> Key {
        if self.prefix.is_empty() {
            Key::from(rel)
        } else {
            Key::from(format!("{}/{rel}", self.prefix))
        }
    }

    pub fn err(&self, source: object_store::Error) -> Error {
        Error::Store {
            url: self.url.clone(),
            source,
        }
    }

    /// Sends the file `local` to `key` (in parts when large). Returns its bytes.
    pub async fn upload(&self, local: &Path, key: &Key) -> Result<u64> {
        let len = std::fs::metadata(local).map_err(io(local))?.len();
        if len as usize <= PART {
            let bytes = tokio::fs::read(local).await.map_err(io(local))?;
            self.store
                .put(key, PutPayload::from(bytes))
                .await
                .map_err(|e| self.err(e))?;
        } else {
            use tokio::io::AsyncReadExt;
            let upload = self
                .store
                .put_multipart(key)
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

    /// Fetches `key` into the file `local` with permissions `mode`, through a temp file beside
    /// it renamed when complete. Returns its bytes.
    pub async fn download(&self, key: &Key, local: &Path, mode: u32) -> Result<u64> {
        let got = self.store.get(key).await.map_err(|e| self.err(e))?;
        let dir = local.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io(dir))?;
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
        file.sync_all().await.map_err(io(local))?;
        drop(file);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
            .map_err(io(local))?;
        tmp.persist(local).map_err(|e| Error::Io {
            path: local.to_path_buf(),
            source: e.error,
        })?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(split("s3://b/p/q/").unwrap(), (Scheme::S3, "b", "p/q"));
        assert_eq!(split("s3://b").unwrap(), (Scheme::S3, "b", ""));
        assert_eq!(
            split("file:///tmp/r").unwrap(),
            (Scheme::File, "/tmp/r", "")
        );
        assert!(split("http://b/p").is_err());
        assert!(split("file://relative").is_err());
        assert!(split("s3:///p").is_err());
    }

    #[test]
    fn files_are_written_whole_with_their_mode_and_removed_once() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        write_file(&p, b"one", 0o600).unwrap();
        write_file(&p, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
        remove_file(&p).unwrap();
        remove_file(&p).unwrap();
        assert!(write_file(&dir.path().join("no/such/dir/f"), b"x", 0o644).is_err());
    }

    #[test]
    fn file_round_trip_leaves_no_part() {
        let dir = tempfile::tempdir().unwrap();
        let remote = dir.path().join("remote");
        std::fs::create_dir(&remote).unwrap();
        let s = Store::open(&format!("file://{}", remote.display()), None).unwrap();
        let src = dir.path().join("a");
        std::fs::write(&src, b"hello").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(s.upload(&src, &s.key("x/y")).await.unwrap(), 5);
            let back = dir.path().join("back/b");
            assert_eq!(s.download(&s.key("x/y"), &back, 0o600).await.unwrap(), 5);
            assert_eq!(std::fs::read(&back).unwrap(), b"hello");
            assert!(s
                .download(&s.key("nope"), &dir.path().join("back/c"), 0o600)
                .await
                .is_err());
            assert_eq!(
                std::fs::read_dir(dir.path().join("back")).unwrap().count(),
                1
            );
        });
    }
}
