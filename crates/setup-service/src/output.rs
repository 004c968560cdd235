//! What setup-service prints and sends: one typed JSON record per instance or job on stdout,
//! and a setup_service.<service>.<instance> Sensu event.

use crate::jobs::JobOutcome;
use cluster::Action;
use serde::Serialize;
use serde_json::Value as Json;
use soa::select::Selected;

/// The result line of one long-running instance (or of an instance that failed or was
/// skipped before it could be told apart).
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) service: String,
    pub(crate) instance: String,
    pub(crate) app_id: Option<String>,
    pub(crate) desired: usize,
    pub(crate) happy: usize,
    pub(crate) actions: Vec<Action>,
    pub(crate) bounce_in_progress: bool,
    pub(crate) error: Option<String>,
    pub(crate) skipped: Option<String>,
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Line<'a> {
            service: &'a str,
            instance: &'a str,
            app_id: Option<&'a str>,
            desired: usize,
            happy: usize,
            actions: &'a [Action],
            bounce_in_progress: bool,
            /// When to look again: while a bounce is in progress, at the next cron minute.
            bounce_again_in_s: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            skipped: Option<&'a str>,
        }
        Line {
            service: &self.service,
            instance: &self.instance,
            app_id: self.app_id.as_deref(),
            desired: self.desired,
            happy: self.happy,
            actions: &self.actions,
            bounce_in_progress: self.bounce_in_progress,
            bounce_again_in_s: self.bounce_in_progress.then_some(60),
            error: self.error.as_deref(),
            skipped: self.skipped.as_deref(),
        }
        .serialize(s)
    }
}

/// One stdout line: an instance's or a job's record.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Record {
    App(Outcome),
    Job(JobOutcome),
}

impl Record {
    /// `service.instance`, for stderr.
    pub(crate) fn name(&self) -> String {
        let (service, instance) = match self {
            Record::App(o) => (&o.service, &o.instance),
            Record::Job(o) => (&o.service, &o.instance),
        };
        format!("{service}.{instance}")
    }

    pub(crate) fn error(&self) -> Option<&str> {
        match self {
            Record::App(o) => o.error.as_deref(),
            Record::Job(o) => o.error.as_deref(),
        }
    }

    pub(crate) fn actions(&self) -> &[Action] {
        match self {
            Record::App(o) => &o.actions,
            Record::Job(o) => &o.actions,
        }
    }
}

/// setup_service.<service>.<instance>: CRITICAL with the error, else OK with `ok_text`.
pub(crate) fn sensu_event(
    selected: &Selected,
    error: Option<&str>,
    ok_text: String,
) -> Option<Json> {
    let config = &selected.config;
    let name = format!("setup_service.{}.{}", config.service, config.instance);
    let (status, text) = match error {
        Some(e) => (
            soa::sensu::CRITICAL,
            format!(
                "setup-service could not set up {}.{}: {e}",
                config.service, config.instance
            ),
        ),
        None => (soa::sensu::OK, ok_text),
    };
    soa::sensu::event(&selected.service, config, name, status, text).map(|e| e.to_json())
}

pub(crate) fn app_ok_text(out: &Outcome) -> String {
    format!(
        "{}.{} is set up: app {}, {} of {} tasks happy{}",
        out.service,
        out.instance,
        out.app_id.as_deref().unwrap_or("-"),
        out.happy,
        out.desired,
        if out.bounce_in_progress {
            ", bounce in progress"
        } else {
            ""
        }
    )
}

/// What one piece of work printed, and the Sensu event it earned.
pub(crate) struct Line {
    pub(crate) record: Record,
    pub(crate) event: Option<Json>,
}

pub(crate) fn failed_line(service: &str, instance: &str, error: String) -> Line {
    Line {
        record: Record::App(Outcome {
            service: service.to_string(),
            instance: instance.to_string(),
            error: Some(error),
            ..Default::default()
        }),
        event: None,
    }
}
