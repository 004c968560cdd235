//! Reading YAML files into ordered values, deep merging, and finding the line of a key so that
//! messages about typed values (which serde_yaml's `Value` no longer locates) still point at it.

use crate::error::{Error, Problem, Result};
use serde_yaml::{Mapping, Value};
use std::path::Path;

/// A YAML file read and parsed: its text (for locating keys) and its top-level mapping.
#[derive(Debug, Clone)]
pub struct YamlFile {
    pub text: String,
    pub map: Mapping,
}

/// Reads `path` as a YAML mapping. An empty file is an empty mapping, as PaaSTA treats it.
/// Bytes that are not UTF-8 are a problem of this file, not an error that stops a whole run.
pub fn read_mapping(path: &Path) -> Result<YamlFile> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        Problem::new(
            path,
            format!(
                "not UTF-8 text (byte {at} is not valid UTF-8; a Latin-1 file must be converted)"
            ),
        )
        .line(Some(line))
    })?;
    let map = parse_mapping(path, &text)?;
    Ok(YamlFile { text, map })
}

/// Flow collections (`[`, `{`) nested deeper than this are refused before parsing: no
/// soa-config needs them, and the parser takes tens of seconds to reach its own limit.
const MAX_FLOW_DEPTH: usize = 100;

/// The line where flow nesting first goes past MAX_FLOW_DEPTH, if it does.
fn too_deep(text: &str) -> Option<usize> {
    let (mut depth, mut line) = (0usize, 1usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    for c in text.chars() {
        match c {
            '\n' => {
                line += 1;
                comment = false;
                continue;
            }
            _ if comment => continue,
            '\'' | '"' if quote == Some(c) => quote = None,
            '\'' | '"' if quote.is_none() => quote = Some(c),
            _ if quote.is_some() => {}
            '#' => comment = true,
            '[' | '{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some(line);
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

pub fn parse_mapping(path: &Path, text: &str) -> Result<Mapping> {
    if let Some(line) = too_deep(text) {
        return Err(Problem::new(
            path,
            format!("not valid YAML: collections nested more than {MAX_FLOW_DEPTH} deep"),
        )
        .line(Some(line))
        .into());
    }
    let mut value: Value = serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        // serde_yaml appends "at line X column Y"; the line is already in our prefix.
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        Problem::new(path, format!("not valid YAML: {msg}")).line(line)
    })?;
    // `<<: *template` merge keys, as PyYAML applies them for PaaSTA.
    value
        .apply_merge()
        .map_err(|e| Problem::new(path, format!("a merge key (<<) could not be applied: {e}")))?;
    match value {
        Value::Null => Ok(Mapping::new()),
        Value::Mapping(m) => Ok(m),
        other => Err(Problem::new(
            path,
            format!(
                "the file holds {}, expected a mapping of keys to values",
                describe(&other)
            ),
        )
        .line(Some(1))
        .into()),
    }
}

/// Merges `overrides` over `defaults`: mappings merge key by key, anything else is replaced.
/// Keys of `defaults` keep their position; new keys of `overrides` follow.
pub fn deep_merge(defaults: &Mapping, overrides: &Mapping) -> Mapping {
    let mut out = defaults.clone();
    for (k, v) in overrides {
        match (out.get_mut(k), v) {
            (Some(Value::Mapping(base)), Value::Mapping(over)) => {
                let merged = deep_merge(base, over);
                *base = merged;
            }
            (Some(slot), _) => *slot = v.clone(),
            (None, _) => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// A short description of a value's type and content, for messages.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// The key as text (YAML keys may be numbers or booleans, e.g. an instance named `123`).
pub fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        other => describe(other),
    }
}

/// The 1-based line of the key at `path` (top-level key first), found by indentation. Best
/// effort: flow-style mappings and anchors are not followed, and `None` is then fine.
pub fn locate(text: &str, path: &[&str]) -> Option<usize> {
    let mut min_indent: Option<usize> = None; // keys must be indented more than their parent
    let mut depth = 0;
    let mut found = None;
    for (i, line) in text.lines().enumerate() {
        if depth == path.len() {
            break;
        }
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if let Some(parent) = min_indent {
            if indent <= parent && found.is_some() {
                // Left the parent's block without finding the child.
                return found;
            }
        }
        let trimmed = trimmed.strip_prefix("- ").unwrap_or(trimmed);
        let key = path[depth];
        let matches = [
            format!("{key}:"),
            format!("\"{key}\":"),
            format!("'{key}':"),
        ]
        .iter()
        .any(|k| trimmed.starts_with(k.as_str()));
        if matches && min_indent.is_none_or(|p| indent > p) {
            found = Some(i + 1);
            min_indent = Some(indent);
            depth += 1;
        }
    }
    if depth == path.len() {
        found
    } else {
        found.filter(|_| depth > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_at_once() {
        let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let started = std::time::Instant::now();
        let e = parse_mapping(Path::new("f.yaml"), &deep)
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(
            e.contains("f.yaml:1") && e.contains("nested more than 100 deep"),
            "{e}"
        );
        // Brackets in strings and comments do not count; ordinary nesting passes.
        let fine = format!(
            "a: \"{}\" # {}\nb: [[1, 2], {{c: [3]}}]\n",
            "[".repeat(500),
            "{".repeat(500)
        );
        assert!(parse_mapping(Path::new("f.yaml"), &fine).is_ok());
    }

    #[test]
    fn merge_is_deep_and_overrides_win() {
        let d: Mapping = serde_yaml::from_str("a: 1\nm: {x: 1, y: 2}\nl: [1]").unwrap();
        let o: Mapping = serde_yaml::from_str("m: {y: 3, z: 4}\nl: [2]\nb: 5").unwrap();
        let m = deep_merge(&d, &o);
        let want: Mapping =
            serde_yaml::from_str("a: 1\nm: {x: 1, y: 3, z: 4}\nl: [2]\nb: 5").unwrap();
        assert_eq!(m, want);
    }

    #[test]
    fn locate_finds_nested_keys() {
        let text = "main:\n  cpus: 1\n  env:\n    A: b\nother:\n  cpus: 2\n";
        assert_eq!(locate(text, &["main"]), Some(1));
        assert_eq!(locate(text, &["main", "env", "A"]), Some(4));
        assert_eq!(locate(text, &["other", "cpus"]), Some(6));
        assert_eq!(locate(text, &["nope"]), None);
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = parse_mapping(Path::new("x.yaml"), "a: 1\nb: [1,\n").unwrap_err();
        let Error::Invalid(p) = err else { panic!() };
        assert!(p.line.is_some(), "{p}");
        assert!(p.message.starts_with("not valid YAML"), "{p}");
    }
}
