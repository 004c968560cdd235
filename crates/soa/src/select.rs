//! Picking the instances a master tool works on: every instance of one type in a cluster
//! (`--all`), or the `SERVICE.INSTANCE` names given. A service or instance that cannot be loaded
//! is a failure of its own, so the others still proceed. Services load in parallel: a master
//! reads thousands of files each minute.

use crate::{InstanceConfig, InstanceType, Service};
use rayon::prelude::*;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Selected {
    pub service: Arc<Service>,
    pub config: InstanceConfig,
}

/// A service or instance that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub service: String,
    pub instance: Option<String>,
    pub message: String,
}

impl Failure {
    /// `service[.instance]`.
    pub fn name(&self) -> String {
        match &self.instance {
            Some(i) => format!("{}.{i}", self.service),
            None => self.service.clone(),
        }
    }
}

/// A message about `name` (a service or `service.instance`), prefixed with the name unless the
/// message already names it, so no line says the same instance twice.
pub fn about(name: &str, message: &str) -> String {
    if name.is_empty() || message.contains(name) {
        message.to_string()
    } else {
        format!("{name}: {message}")
    }
}

#[derive(Debug, Default)]
pub struct Selection {
    pub selected: Vec<Selected>,
    pub failures: Vec<Failure>,
    /// Services that could not be loaded at all: whatever of them runs must be left alone.
    pub unreadable_services: Vec<String>,
    /// Services with files of this cluster of a type not run here (eks-, flink-, …), with those
    /// files: what of them runs may be what such a file describes, so it is left alone too.
    pub not_understood: Vec<(String, Vec<std::path::PathBuf>)>,
    /// The soa-configs root itself could not be listed (with every service asked for): no
    /// instance can be judged, so a tool stops with an error rather than a per-instance line.
    pub unreadable_root: Option<String>,
}

impl Selection {
    /// Says each failure on stderr as `<tool>: <message>`; Err with the message when the root
    /// itself could not be read (no instance can be judged then).
    pub fn report(&self, tool: &str) -> Result<(), String> {
        if let Some(e) = &self.unreadable_root {
            return Err(e.clone());
        }
        for f in &self.failures {
            eprintln!("{tool}: {}", about(&f.name(), &f.message));
        }
        Ok(())
    }
}

/// Splits `service.instance` (the instance is after the first dot: service names have none).
pub fn split_name(name: &str) -> Option<(&str, &str)> {
    name.split_once('.')
        .filter(|(s, i)| !s.is_empty() && !i.is_empty())
}

/// Every service of `names`, loaded on every core, in the order given.
fn load_all(soa_dir: &Path, names: &[String]) -> Vec<(String, crate::Result<Service>)> {
    names
        .par_iter()
        .map(|n| (n.clone(), Service::load(soa_dir, n)))
        .collect()
}

fn problems_text(problems: &[crate::Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The instances of `cluster` of the given kinds: all of them when `names` is empty, else the
/// named `SERVICE.INSTANCE`s in the order given.
pub fn select(
    soa_dir: &Path,
    cluster: &str,
    kinds: &[InstanceType],
    names: &[String],
) -> Selection {
    let mut out = Selection::default();
    let clusters = [cluster.to_string()];
    if names.is_empty() {
        let services = match crate::service::list_services(soa_dir) {
            Ok(s) => s,
            Err(e) => {
                out.unreadable_root = Some(e.to_string());
                return out;
            }
        };
        for (name, loaded) in load_all(soa_dir, &services) {
            let service = match loaded {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    out.unreadable_services.push(name.clone());
                    out.failures.push(Failure {
                        service: name,
                        instance: None,
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            let foreign: Vec<std::path::PathBuf> = service
                .unsupported
                .iter()
                .filter(|(c, _)| c == cluster)
                .map(|(_, p)| p.clone())
                .collect();
            if !foreign.is_empty() {
                out.not_understood.push((name.clone(), foreign));
            }
            for file in service
                .files_in(Some(&clusters))
                .filter(|f| kinds.iter().any(|k| f.kind.counts_as(*k)))
            {
                for (instance, _) in file.instances() {
                    match service.instance_config(file, &instance) {
                        Ok(config) => out.selected.push(Selected {
                            service: service.clone(),
                            config,
                        }),
                        Err(p) => out.failures.push(Failure {
                            service: name.clone(),
                            instance: Some(instance),
                            message: problems_text(&p),
                        }),
                    }
                }
            }
        }
        return out;
    }
    let mut wanted: Vec<String> = names
        .iter()
        .filter_map(|n| split_name(n).map(|(s, _)| s.to_string()))
        .collect();
    wanted.sort();
    wanted.dedup();
    let loaded: Vec<(String, Result<Arc<Service>, String>)> = load_all(soa_dir, &wanted)
        .into_iter()
        .map(|(n, r)| (n, r.map(Arc::new).map_err(|e| e.to_string())))
        .collect();
    for name in names {
        let Some((service_name, instance)) = split_name(name) else {
            out.failures.push(Failure {
                service: name.clone(),
                instance: None,
                message: format!("{name:?}: expected SERVICE.INSTANCE"),
            });
            continue;
        };
        let fail = |message: String| Failure {
            service: service_name.to_string(),
            instance: Some(instance.to_string()),
            message,
        };
        let service = match loaded.iter().find(|(n, _)| n == service_name) {
            Some((_, Ok(s))) => s.clone(),
            Some((_, Err(e))) => {
                out.unreadable_services.push(service_name.to_string());
                out.failures.push(fail(e.clone()));
                continue;
            }
            None => continue,
        };
        let file = kinds
            .iter()
            .find_map(|k| service.find_instance(cluster, instance, Some(*k)));
        match file {
            Some(file) => match service.instance_config(file, instance) {
                Ok(config) => out.selected.push(Selected {
                    service: service.clone(),
                    config,
                }),
                Err(p) => out.failures.push(fail(problems_text(&p))),
            },
            None => {
                let kinds_text: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
                let files: Vec<String> = kinds
                    .iter()
                    .map(|k| {
                        service
                            .dir
                            .join(format!("{k}-{cluster}.yaml"))
                            .display()
                            .to_string()
                    })
                    .collect();
                out.failures.push(fail(format!(
                    "{service_name} has no {} instance {instance} in cluster {cluster} (looked in {})",
                    kinds_text.join(" or "),
                    files.join(", ")
                )))
            }
        }
    }
    out.unreadable_services.sort();
    out.unreadable_services.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_said_once() {
        assert_eq!(
            about(
                "svc.main",
                "/s/svc/marathon-c.yaml:2: instance svc.main: key cpus: bad"
            ),
            "/s/svc/marathon-c.yaml:2: instance svc.main: key cpus: bad"
        );
        assert_eq!(about("svc.main", "no engine"), "svc.main: no engine");
        assert_eq!(about("", "the root"), "the root");
        let f = Failure {
            service: "svc".into(),
            instance: Some("main".into()),
            message: String::new(),
        };
        assert_eq!(f.name(), "svc.main");
    }
}
