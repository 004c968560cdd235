//! Where a new task of an app may run, from PaaSTA's Marathon constraints, for backends whose
//! scheduler does not know them (the swarm backend pins each task to the node chosen here). Pure:
//! the nodes and the nodes of the app's live tasks in, a node out.
//!
//! Marathon's operators (an attribute is `hostname` or a node label):
//! - `LIKE re` / `UNLIKE re`: the attribute's value must (must not) match `re` in full; a node
//!   without the attribute is never LIKE and always UNLIKE, as in Marathon.
//! - `CLUSTER v`: the attribute must equal `v`.
//! - `UNIQUE`: no two live tasks share the attribute's value.
//! - `GROUP_BY [n]`: tasks are spread evenly over the attribute's values; the new task goes to the
//!   value with the fewest (ties: the first value in order).
//! - `MAX_PER n`: at most `n` live tasks per value.
//!
//! Any other operator cannot be placed and is an error naming the constraint. Among the nodes
//! left, the one with the fewest tasks of the app wins (ties: the host name), so one step's
//! launches spread like Marathon's.

use std::collections::{BTreeMap, BTreeSet};

/// A node as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    /// Ready and accepting tasks (not drained or paused).
    pub available: bool,
}

impl Node {
    fn attribute(&self, name: &str) -> Option<&str> {
        if name == "hostname" {
            Some(&self.hostname)
        } else {
            self.labels.get(name).map(String::as_str)
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Like(regex::Regex),
    Unlike(regex::Regex),
    Cluster(String),
    Unique,
    GroupBy,
    MaxPer(usize),
}

#[derive(Debug, Clone)]
struct Rule {
    attribute: String,
    op: Op,
}

/// An app's constraints, parsed once.
#[derive(Debug, Clone, Default)]
pub struct Rules(Vec<Rule>);

/// A constraint that has no placement here, or that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("constraint {constraint}: {reason}")]
pub struct RuleError {
    pub constraint: String,
    pub reason: String,
}

fn anchored(pattern: &str, constraint: &str) -> Result<regex::Regex, RuleError> {
    regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| RuleError {
        constraint: constraint.to_string(),
        reason: format!("the pattern does not parse: {e}"),
    })
}

impl Rules {
    /// From the app definition's `constraints` (a list of `[attribute, OPERATOR, value?]`).
    pub fn parse(constraints: &[Vec<String>]) -> Result<Rules, RuleError> {
        let mut rules = Vec::new();
        for c in constraints {
            let shown = serde_json::to_string(c).unwrap_or_default();
            let fail = |reason: &str| RuleError {
                constraint: shown.clone(),
                reason: reason.to_string(),
            };
            let (attribute, op, value) = match c.as_slice() {
                [a, op] => (a, op.as_str(), None),
                [a, op, v] => (a, op.as_str(), Some(v.as_str())),
                _ => {
                    return Err(fail(
                        "expected [attribute, OPERATOR] or [attribute, OPERATOR, value]",
                    ))
                }
            };
            let value = || value.ok_or_else(|| fail("this operator needs a value"));
            let op = match op {
                "LIKE" => Op::Like(anchored(value()?, &shown)?),
                "UNLIKE" => Op::Unlike(anchored(value()?, &shown)?),
                "CLUSTER" => Op::Cluster(value()?.to_string()),
                "UNIQUE" => Op::Unique,
                "GROUP_BY" => Op::GroupBy,
                "MAX_PER" => Op::MaxPer(
                    value()?
                        .parse()
                        .map_err(|_| fail("MAX_PER needs a whole number"))?,
                ),
                other => {
                    return Err(fail(&format!(
                        "the operator {other} has no placement here (LIKE, UNLIKE, CLUSTER, UNIQUE, GROUP_BY and MAX_PER have)"
                    )))
                }
            };
            rules.push(Rule {
                attribute: attribute.clone(),
                op,
            });
        }
        Ok(Rules(rules))
    }

    /// Whether `node` may run a task at all, whatever the app's other tasks.
    fn admits(&self, node: &Node) -> bool {
        self.0.iter().all(|r| {
            let v = node.attribute(&r.attribute);
            match &r.op {
                Op::Like(re) => v.is_some_and(|v| re.is_match(v)),
                Op::Unlike(re) => !v.is_some_and(|v| re.is_match(v)),
                Op::Cluster(want) => v == Some(want.as_str()),
                // Grouping needs the attribute to group by.
                Op::GroupBy | Op::MaxPer(_) | Op::Unique => v.is_some(),
            }
        })
    }

    /// The node (its id) the next task goes to, given the nodes and the node ids of the app's
    /// live tasks (those already placed in this step included); else why none may take it.
    pub fn place(&self, nodes: &[Node], tasks_on: &[String]) -> Result<String, String> {
        let by_id: BTreeMap<&str, &Node> = nodes.iter().map(|n| (n.id.as_str(), n)).collect();
        let task_nodes: Vec<&Node> = tasks_on
            .iter()
            .filter_map(|id| by_id.get(id.as_str()).copied())
            .collect();
        let count_where = |attribute: &str, value: &str| {
            task_nodes
                .iter()
                .filter(|n| n.attribute(attribute) == Some(value))
                .count()
        };
        let mut candidates: Vec<&Node> = nodes
            .iter()
            .filter(|n| n.available && self.admits(n))
            .collect();
        if candidates.is_empty() {
            return Err("no available node satisfies the constraints".into());
        }
        for r in &self.0 {
            let below = |n: &&Node, max: usize| {
                n.attribute(&r.attribute)
                    .is_some_and(|v| count_where(&r.attribute, v) < max)
            };
            match &r.op {
                Op::Unique => candidates.retain(|n| below(n, 1)),
                Op::MaxPer(max) => candidates.retain(|n| below(n, *max)),
                Op::GroupBy => {
                    let least = candidates
                        .iter()
                        .filter_map(|n| n.attribute(&r.attribute))
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .min_by_key(|v| count_where(&r.attribute, v))
                        .map(str::to_string);
                    if let Some(v) = least {
                        candidates.retain(|n| n.attribute(&r.attribute) == Some(v.as_str()));
                    }
                }
                Op::Like(_) | Op::Unlike(_) | Op::Cluster(_) => {}
            }
        }
        let on = |n: &Node| tasks_on.iter().filter(|id| **id == n.id).count();
        candidates
            .into_iter()
            .min_by(|a, b| (on(a), &a.hostname).cmp(&(on(b), &b.hostname)))
            .map(|n| n.id.clone())
            .ok_or_else(|| {
                format!(
                    "every node the constraints allow already has as many tasks as they permit ({} live)",
                    tasks_on.len()
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, region: &str, pool: &str) -> Node {
        Node {
            id: id.into(),
            hostname: format!("host-{id}"),
            labels: [("region", region), ("pool", pool)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            available: true,
        }
    }

    fn nodes() -> Vec<Node> {
        vec![
            node("n0", "r0", "default"),
            node("n1", "r1", "default"),
            node("n2", "r1", "batch"),
        ]
    }

    fn rules(json: &str) -> Rules {
        Rules::parse(&serde_json::from_str::<Vec<Vec<String>>>(json).unwrap()).unwrap()
    }

    /// Places `n` tasks one after another, as one step launches them.
    fn spread(rules: &Rules, nodes: &[Node], n: usize) -> Vec<String> {
        let mut on = Vec::new();
        for _ in 0..n {
            on.push(rules.place(nodes, &on).unwrap());
        }
        on
    }

    #[test]
    fn group_by_spreads_evenly_over_the_groups_and_nodes() {
        let r = rules(r#"[["region","GROUP_BY","2"]]"#);
        let on = spread(&r, &nodes(), 6);
        let count = |id: &str| on.iter().filter(|n| *n == id).count();
        assert_eq!((count("n0"), count("n1") + count("n2")), (3, 3));
        assert_eq!((count("n1"), count("n2")), (2, 1));
        // The seventh goes back to the emptier region.
        assert_eq!(r.place(&nodes(), &on).unwrap(), "n0");
    }

    #[test]
    fn unique_takes_one_node_each_then_refuses() {
        let r = rules(r#"[["hostname","UNIQUE"]]"#);
        let on = spread(&r, &nodes(), 3);
        assert_eq!(on, ["n0", "n1", "n2"]);
        let err = r.place(&nodes(), &on).unwrap_err();
        assert!(err.contains("already has as many tasks"), "{err}");
        assert_eq!(r.place(&nodes(), &on[..2]).unwrap(), "n2");
    }

    #[test]
    fn like_and_unlike_keep_to_matching_nodes() {
        let r = rules(r#"[["pool","LIKE","default"]]"#);
        let on = spread(&r, &nodes(), 4);
        assert_eq!(on, ["n0", "n1", "n0", "n1"]);
        let r = rules(r#"[["region","UNLIKE","r0|r9"]]"#);
        assert!(spread(&r, &nodes(), 4).iter().all(|n| n != "n0"));
        // A partial match is no match: the pattern covers the whole value.
        let r = rules(r#"[["pool","LIKE","def"]]"#);
        assert!(r.place(&nodes(), &[]).is_err());
        // A node without the label is never LIKE.
        let mut ns = nodes();
        ns[1].labels.remove("pool");
        let r = rules(r#"[["pool","LIKE","default"]]"#);
        assert_eq!(spread(&r, &ns, 2), ["n0", "n0"]);
    }

    #[test]
    fn cluster_and_max_per() {
        let r = rules(r#"[["region","CLUSTER","r1"],["hostname","MAX_PER","2"]]"#);
        let on = spread(&r, &nodes(), 4);
        assert_eq!(on, ["n1", "n2", "n1", "n2"]);
        assert!(r.place(&nodes(), &on).is_err());
        assert_eq!(r.place(&nodes(), &on[..3]).unwrap(), "n2");
    }

    #[test]
    fn unavailable_nodes_take_nothing() {
        let mut ns = nodes();
        ns[0].available = false;
        ns[1].available = false;
        assert_eq!(spread(&Rules::default(), &ns, 2), ["n2", "n2"]);
        ns[2].available = false;
        assert!(Rules::default().place(&ns, &[]).is_err());
    }

    #[test]
    fn unplaceable_operators_and_bad_patterns_are_named() {
        let parse = |json: &str| {
            Rules::parse(&serde_json::from_str::<Vec<Vec<String>>>(json).unwrap()).unwrap_err()
        };
        let e = parse(r#"[["rack","IS","x"]]"#);
        assert_eq!(e.constraint, r#"["rack","IS","x"]"#);
        assert!(e.reason.contains("operator IS"), "{e}");
        assert!(parse(r#"[["rack","LIKE","("]]"#)
            .reason
            .contains("does not parse"));
        assert!(parse(r#"[["rack","LIKE"]]"#)
            .reason
            .contains("needs a value"));
        assert!(parse(r#"[["rack"]]"#).reason.contains("expected"));
        assert!(parse(r#"[["rack","MAX_PER","x"]]"#)
            .reason
            .contains("whole number"));
    }
}
