//! A service repository's tags through the git command: reading them as `git ls-remote
//! <git_url>` lists them (generate-deployments), and adding one (service-ctl's control tags).
//!
//! A `git_url` that is a local path (or `file://`) is read with `git show-ref -d --tags` on the
//! repository itself: the same refs, without the upload-pack process ls-remote spawns, which
//! matters when a master reads a thousand repositories every minute. (`for-each-ref` with
//! `%(*objectname)` opens every tag's object to peel it, 13x slower on 20,000 tags; show-ref
//! uses the peeled values packed-refs already holds.) Any other URL goes through
//! `git ls-remote --tags`, with prompts disabled and a time limit, so a dead remote fails fast
//! instead of hanging the cron run. Annotated tags count as the commit they point at.
//!
//! A tag is added to a repository on this machine with `update-ref` (refusing to move an
//! existing one); to a remote by pushing from a throwaway shallow clone of the one ref that holds
//! the commit, as the remote already has every object, nothing but the ref travels.

use crate::deployments::GitRef;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
#[error("cannot read the tags of {url}: {reason}")]
pub struct GitError {
    pub url: String,
    pub reason: String,
}

/// Where a `git_url` points: a repository on this machine, or a remote git understands.
#[derive(Debug, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Remote(String),
}

pub fn locate(url: &str) -> Location {
    if let Some(path) = url.strip_prefix("file://") {
        return Location::Local(PathBuf::from(path));
    }
    if url.contains("://") {
        return Location::Remote(url.to_string());
    }
    // scp-like syntax (git@host:path) has a ':' before any '/'.
    match (url.find(':'), url.find('/')) {
        (Some(colon), Some(slash)) if colon < slash => Location::Remote(url.to_string()),
        (Some(_), None) => Location::Remote(url.to_string()),
        _ => Location::Local(PathBuf::from(url)),
    }
}

/// The tags of the repository at `url`, sorted by name.
pub fn list_tags(url: &str, timeout: Duration) -> Result<Vec<GitRef>, GitError> {
    let fail = |reason: String| GitError {
        url: url.to_string(),
        reason,
    };
    match locate(url) {
        Location::Local(path) => {
            let git_dir = local_git_dir(&path).ok_or_else(|| {
                fail(format!(
                    "{} is not a git repository (no such directory)",
                    path.display()
                ))
            })?;
            let out = run(
                Command::new("git")
                    .arg("--git-dir")
                    .arg(&git_dir)
                    .args(["show-ref", "-d", "--tags"]),
                None,
            );
            match out {
                Ok(out) => Ok(parse_ref_lines(&out, ' ')),
                // show-ref exits 1, saying nothing, when there is no tag at all.
                Err(reason) if reason.is_empty() => Ok(Vec::new()),
                Err(reason) => Err(fail(reason)),
            }
        }
        Location::Remote(remote) => {
            let out = run(
                Command::new("git")
                    .args(["ls-remote", "--tags", &remote])
                    .env("GIT_TERMINAL_PROMPT", "0")
                    .env(
                        "GIT_SSH_COMMAND",
                        std::env::var("GIT_SSH_COMMAND")
                            .unwrap_or_else(|_| "ssh -o BatchMode=yes".into()),
                    ),
                Some(timeout),
            )
            .map_err(|r| {
                fail(if r.is_empty() {
                    "git ls-remote failed".into()
                } else {
                    r
                })
            })?;
            Ok(parse_ref_lines(&out, '\t'))
        }
    }
}

/// Adds the lightweight tag `refs/tags/<name>` at `sha` to the repository at `url`. `holder` is
/// a ref of that repository whose commit is `sha` (a remote is fetched through it). An existing
/// tag of that name is never moved.
pub fn create_tag(
    url: &str,
    name: &str,
    sha: &str,
    holder: &str,
    timeout: Duration,
) -> Result<(), GitError> {
    let fail = |reason: String| GitError {
        url: url.to_string(),
        reason,
    };
    let tag = format!("refs/tags/{name}");
    match locate(url) {
        Location::Local(path) => {
            let git_dir = local_git_dir(&path).ok_or_else(|| {
                fail(format!(
                    "{} is not a git repository (no such directory)",
                    path.display()
                ))
            })?;
            // The empty old value makes update-ref refuse a tag that already exists.
            run(
                Command::new("git").arg("--git-dir").arg(&git_dir).args([
                    "update-ref",
                    &tag,
                    sha,
                    "",
                ]),
                None,
            )
            .map(|_| ())
            .map_err(|r| fail(format!("cannot create {tag}: {r}")))
        }
        Location::Remote(remote) => {
            // A bare repository of its own: the tag is pushed from there, so the operator's
            // checkout (if any) is never touched. Removed when dropped.
            let scratch = tempfile::Builder::new()
                .prefix("soa-git-")
                .tempdir()
                .map_err(|e| fail(format!("cannot make a scratch directory: {e}")))?;
            let git = |args: &[&str]| {
                let mut c = Command::new("git");
                c.arg("--git-dir")
                    .arg(scratch.path())
                    .args(args)
                    .env("GIT_TERMINAL_PROMPT", "0");
                c
            };
            run(&mut git(&["init", "-q", "--bare"]), Some(timeout)).map_err(fail)?;
            run(
                &mut git(&["fetch", "-q", "--no-tags", "--depth", "1", &remote, holder]),
                Some(timeout),
            )
            .map_err(|r| fail(format!("cannot fetch {holder}: {r}")))?;
            run(
                &mut git(&["push", "-q", &remote, &format!("{sha}:{tag}")]),
                Some(timeout),
            )
            .map(|_| ())
            .map_err(|r| fail(format!("cannot push {tag}: {r}")))
        }
    }
}

fn local_git_dir(path: &Path) -> Option<PathBuf> {
    let dot_git = path.join(".git");
    if dot_git.exists() {
        Some(dot_git)
    } else if path.is_dir() {
        Some(path.to_path_buf())
    } else {
        None
    }
}

/// Runs git, returning stdout, or the last line of its stderr as the reason it failed. Without
/// a timeout (a repository on this machine) it simply waits.
fn run(cmd: &mut Command, timeout: Option<Duration>) -> Result<String, String> {
    let Some(timeout) = timeout else {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        return finish(
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            &String::from_utf8_lossy(&out.stderr),
        );
    };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("git did not answer within {} s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for git: {e}")),
        }
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    finish(status, out, &err)
}

fn finish(status: std::process::ExitStatus, out: String, err: &str) -> Result<String, String> {
    if status.success() {
        Ok(out)
    } else {
        let reason = err
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("")
            .to_string();
        Err(reason)
    }
}

/// Parses `<sha><sep><ref>` lines as ls-remote (tab) and show-ref (space) print them, where an
/// annotated tag is followed by `<commit><sep><ref>^{}`.
fn parse_ref_lines(out: &str, sep: char) -> Vec<GitRef> {
    let mut refs: Vec<GitRef> = Vec::new();
    for line in out.lines() {
        let Some((sha, name)) = line.split_once(sep) else {
            continue;
        };
        if let Some(base) = name.strip_suffix("^{}") {
            // The peeled line follows its tag: the commit replaces the tag object.
            if let Some(r) = refs.iter_mut().rev().find(|r| r.name == base) {
                r.sha = sha.to_string();
            }
        } else {
            refs.push(GitRef {
                name: name.to_string(),
                sha: sha.to_string(),
            });
        }
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            locate("/srv/git/x.git"),
            Location::Local("/srv/git/x.git".into())
        );
        assert_eq!(locate("repos/x"), Location::Local("repos/x".into()));
        assert_eq!(locate("file:///srv/x"), Location::Local("/srv/x".into()));
        assert_eq!(
            locate("git@git.example.com:services/x"),
            Location::Remote("git@git.example.com:services/x".into())
        );
        assert_eq!(
            locate("ssh://git@h/x"),
            Location::Remote("ssh://git@h/x".into())
        );
        assert_eq!(
            locate("https://h/x.git"),
            Location::Remote("https://h/x.git".into())
        );
    }

    #[test]
    fn peeled_tags() {
        let ls = "aaa\trefs/tags/a\nbbb\trefs/tags/b\nccc\trefs/tags/b^{}\n";
        let refs = parse_ref_lines(ls, '\t');
        assert_eq!(
            refs[1],
            GitRef {
                name: "refs/tags/b".into(),
                sha: "ccc".into()
            }
        );
        assert_eq!(parse_ref_lines(&ls.replace('\t', " "), ' '), refs);
    }
}
