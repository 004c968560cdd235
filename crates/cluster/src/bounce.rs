//! Bounce methods: pure decisions about moving an instance from its old app(s) to a new one
//! (docs/paasta.md §4). Inputs: the desired instance count, whether the new app runs, how many
//! of its tasks are happy, the old tasks not yet draining (in the order to keep them), and the
//! margin. Output: whether to create the new app, and which old tasks to drain.

/// The bounce methods are the config's (the loader parses `bounce_method`).
pub use soa::instance::BounceMethod as Method;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Situation {
    pub instances: usize,
    pub new_app_running: bool,
    pub happy_new: usize,
    pub old_non_draining: usize,
    /// In (0, 1]; 1 keeps every old task until its replacement is happy.
    pub margin: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub create_new_app: bool,
    /// Drain the old non-draining tasks from this index on (0: all, len: none); the ones before
    /// it are kept.
    pub keep_old: usize,
}

impl Decision {
    pub fn drain_count(&self, old_non_draining: usize) -> usize {
        old_non_draining.saturating_sub(self.keep_old)
    }
}

pub fn decide(method: Method, s: Situation) -> Decision {
    let all = Decision {
        create_new_app: !s.new_app_running,
        keep_old: 0,
    };
    match method {
        Method::Brutal => all,
        Method::Upthendown => Decision {
            keep_old: if s.happy_new >= s.instances {
                0
            } else {
                s.old_non_draining
            },
            ..all
        },
        Method::Downthenup => Decision {
            create_new_app: s.old_non_draining == 0 && !s.new_app_running,
            keep_old: 0,
        },
        Method::Crossover => {
            let needed = (s.instances as f64 * s.margin).ceil() as usize;
            Decision {
                keep_old: needed.saturating_sub(s.happy_new).min(s.old_non_draining),
                ..all
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(
        instances: usize,
        new_app_running: bool,
        happy_new: usize,
        old: usize,
        margin: f64,
    ) -> Situation {
        Situation {
            instances,
            new_app_running,
            happy_new,
            old_non_draining: old,
            margin,
        }
    }

    /// The reference's grid (instances 10, 10 old tasks).
    #[test]
    fn reference_grid() {
        let drain = |m, st: Situation| decide(m, st).drain_count(st.old_non_draining);
        assert_eq!(drain(Method::Crossover, s(10, true, 3, 10, 1.0)), 3);
        assert_eq!(drain(Method::Crossover, s(10, true, 3, 10, 0.5)), 8);
        assert_eq!(drain(Method::Crossover, s(10, true, 10, 10, 1.0)), 10);
        let d = decide(Method::Downthenup, s(10, false, 0, 10, 1.0));
        assert_eq!((d.create_new_app, d.drain_count(10)), (false, 10));
    }

    #[test]
    fn every_method_across_happy_counts() {
        for happy in 0..=10 {
            for running in [false, true] {
                let st = s(10, running, if running { happy } else { 0 }, 10, 1.0);
                let b = decide(Method::Brutal, st);
                assert_eq!((b.create_new_app, b.drain_count(10)), (!running, 10));
                let u = decide(Method::Upthendown, st);
                assert_eq!(u.create_new_app, !running);
                assert_eq!(
                    u.drain_count(10),
                    if running && happy == 10 { 10 } else { 0 }
                );
                let c = decide(Method::Crossover, st);
                assert_eq!(c.create_new_app, !running);
                // Crossover never leaves fewer than ceil(instances × margin) happy-or-kept tasks.
                assert!(c.keep_old + st.happy_new >= 10, "happy {happy}");
                assert_eq!(c.drain_count(10), st.happy_new);
            }
        }
        // Down then up creates only once the old tasks are gone.
        assert!(decide(Method::Downthenup, s(3, false, 0, 0, 1.0)).create_new_app);
        assert!(!decide(Method::Downthenup, s(3, true, 0, 0, 1.0)).create_new_app);
    }

    #[test]
    fn crossover_margins_and_fewer_old_tasks() {
        // margin 0.5 of 3 instances: 2 must stay up.
        assert_eq!(decide(Method::Crossover, s(3, true, 0, 3, 0.5)).keep_old, 2);
        assert_eq!(decide(Method::Crossover, s(3, true, 1, 3, 0.5)).keep_old, 1);
        // Only 1 old task left and nothing happy: keep it, never more than exist.
        assert_eq!(decide(Method::Crossover, s(5, true, 0, 1, 1.0)).keep_old, 1);
        // More happy than needed (scaled down meanwhile): drain every old task.
        assert_eq!(decide(Method::Crossover, s(2, true, 4, 3, 1.0)).keep_old, 0);
    }
}
