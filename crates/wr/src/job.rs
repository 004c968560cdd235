//! Jobs: what `add` queues (a command and its needs), the states a job goes through, and the
//! parsing of `add`'s input lines.
//!
//! An input line is a command; or a command, a TAB and a JSON object of options; or a JSON
//! object that includes `"cmd"`. Blank lines are skipped. Options a line leaves out come from
//! the flags of `add`. A batch is parsed whole before anything is queued: one bad line refuses
//! the batch, naming its line number.
//!
//! Sizes as wr has them: memory in MB (`"1G"`, `"500M"` or a number of MB), time as a duration
//! (`"1h"`, `"30m"`, `"90s"` or seconds), disk in GB, cpus a float (0 allowed).

use serde::{Deserialize, Serialize};

/// What a job needs and runs; everything `add` takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub cmd: String,
    pub cwd: String,
    pub cpus: f64,
    /// MB.
    pub memory: u64,
    /// Seconds.
    pub time: u64,
    /// GB.
    pub disk: u64,
    pub retries: u32,
    pub priority: u8,
    pub rep_grp: String,
    pub req_grp: String,
    /// Groups this job belongs to, that other jobs may depend on.
    pub dep_grps: Vec<String>,
    /// Groups whose every job must be complete before this one is ready.
    pub deps: Vec<String>,
    /// `KEY=VALUE` pairs added to the command's environment.
    pub env: Vec<String>,
    /// Which cloud servers may run it (none: the deployment's own kind).
    #[serde(default, skip_serializing_if = "CloudOpts::is_empty")]
    pub cloud: CloudOpts,
}

/// A job's cloud options (wr's `cloud_*`): the servers a cloud scheduler runs it on, and what
/// new servers for it are made of. The local scheduler ignores them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudOpts {
    /// The image (a name, or the start of a name or id).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub os: String,
    /// The login name on that image.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// MB the image needs at least.
    #[serde(skip_serializing_if = "is_zero")]
    pub ram: u64,
    /// A flavor name or id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub flavor: String,
    /// The contents of a script new servers run before they take work.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub script: String,
    /// `src[:dst],…` copied to new servers, after the deployment's.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub config_files: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CloudOpts {
    pub fn is_empty(&self) -> bool {
        *self == CloudOpts::default()
    }
}

/// The scheduler group of a job: its requirements and its cloud options. Jobs of one group
/// are interchangeable to the scheduler; a runner takes the jobs of one group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupKey {
    pub req: crate::sched::Req,
    pub cloud: CloudOpts,
}

impl GroupKey {
    /// `RAM:minutes:cores:disk`, then `|` and the cloud options as JSON when there are any.
    pub fn key(&self) -> String {
        let req = self.req.key();
        if self.cloud.is_empty() {
            req
        } else {
            let json = serde_json::to_string(&self.cloud).expect("options serialize");
            format!("{req}|{json}")
        }
    }

    pub fn parse(key: &str) -> Option<GroupKey> {
        let (req, cloud) = match key.split_once('|') {
            Some((req, json)) => (req, serde_json::from_str(json).ok()?),
            None => (key, CloudOpts::default()),
        };
        Some(GroupKey {
            req: crate::sched::Req::parse_key(req)?,
            cloud,
        })
    }

    /// The group of a job.
    pub fn of(spec: &JobSpec) -> GroupKey {
        GroupKey {
            req: crate::sched::Req::for_scheduler(spec.memory, spec.time, spec.cpus, spec.disk),
            cloud: spec.cloud.clone(),
        }
    }
}

/// A job's state, as wr names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for its dependencies.
    Dependent,
    /// Waiting out a retry delay.
    Delayed,
    Ready,
    /// Taken by a runner that has not started it yet.
    Reserved,
    Running,
    /// Its runner stopped answering; retried once the runner is known to be gone.
    Lost,
    /// Failed past its retries (or killed); waits for `retry`.
    Buried,
    Complete,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Dependent,
        State::Delayed,
        State::Ready,
        State::Reserved,
        State::Running,
        State::Lost,
        State::Buried,
        State::Complete,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::Dependent => "dependent",
            State::Delayed => "delayed",
            State::Ready => "ready",
            State::Reserved => "reserved",
            State::Running => "running",
            State::Lost => "lost",
            State::Buried => "buried",
            State::Complete => "complete",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.name() == s)
    }

    /// States a runner holds.
    pub fn is_held(self) -> bool {
        matches!(self, State::Reserved | State::Running | State::Lost)
    }
}

/// The defaults a line's options fall back to: `add`'s flags.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub cwd: String,
    pub cpus: f64,
    pub memory: u64,
    pub time: u64,
    pub disk: u64,
    pub retries: u32,
    pub priority: u8,
    pub rep_grp: String,
    pub req_grp: Option<String>,
    pub dep_grps: Vec<String>,
    pub deps: Vec<String>,
    pub env: Vec<String>,
    pub cloud: CloudOpts,
}

impl Default for Defaults {
    /// wr's: 1 cpu, 1 GB, 1 hour, no disk, 3 retries, rep_grp `manually_added`.
    fn default() -> Defaults {
        Defaults {
            cwd: "/tmp".into(),
            cpus: 1.0,
            memory: 1024,
            time: 3600,
            disk: 0,
            retries: 3,
            priority: 0,
            rep_grp: "manually_added".into(),
            req_grp: None,
            dep_grps: Vec::new(),
            deps: Vec::new(),
            env: Vec::new(),
            cloud: CloudOpts::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// A size in MB: `1G`, `500M`, `2048` (MB).
pub fn parse_memory(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'G' | 'g') => (&s[..i], 1024.0),
        (i, 'M' | 'm') => (&s[..i], 1.0),
        (i, 'T' | 't') => (&s[..i], 1024.0 * 1024.0),
        _ => (s, 1.0),
    };
    let v: f64 = num.parse().ok()?;
    (v >= 0.0).then(|| (v * mult).round() as u64)
}

/// A duration in seconds: `1h`, `30m`, `90s`, `1h30m`, or a number of seconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let v: f64 = num.parse().ok()?;
        num.clear();
        total += (v * match c {
            'h' => 3600.0,
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        }) as u64;
    }
    num.is_empty().then_some(total)
}

/// The options a JSON line may carry; a key outside these is refused by name.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LineOptions {
    cmd: Option<String>,
    cwd: Option<String>,
    cpus: Option<f64>,
    memory: Option<Size>,
    time: Option<Size>,
    disk: Option<u64>,
    retries: Option<u32>,
    priority: Option<u8>,
    rep_grp: Option<String>,
    req_grp: Option<String>,
    dep_grps: Option<Vec<String>>,
    deps: Option<Vec<String>>,
    env: Option<Vec<String>>,
    cloud_os: Option<String>,
    cloud_username: Option<String>,
    cloud_ram: Option<Size>,
    cloud_flavor: Option<String>,
    /// A script's path (`add` queues its contents).
    cloud_script: Option<String>,
    cloud_config_files: Option<String>,
    cloud_shared: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Size {
    N(u64),
    S(String),
}

/// wr's default requirements group: the base name of the command's first word.
fn default_req_grp(cmd: &str) -> String {
    let first = cmd.split_whitespace().next().unwrap_or("");
    first.rsplit('/').next().unwrap_or(first).to_string()
}

fn env_ok(env: &[String]) -> Result<(), String> {
    match env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
        Some(bad) => Err(format!("env: expected KEY=VALUE, got {bad:?}")),
        None => Ok(()),
    }
}

/// Parses `add`'s input: every line, or the first bad one.
pub fn parse_lines(input: &str, d: &Defaults) -> Result<Vec<JobSpec>, LineError> {
    let mut out = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let n = i + 1;
        let err = |message: String| LineError { line: n, message };
        if line.trim().is_empty() {
            continue;
        }
        let (cmd, opts) = if line.trim_start().starts_with('{') {
            let o: LineOptions = serde_json::from_str(line)
                .map_err(|e| err(format!("not a valid JSON object of job options: {e}")))?;
            (None, o)
        } else if let Some((cmd, json)) = line.split_once('\t') {
            let o: LineOptions = serde_json::from_str(json).map_err(|e| {
                err(format!(
                    "the JSON object after the TAB is not valid job options: {e}"
                ))
            })?;
            if o.cmd.is_some() {
                return Err(err(
                    "a line with a command before the TAB gives no \"cmd\" in its JSON".into(),
                ));
            }
            (Some(cmd.to_string()), o)
        } else {
            (Some(line.to_string()), LineOptions::default())
        };
        let cmd = cmd
            .or(opts.cmd)
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| err("no command: a JSON line needs a non-empty \"cmd\"".into()))?;
        let size =
            |v: Option<Size>, what: &str, parse: fn(&str) -> Option<u64>, default: u64| match v {
                None => Ok(default),
                Some(Size::N(n)) => Ok(n),
                Some(Size::S(s)) => {
                    parse(&s).ok_or_else(|| err(format!("{what}: cannot read {s:?}")))
                }
            };
        let memory = size(opts.memory, "memory", parse_memory, d.memory)?;
        let time = size(opts.time, "time", parse_duration, d.time)?;
        let cpus = opts.cpus.unwrap_or(d.cpus);
        if !(cpus >= 0.0 && cpus.is_finite()) {
            return Err(err(format!("cpus: expected a number ≥ 0, got {cpus}")));
        }
        let env = opts.env.unwrap_or_else(|| d.env.clone());
        env_ok(&env).map_err(err)?;
        if opts.cloud_shared == Some(true) {
            return Err(err(
                "cloud_shared: a disk shared from the manager's host is not offered".into(),
            ));
        }
        let cloud = CloudOpts {
            os: opts.cloud_os.unwrap_or_else(|| d.cloud.os.clone()),
            username: opts
                .cloud_username
                .unwrap_or_else(|| d.cloud.username.clone()),
            ram: size(opts.cloud_ram, "cloud_ram", parse_memory, d.cloud.ram)?,
            flavor: opts.cloud_flavor.unwrap_or_else(|| d.cloud.flavor.clone()),
            script: opts.cloud_script.unwrap_or_else(|| d.cloud.script.clone()),
            config_files: opts
                .cloud_config_files
                .unwrap_or_else(|| d.cloud.config_files.clone()),
        };
        out.push(JobSpec {
            req_grp: opts
                .req_grp
                .or_else(|| d.req_grp.clone())
                .unwrap_or_else(|| default_req_grp(&cmd)),
            cmd,
            cwd: opts.cwd.unwrap_or_else(|| d.cwd.clone()),
            cpus,
            memory,
            time,
            disk: opts.disk.unwrap_or(d.disk),
            retries: opts.retries.unwrap_or(d.retries),
            priority: opts.priority.unwrap_or(d.priority),
            rep_grp: opts.rep_grp.unwrap_or_else(|| d.rep_grp.clone()),
            dep_grps: opts.dep_grps.unwrap_or_else(|| d.dep_grps.clone()),
            deps: opts.deps.unwrap_or_else(|| d.deps.clone()),
            env,
            cloud,
        });
    }
    Ok(out)
}

impl JobSpec {
    /// What makes two jobs the same job: wr refuses a second copy of an incomplete one.
    pub fn key(&self) -> String {
        use md5::{Digest, Md5};
        let mut h = Md5::new();
        h.update(self.cwd.as_bytes());
        h.update([0]);
        h.update(self.cmd.as_bytes());
        format!("{:x}", h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_memory("1G"), Some(1024));
        assert_eq!(parse_memory("500M"), Some(500));
        assert_eq!(parse_memory("1.5G"), Some(1536));
        assert_eq!(parse_memory("300"), Some(300));
        assert_eq!(parse_memory("lots"), None);
        assert_eq!(parse_duration("1h"), Some(3600));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("45"), Some(45));
        assert_eq!(parse_duration("3d"), None);
        assert_eq!(parse_duration("5"), Some(5));
    }

    #[test]
    fn the_three_line_forms() {
        let d = Defaults::default();
        let input = "echo a\n\n/usr/bin/sort -k1 f\t{\"memory\":\"2G\",\"cpus\":0.5,\"rep_grp\":\"x\"}\n{\"cmd\":\"true\",\"time\":\"2h\",\"env\":[\"A=1\"],\"retries\":0}\n";
        let jobs = parse_lines(input, &d).unwrap();
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[0].cmd, "echo a");
        assert_eq!(
            (jobs[0].memory, jobs[0].time, jobs[0].cpus),
            (1024, 3600, 1.0)
        );
        assert_eq!(jobs[0].rep_grp, "manually_added");
        assert_eq!(jobs[0].req_grp, "echo");
        assert_eq!(jobs[1].cmd, "/usr/bin/sort -k1 f");
        assert_eq!(jobs[1].req_grp, "sort");
        assert_eq!((jobs[1].memory, jobs[1].cpus), (2048, 0.5));
        assert_eq!(jobs[1].rep_grp, "x");
        assert_eq!(jobs[2].cmd, "true");
        assert_eq!((jobs[2].time, jobs[2].retries), (7200, 0));
        assert_eq!(jobs[2].env, vec!["A=1"]);
        assert_ne!(jobs[0].key(), jobs[2].key());
    }

    #[test]
    fn cloud_options_make_their_own_group() {
        let d = Defaults::default();
        let input =
            "a\nb\t{\"cloud_os\":\"ubuntu\",\"cloud_ram\":\"2G\",\"cloud_flavor\":\"m1.large\"}\n";
        let jobs = parse_lines(input, &d).unwrap();
        assert!(jobs[0].cloud.is_empty());
        assert_eq!(
            (
                jobs[1].cloud.os.as_str(),
                jobs[1].cloud.ram,
                jobs[1].cloud.flavor.as_str()
            ),
            ("ubuntu", 2048, "m1.large")
        );
        let (a, b) = (GroupKey::of(&jobs[0]), GroupKey::of(&jobs[1]));
        assert_eq!(a.key(), "1024:60:1:0");
        assert_eq!(
            b.key(),
            r#"1024:60:1:0|{"os":"ubuntu","ram":2048,"flavor":"m1.large"}"#
        );
        assert_eq!(GroupKey::parse(&b.key()), Some(b.clone()));
        assert_eq!(GroupKey::parse(&a.key()), Some(a));
        assert_eq!(GroupKey::parse("1024:60:1:0|{not json"), None);
        // A spec kept before cloud options existed still reads.
        let old: JobSpec = serde_json::from_str(r#"{"cmd":"x","cwd":"/","cpus":1.0,"memory":1,"time":1,"disk":0,"retries":0,"priority":0,"rep_grp":"r","req_grp":"g","dep_grps":[],"deps":[],"env":[]}"#).unwrap();
        assert!(old.cloud.is_empty());
        let e = parse_lines("x\t{\"cloud_shared\":true}\n", &d).unwrap_err();
        assert!(e.to_string().contains("cloud_shared"), "{e}");
    }

    #[test]
    fn a_bad_line_is_named() {
        let d = Defaults::default();
        for (input, line, words) in [
            ("echo a\n{\"cmd\": \"x\"\n", 2, "not a valid JSON"),
            ("echo a\necho b\n{\"cwd\":\"/\"}\n", 3, "no command"),
            ("{\"cmd\":\"x\",\"mounts\":[]}\n", 1, "mounts"),
            ("x\t{\"memory\":\"huge\"}\n", 1, "memory"),
            ("x\t{\"env\":[\"NOEQUALS\"]}\n", 1, "KEY=VALUE"),
            ("x\t{\"cpus\":-1}\n", 1, "cpus"),
        ] {
            let e = parse_lines(input, &d).unwrap_err();
            assert_eq!(e.line, line, "{input:?}: {e}");
            assert!(e.to_string().contains(words), "{e}");
        }
    }
}
