//! deployments.json: which image each deploy group runs and each instance's desired state,
//! derived from a service's git refs (deploy tags and control tags), in PaaSTA's v1 + v2 format.
//!
//! Rules (docs/paasta.md §2): the latest deploy tag of a group is the one with the greatest
//! timestamp (string order; the first in ref order wins a tie). An instance's desired state is
//! the greatest `(force_bounce, state)` among control tags of its `<cluster>.<instance>` branch
//! that point at the group's deployed sha, else `("start", null)`. Groups without a deploy tag
//! are omitted. Ours: the deploy group is matched literally (PaaSTA used it as a regex), and an
//! annotated tag counts as the commit it points at.

use crate::error::{Error, Problem, Result};
use pyjson;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "deployments.json";

/// One ref as `git ls-remote` lists it: name and the commit it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef {
    pub name: String,
    pub sha: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub docker_image: String,
    pub git_sha: String,
    pub image_version: Option<String>,
}

/// An instance's desired state: a `stop` control tag on its deployed commit stops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    Start,
    Stop,
}

impl DesiredState {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "start" => Some(Self::Start),
            "stop" => Some(Self::Stop),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
        }
    }
}

impl std::fmt::Display for DesiredState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub desired_state: DesiredState,
    pub force_bounce: Option<String>,
}

/// One instance's entry in v1 (`<service>:paasta-<cluster>.<instance>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Entry {
    pub docker_image: String,
    pub control: Control,
}

/// The whole file; each list keeps PaaSTA's insertion order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deployments {
    pub v1: Vec<(String, V1Entry)>,
    pub deployments: Vec<(String, Deployment)>,
    pub controls: Vec<(String, Control)>,
}

/// What generation needs of one instance.
#[derive(Debug, Clone)]
pub struct Target {
    pub cluster: String,
    pub instance: String,
    pub deploy_group: String,
}

pub fn docker_image_name(service: &str, sha: &str, image_version: Option<&str>) -> String {
    match image_version {
        Some(v) => format!("services-{service}:paasta-{sha}-{v}"),
        None => format!("services-{service}:paasta-{sha}"),
    }
}

/// A deploy tag, split: `refs/tags/paasta-<group>[+<image_version>]-<YYYYMMDDTHHMMSS>-deploy`.
/// The group text may still hold `+<image_version>`; [`resolve_group`] splits it once groups are known.
fn split_deploy_tag(name: &str) -> Option<(&str, &str)> {
    let body = name
        .strip_prefix("refs/tags/paasta-")?
        .strip_suffix("-deploy")?;
    let (head, ts) = body.rsplit_once('-')?;
    let b = ts.as_bytes();
    let is_ts =
        b.len() == 15 && b[8] == b'T' && b[..8].iter().chain(&b[9..]).all(u8::is_ascii_digit);
    (is_ts && !head.is_empty()).then_some((head, ts))
}

/// Finds which known group `head` names, and its image version if one follows a `+`.
fn resolve_group<'a>(
    head: &'a str,
    groups: &HashMap<&str, usize>,
) -> Option<(&'a str, Option<&'a str>)> {
    if groups.contains_key(head) {
        return Some((head, None));
    }
    head.match_indices('+').find_map(|(i, _)| {
        let (g, v) = (&head[..i], &head[i + 1..]);
        groups.contains_key(g).then_some((g, Some(v)))
    })
}

/// A control tag, split: `refs/tags/[paasta-]{0,2}<branch>-<force_bounce>-<start|stop>`,
/// the branch being `[A-Za-z0-9-_.]+`, matched as PaaSTA's regex does (greedy prefixes).
fn split_control_tag(name: &str) -> Option<(&str, &str, &str)> {
    let body = name.strip_prefix("refs/tags/")?;
    let (rest, state) = if let Some(r) = body.strip_suffix("-start") {
        (r, "start")
    } else {
        (body.strip_suffix("-stop")?, "stop")
    };
    let (mut branch, force_bounce) = rest.rsplit_once('-')?;
    if force_bounce.is_empty() {
        return None;
    }
    for _ in 0..2 {
        match branch.strip_prefix("paasta-") {
            Some(b) if !b.is_empty() => branch = b,
            _ => break,
        }
    }
    let valid = !branch.is_empty()
        && branch
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c));
    valid.then_some((branch, force_bounce, state))
}

/// The latest deploy tag of `group` among `refs` (the one whose commit the group runs).
pub fn latest_deploy<'a>(refs: &'a [GitRef], group: &str) -> Option<&'a GitRef> {
    let mut best: Option<(&str, &GitRef)> = None;
    for r in refs {
        let Some((head, ts)) = split_deploy_tag(&r.name) else {
            continue;
        };
        let matches = head == group
            || head
                .strip_prefix(group)
                .is_some_and(|rest| rest.starts_with('+'));
        if matches && best.is_none_or(|(b, _)| ts > b) {
            best = Some((ts, r));
        }
    }
    best.map(|(_, r)| r)
}

/// A control tag's name (without `refs/tags/`): `paasta-<cluster>.<instance>-<timestamp>-<state>`.
pub fn control_tag(cluster: &str, instance: &str, timestamp: &str, state: &str) -> String {
    format!("paasta-{cluster}.{instance}-{timestamp}-{state}")
}

/// deployments.json for `service` from its refs, for `targets` in file order.
pub fn generate(service: &str, targets: &[Target], refs: &[GitRef]) -> Deployments {
    let mut groups: HashMap<&str, usize> = HashMap::new();
    for t in targets {
        let next = groups.len();
        groups.entry(t.deploy_group.as_str()).or_insert(next);
    }
    // Latest deploy tag per group: (timestamp, sha, image_version).
    let mut latest: HashMap<&str, (&str, &str, Option<&str>)> = HashMap::new();
    // Control tags by (branch, sha): the greatest (force_bounce, state).
    let mut controls: HashMap<(&str, &str), (&str, &str)> = HashMap::new();
    for r in refs {
        if let Some((head, ts)) = split_deploy_tag(&r.name) {
            if let Some((group, version)) = resolve_group(head, &groups) {
                let newer = latest.get(group).is_none_or(|(best, _, _)| ts > *best);
                if newer {
                    latest.insert(group, (ts, &r.sha, version));
                }
            }
        } else if let Some((branch, fb, state)) = split_control_tag(&r.name) {
            let slot = controls.entry((branch, &r.sha)).or_insert((fb, state));
            if (fb, state) > *slot {
                *slot = (fb, state);
            }
        }
    }

    let mut out = Deployments::default();
    for t in targets {
        let Some(&(_, sha, version)) = latest.get(t.deploy_group.as_str()) else {
            continue;
        };
        let branch = format!("{}.{}", t.cluster, t.instance);
        let image = docker_image_name(service, sha, version);
        let control = match controls.get(&(branch.as_str(), sha)) {
            Some(&(fb, state)) => Control {
                desired_state: DesiredState::parse(state).unwrap_or(DesiredState::Start),
                force_bounce: Some(fb.into()),
            },
            None => Control {
                desired_state: DesiredState::Start,
                force_bounce: None,
            },
        };
        // As in a Python dict: a repeated key keeps its first position and takes the last value.
        upsert(
            &mut out.v1,
            format!("{service}:paasta-{branch}"),
            V1Entry {
                docker_image: image.clone(),
                control: control.clone(),
            },
        );
        upsert(
            &mut out.deployments,
            t.deploy_group.clone(),
            Deployment {
                docker_image: image,
                git_sha: sha.into(),
                image_version: version.map(str::to_string),
            },
        );
        upsert(&mut out.controls, format!("{service}:{branch}"), control);
    }
    out
}

fn upsert<V>(list: &mut Vec<(String, V)>, key: String, value: V) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => list.push((key, value)),
    }
}

fn control_json(c: &Control) -> Value {
    json!({"desired_state": c.desired_state.as_str(), "force_bounce": c.force_bounce})
}

impl Deployments {
    pub fn to_json(&self) -> Value {
        let mut v1 = Map::new();
        for (k, e) in &self.v1 {
            v1.insert(k.clone(), json!({"docker_image": e.docker_image, "desired_state": e.control.desired_state.as_str(), "force_bounce": e.control.force_bounce}));
        }
        let mut deployments = Map::new();
        for (k, d) in &self.deployments {
            let mut m = Map::new();
            m.insert("docker_image".into(), d.docker_image.clone().into());
            m.insert("git_sha".into(), d.git_sha.clone().into());
            if let Some(v) = &d.image_version {
                m.insert("image_version".into(), v.clone().into());
            }
            deployments.insert(k.clone(), Value::Object(m));
        }
        let mut controls = Map::new();
        for (k, c) in &self.controls {
            controls.insert(k.clone(), control_json(c));
        }
        json!({"v1": v1, "v2": {"deployments": deployments, "controls": controls}})
    }

    /// The file's bytes, as PaaSTA writes them (one line, no trailing newline).
    pub fn render(&self) -> String {
        pyjson::dumps(&self.to_json(), false)
    }

    /// Parses a deployments.json text (v2 keys; v1 is read too when present).
    pub fn parse(path: &Path, text: &str) -> Result<Deployments> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Problem::new(path, format!("not valid JSON: {e}")).line(Some(e.line())))?;
        let bad = |what: &str| -> Error {
            Problem::new(
                path,
                format!("{what}; expected deployments.json as generate-deployments writes it"),
            )
            .into()
        };
        let obj = value
            .as_object()
            .ok_or_else(|| bad("the top level is not an object"))?;
        let control = |v: &Value, key: &str| -> Result<Control> {
            let desired_state = v
                .get("desired_state")
                .and_then(Value::as_str)
                .and_then(DesiredState::parse)
                .ok_or_else(|| {
                    bad(&format!(
                        "{key}'s desired_state is not \"start\" or \"stop\""
                    ))
                })?;
            let force_bounce = match v.get("force_bounce") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    return Err(bad(&format!(
                        "{key}'s force_bounce is not a string or null"
                    )))
                }
            };
            Ok(Control {
                desired_state,
                force_bounce,
            })
        };
        let mut out = Deployments::default();
        if let Some(v1) = obj.get("v1") {
            for (k, e) in v1.as_object().ok_or_else(|| bad("v1 is not an object"))? {
                let docker_image = e
                    .get("docker_image")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(&format!("v1 {k} has no docker_image")))?;
                out.v1.push((
                    k.clone(),
                    V1Entry {
                        docker_image: docker_image.into(),
                        control: control(e, k)?,
                    },
                ));
            }
        }
        if let Some(v2) = obj.get("v2") {
            let deps = v2
                .get("deployments")
                .and_then(Value::as_object)
                .ok_or_else(|| bad("v2 has no deployments object"))?;
            for (k, d) in deps {
                let s = |f: &str| d.get(f).and_then(Value::as_str).map(str::to_string);
                out.deployments.push((
                    k.clone(),
                    Deployment {
                        docker_image: s("docker_image")
                            .ok_or_else(|| bad(&format!("deployment {k} has no docker_image")))?,
                        git_sha: s("git_sha")
                            .ok_or_else(|| bad(&format!("deployment {k} has no git_sha")))?,
                        image_version: s("image_version"),
                    },
                ));
            }
            let controls = v2
                .get("controls")
                .and_then(Value::as_object)
                .ok_or_else(|| bad("v2 has no controls object"))?;
            for (k, c) in controls {
                out.controls.push((k.clone(), control(c, k)?));
            }
        }
        Ok(out)
    }

    /// Reads `<soa_dir>/<service>/deployments.json`; None when there is none.
    pub fn load(soa_dir: &Path, service: &str) -> Result<Option<Deployments>> {
        let path = path_for(soa_dir, service);
        match std::fs::read_to_string(&path) {
            Ok(text) => Deployments::parse(&path, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    pub fn deployment(&self, deploy_group: &str) -> Option<&Deployment> {
        self.deployments
            .iter()
            .find(|(k, _)| k == deploy_group)
            .map(|(_, d)| d)
    }

    pub fn control(&self, service: &str, cluster: &str, instance: &str) -> Option<&Control> {
        let key = format!("{service}:{cluster}.{instance}");
        self.controls
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, c)| c)
    }

    /// Equal as PaaSTA compares them: as parsed JSON, regardless of key order.
    pub fn same_content(&self, other: &Deployments) -> bool {
        self.to_json() == other.to_json()
    }
}

pub fn path_for(soa_dir: &Path, service: &str) -> PathBuf {
    soa_dir.join(service).join(FILE_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    const C1: &str = "e770d2713a4e0d9e38b2cde0bde8f7e9f4d1a0a1";
    const C2: &str = "5330e8a9a1bb3f9e8d62c1d7f0b8a3c5e9d2f4b6";

    fn r(name: &str, sha: &str) -> GitRef {
        GitRef {
            name: format!("refs/tags/{name}"),
            sha: sha.into(),
        }
    }

    fn t(cluster: &str, instance: &str, group: &str) -> Target {
        Target {
            cluster: cluster.into(),
            instance: instance.into(),
            deploy_group: group.into(),
        }
    }

    /// The reference's §2 example.
    #[test]
    fn reference_example() {
        let refs = vec![
            r("paasta-prod.everything-20190101T000000-deploy", C1),
            r("paasta-prod.everything-20190102T000000-deploy", C2),
            r("paasta-testcluster.canary-20190103T000000-deploy", C1),
            r("paasta-testcluster.main-20190104T120000-start", C2),
            r("paasta-testcluster.main-20190105T120000-stop", C2),
            r("paasta-testcluster.canary-20190101T000000-stop", C2),
        ];
        let targets = [
            t("testcluster", "main", "prod.everything"),
            t("testcluster", "canary", "testcluster.canary"),
        ];
        let d = generate("example_service", &targets, &refs);
        assert_eq!(d.v1[0].0, "example_service:paasta-testcluster.main");
        assert_eq!(
            d.v1[0].1.docker_image,
            format!("services-example_service:paasta-{C2}")
        );
        assert_eq!(
            d.v1[0].1.control,
            Control {
                desired_state: DesiredState::Stop,
                force_bounce: Some("20190105T120000".into())
            }
        );
        assert_eq!(
            d.v1[1].1.docker_image,
            format!("services-example_service:paasta-{C1}")
        );
        assert_eq!(
            d.v1[1].1.control,
            Control {
                desired_state: DesiredState::Start,
                force_bounce: None
            }
        );
        assert_eq!(d.controls[1].0, "example_service:testcluster.canary");
    }

    #[test]
    fn stop_returns_when_its_sha_is_redeployed() {
        let mut refs = vec![
            r("paasta-prod-20190101T000000-deploy", C1),
            r("paasta-c.main-20190101T010000-stop", C1),
            r("paasta-prod-20190102T000000-deploy", C2),
        ];
        let targets = [t("c", "main", "prod")];
        assert_eq!(
            generate("s", &targets, &refs).controls[0].1.desired_state,
            DesiredState::Start
        );
        refs.push(r("paasta-prod-20190103T000000-deploy", C1));
        let d = generate("s", &targets, &refs);
        assert_eq!(
            d.controls[0].1,
            Control {
                desired_state: DesiredState::Stop,
                force_bounce: Some("20190101T010000".into())
            }
        );
    }

    #[test]
    fn image_version_tags() {
        let refs = vec![
            r("paasta-prod-20190101T000000-deploy", C1),
            r("paasta-prod+build7-20190102T000000-deploy", C2),
        ];
        let d = generate("s", &[t("c", "main", "prod")], &refs);
        assert_eq!(d.deployments[0].1.image_version.as_deref(), Some("build7"));
        assert_eq!(
            d.render(),
            format!(
                "{{\"v1\": {{\"s:paasta-c.main\": {{\"docker_image\": \"services-s:paasta-{C2}-build7\", \"desired_state\": \"start\", \"force_bounce\": null}}}}, \"v2\": {{\"deployments\": {{\"prod\": {{\"docker_image\": \"services-s:paasta-{C2}-build7\", \"git_sha\": \"{C2}\", \"image_version\": \"build7\"}}}}, \"controls\": {{\"s:c.main\": {{\"desired_state\": \"start\", \"force_bounce\": null}}}}}}}}"
            )
        );
    }

    #[test]
    fn group_names_are_literal_and_groups_without_tags_are_omitted() {
        // "prod.x" must not match a tag for "prodax" (PaaSTA's unescaped regex would).
        let refs = vec![r("paasta-prodax-20190101T000000-deploy", C1)];
        let d = generate("s", &[t("c", "main", "prod.x")], &refs);
        assert_eq!(
            d.render(),
            r#"{"v1": {}, "v2": {"deployments": {}, "controls": {}}}"#
        );
    }

    #[test]
    fn control_tag_parsing() {
        assert_eq!(
            split_control_tag("refs/tags/paasta-prod.main-20190111T000000-stop"),
            Some(("prod.main", "20190111T000000", "stop"))
        );
        assert_eq!(
            split_control_tag("refs/tags/paasta-paasta-prod.main-1-start"),
            Some(("prod.main", "1", "start"))
        );
        assert_eq!(
            split_control_tag("refs/tags/prod.main-1-start"),
            Some(("prod.main", "1", "start"))
        );
        assert_eq!(split_control_tag("refs/tags/prod main-1-start"), None);
        assert_eq!(
            split_deploy_tag("refs/tags/paasta-a-b-20190101T000000-deploy"),
            Some(("a-b", "20190101T000000"))
        );
        assert_eq!(split_deploy_tag("refs/tags/paasta-a-2019-deploy"), None);
    }

    #[test]
    fn round_trip() {
        let refs = vec![
            r("paasta-prod-20190101T000000-deploy", C1),
            r("paasta-c.main-20190101T010000-stop", C1),
        ];
        let d = generate("s", &[t("c", "main", "prod")], &refs);
        let parsed = Deployments::parse(Path::new("x"), &d.render()).unwrap();
        assert_eq!(parsed, d);
        assert!(Deployments::parse(Path::new("x"), "{\"v2\": 3}")
            .unwrap_err()
            .to_string()
            .contains("v2 has no deployments"));
    }
}
