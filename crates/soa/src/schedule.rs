//! Job schedules: ISO 8601 repeating intervals (`R[n]/<start>/<period>`, as Chronos reads them)
//! and standard five-field cron expressions, evaluated in a job's `schedule_time_zone`.
//!
//! Decisions, written down because the seed left them to Chronos:
//! - `schedule_time_zone` takes precedence over an offset written in the start time: the start's
//!   wall-clock fields are kept and read in that zone. Without a zone, the written offset applies,
//!   and a start with no offset is UTC.
//! - Calendar parts of a period (years, months, weeks, days) keep the wall-clock time across DST
//!   changes; time parts (hours, minutes, seconds) are exact durations. Occurrence k is computed
//!   from the start each time, so month ends do not drift (Jan 31 + 1 month = Feb 28, + 2 = Mar 31).
//! - `Rn` allows n runs in all; `R` repeats forever.
//! - A wall-clock time skipped by a DST change runs at the same distance after the change
//!   (02:30 on a spring-forward day at 03:30); a repeated wall-clock time runs once, the first time.
//! - Cron: minute hour day-of-month month day-of-week, with `*`, lists, ranges, steps, month and
//!   day names, 0 or 7 for Sunday, Vixie cron's rule that a restricted day-of-month and day-of-week
//!   match either, and the `@yearly` … `@hourly` macros. The `cron` crate counts weekdays from
//!   Sunday = 1 and has no DST rule of its own, so this module evaluates cron itself.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, Months, NaiveDate, NaiveDateTime,
    Offset, TimeZone, Utc,
};
use chrono_tz::Tz;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    #[error("The specified epsilon value \"{0}\" does not conform to the ISO8601 format.")]
    Epsilon(String),
    #[error("The specified time zone \"{0}\" is not a time zone of the IANA database (e.g. America/New_York, UTC)")]
    TimeZone(String),
    #[error("The specified schedule \"{0}\" is neither a valid cron schedule nor a valid ISO 8601 schedule")]
    Neither(String),
    #[error("The specified schedule \"{0}\" does not contain a start time")]
    NoStart(String),
    #[error("Unsupported interval \"{0}\": jobs must be run at an interval of > 60 seconds")]
    Interval(String),
    #[error(
        "The specified repeat \"{0}\" in schedule \"{1}\" does not conform to the ISO 8601 format."
    )]
    Repeat(String, String),
    #[error("The specified start time \"{0}\" in schedule \"{1}\" does not conform to the ISO 8601 format (expected e.g. 2019-01-01T03:00:00Z).")]
    Start(String, String),
    #[error("The specified interval \"{0}\" in schedule \"{1}\" does not conform to the ISO 8601 format (expected e.g. PT1H or P1D).")]
    Period(String, String),
    #[error("The specified cron schedule \"{0}\" is invalid: {1}")]
    Cron(String, String),
}

/// An ISO 8601 duration `PnYnMnWnDTnHnMnS`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct IsoDuration {
    pub years: u32,
    pub months: u32,
    pub weeks: u32,
    pub days: u32,
    pub hours: u64,
    pub minutes: u64,
    pub seconds: f64,
}

impl IsoDuration {
    fn calendar_months(&self) -> u32 {
        self.years * 12 + self.months
    }
    fn calendar_days(&self) -> u32 {
        self.weeks * 7 + self.days
    }
    fn exact_millis(&self) -> i64 {
        ((self.hours * 3600 + self.minutes * 60) as f64 * 1000.0 + self.seconds * 1000.0).round()
            as i64
    }
    /// Length in seconds, counting a month as 30 days and a year as 365.
    pub fn approx_seconds(&self) -> f64 {
        f64::from(self.calendar_months()) * 30.0 * 86400.0
            + f64::from(self.calendar_days()) * 86400.0
            + self.exact_millis() as f64 / 1000.0
    }
    /// As a chrono Duration, for durations without calendar parts (epsilon).
    pub fn to_duration(&self) -> Duration {
        Duration::days(i64::from(self.calendar_days()) + i64::from(self.calendar_months()) * 30)
            + Duration::milliseconds(self.exact_millis())
    }
}

/// Parses an ISO 8601 duration such as `PT60S`, `P1D`, `P1Y2M10DT2H30M`, `PT0.5S`.
pub fn parse_duration(s: &str) -> Option<IsoDuration> {
    let body = s.strip_prefix('P')?;
    if body.is_empty() {
        return None;
    }
    let mut d = IsoDuration::default();
    let mut in_time = false;
    let mut num = String::new();
    let mut any = false;
    for c in body.chars() {
        if c == 'T' {
            if in_time || !num.is_empty() {
                return None;
            }
            in_time = true;
            continue;
        }
        if c.is_ascii_digit() || c == '.' || c == ',' {
            num.push(if c == ',' { '.' } else { c });
            continue;
        }
        if num.is_empty() {
            return None;
        }
        let whole = || num.parse::<u64>().ok();
        match (in_time, c) {
            (false, 'Y') => d.years = u32::try_from(whole()?).ok()?,
            (false, 'M') => d.months = u32::try_from(whole()?).ok()?,
            (false, 'W') => d.weeks = u32::try_from(whole()?).ok()?,
            (false, 'D') => d.days = u32::try_from(whole()?).ok()?,
            (true, 'H') => d.hours = whole()?,
            (true, 'M') => d.minutes = whole()?,
            (true, 'S') => d.seconds = num.parse::<f64>().ok().filter(|s| s.is_finite())?,
            _ => return None,
        }
        num.clear();
        any = true;
    }
    (num.is_empty() && any).then_some(d)
}

/// Parses a job's `epsilon`.
pub fn parse_epsilon(s: &str) -> Result<Duration, ScheduleError> {
    parse_duration(s)
        .map(|d| d.to_duration())
        .ok_or_else(|| ScheduleError::Epsilon(s.to_string()))
}

/// Parses a `schedule_time_zone`.
pub fn parse_time_zone(s: &str) -> Result<Tz, ScheduleError> {
    s.parse::<Tz>()
        .map_err(|_| ScheduleError::TimeZone(s.to_string()))
}

#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Iso {
        repeat: Option<u64>,
        start: NaiveDateTime,
        offset: Option<FixedOffset>,
        period: IsoDuration,
    },
    Cron(Cron),
}

pub fn parse(s: &str) -> Result<Schedule, ScheduleError> {
    let text = s.trim();
    let parts: Vec<&str> = text.split('/').collect();
    if text.starts_with('R') && parts.len() == 3 {
        let repeat = match &parts[0][1..] {
            "" => None,
            n if n.bytes().all(|b| b.is_ascii_digit()) => Some(
                n.parse::<u64>()
                    .map_err(|_| ScheduleError::Repeat(parts[0].into(), s.into()))?,
            ),
            _ => return Err(ScheduleError::Repeat(parts[0].into(), s.into())),
        };
        if parts[1].is_empty() {
            return Err(ScheduleError::NoStart(s.into()));
        }
        let (start, offset) =
            parse_start(parts[1]).ok_or_else(|| ScheduleError::Start(parts[1].into(), s.into()))?;
        let period = parse_duration(parts[2])
            .ok_or_else(|| ScheduleError::Period(parts[2].into(), s.into()))?;
        if period.approx_seconds() < 60.0 {
            return Err(ScheduleError::Interval(parts[2].into()));
        }
        return Ok(Schedule::Iso {
            repeat,
            start,
            offset,
            period,
        });
    }
    match Cron::parse(text) {
        Ok(cron) => Ok(Schedule::Cron(cron)),
        Err(CronError::NotCron) => Err(ScheduleError::Neither(s.into())),
        Err(CronError::Field(msg)) => Err(ScheduleError::Cron(s.into(), msg)),
    }
}

fn parse_start(s: &str) -> Option<(NaiveDateTime, Option<FixedOffset>)> {
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y%m%dT%H%M%S%z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some((dt.naive_local(), Some(*dt.offset())));
        }
    }
    if let Some(naive) = s.strip_suffix('Z') {
        return parse_naive(naive)
            .map(|n| (n, Some(FixedOffset::east_opt(0).expect("zero offset"))));
    }
    parse_naive(s).map(|n| (n, None))
}

fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y%m%dT%H%M%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight"))
        })
}

/// A wall-clock time in a zone, as an instant, by the DST rule of the module docs.
fn resolve<T: TimeZone>(tz: &T, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // In a gap: read the wall clock with the offset in force just before the gap.
            let before = tz.offset_from_utc_datetime(&(local - Duration::hours(3)));
            let fixed = before.fix();
            Utc.from_utc_datetime(&(local - Duration::seconds(i64::from(fixed.local_minus_utc()))))
        }
    }
}

/// The zone a schedule is evaluated in.
#[derive(Debug, Clone, Copy)]
enum Zone {
    Named(Tz),
    Fixed(FixedOffset),
}

impl Zone {
    fn resolve(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self {
            Zone::Named(tz) => resolve(tz, local),
            Zone::Fixed(off) => resolve(off, local),
        }
    }
    fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Zone::Named(tz) => t.with_timezone(tz).naive_local(),
            Zone::Fixed(off) => t.with_timezone(off).naive_local(),
        }
    }
}

impl Schedule {
    /// The first run strictly after `after`, or None when the schedule has no more runs.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Option<Tz>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Iso {
                repeat,
                start,
                offset,
                period,
            } => {
                let zone = match (tz, offset) {
                    (Some(tz), _) => Zone::Named(tz),
                    (None, Some(off)) => Zone::Fixed(*off),
                    (None, None) => Zone::Named(Tz::UTC),
                };
                let occurrence = |k: u64| -> Option<DateTime<Utc>> {
                    let k32 = u32::try_from(k).ok()?;
                    let local = start
                        .checked_add_months(Months::new(
                            period.calendar_months().checked_mul(k32)?,
                        ))?
                        .checked_add_signed(Duration::try_days(
                            i64::from(period.calendar_days()) * i64::from(k32),
                        )?)?;
                    let exact =
                        Duration::try_milliseconds(period.exact_millis().checked_mul(k as i64)?)?;
                    zone.resolve(local).checked_add_signed(exact)
                };
                let first = occurrence(0)?;
                let mut k = if after < first {
                    0
                } else {
                    let approx = period.approx_seconds();
                    (((after - first).num_seconds() as f64 / approx).floor() as u64)
                        .saturating_sub(1)
                };
                while occurrence(k)? <= after {
                    k += 1;
                }
                while k > 0 && occurrence(k - 1)? > after {
                    k -= 1;
                }
                if repeat.is_some_and(|n| k >= n) {
                    return None;
                }
                occurrence(k)
            }
            Schedule::Cron(cron) => cron.next_after(after, Zone::Named(tz.unwrap_or(Tz::UTC))),
        }
    }

    /// The runs in `(after, until]`, at most `limit` of them.
    pub fn runs_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        tz: Option<Tz>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = after;
        while out.len() < limit {
            match self.next_after(t, tz) {
                Some(n) if n <= until => {
                    out.push(n);
                    t = n;
                }
                _ => break,
            }
        }
        out
    }
}

/// A five-field cron expression, as bit sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,    // bits 1..=31
    months: u16,  // bits 1..=12
    weekdays: u8, // bits 0..=6, Sunday = 0
    dom_restricted: bool,
    dow_restricted: bool,
}

enum CronError {
    NotCron,
    Field(String),
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    /// NotCron when the text does not look like cron at all.
    fn parse(text: &str) -> Result<Cron, CronError> {
        let expanded = match text {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            t if t.starts_with('@') => return Err(CronError::NotCron),
            t => t,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        // A field looks like cron when each part is a number, `*`, `?` or a month or day name.
        let looks_like_cron = |f: &str| {
            f.split([',', '-', '/']).all(|part| {
                !part.is_empty()
                    && (part.bytes().all(|b| b.is_ascii_digit())
                        || part == "*"
                        || part == "?"
                        || MONTHS
                            .iter()
                            .chain(DAYS.iter())
                            .any(|n| n.eq_ignore_ascii_case(part)))
            })
        };
        if fields.is_empty() || !fields.iter().all(|f| looks_like_cron(f)) {
            return Err(CronError::NotCron);
        }
        if fields.len() != 5 {
            return Err(if fields.len() == 1 {
                CronError::NotCron
            } else {
                CronError::Field(format!(
                    "it has {} fields, expected 5: minute hour day-of-month month day-of-week",
                    fields.len()
                ))
            });
        }
        let minutes = field(fields[0], "minute", 0, 59, &[])?;
        let hours = field(fields[1], "hour", 0, 23, &[])?;
        let days = field(fields[2], "day-of-month", 1, 31, &[])?;
        let months = field(fields[3], "month", 1, 12, &MONTHS)?;
        let mut weekdays = field(fields[4], "day-of-week", 0, 7, &DAYS)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & 0x7f; // 7 is Sunday too
        }
        let unrestricted = |f: &str| f == "*" || f == "?";
        Ok(Cron {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            dom_restricted: !unrestricted(fields[2]),
            dow_restricted: !unrestricted(fields[4]),
        })
    }

    fn day_matches(&self, d: NaiveDate) -> bool {
        if self.months & (1 << d.month()) == 0 {
            return false;
        }
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().num_days_from_sunday()) != 0;
        match (self.dom_restricted, self.dow_restricted) {
            (true, true) => dom || dow,
            _ => dom && dow,
        }
    }

    fn next_after(&self, after: DateTime<Utc>, zone: Zone) -> Option<DateTime<Utc>> {
        let local_after = zone.local(after);
        let mut date = local_after.date();
        // Eight years covers every satisfiable expression (Feb 29 on a given weekday included).
        for _ in 0..(366 * 8) {
            if self.day_matches(date) {
                for h in (0..24).filter(|h| self.hours & (1 << h) != 0) {
                    for m in (0..60).filter(|m| self.minutes & (1 << m) != 0) {
                        let local = date.and_hms_opt(h, m, 0)?;
                        if local <= local_after {
                            continue;
                        }
                        let t = zone.resolve(local);
                        if t > after {
                            return Some(t);
                        }
                    }
                }
            }
            date = date.succ_opt()?;
        }
        None
    }
}

fn field(text: &str, name: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, CronError> {
    let bad = |why: String| CronError::Field(format!("the {name} field \"{text}\" {why}"));
    let value = |s: &str| -> Result<u32, CronError> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + if names.len() == 12 { 1 } else { 0 });
        }
        let v: u32 = s.parse().map_err(|_| {
            bad(format!(
                "has \"{s}\", expected a number from {min} to {max}"
            ))
        })?;
        if v < min || v > max {
            return Err(bad(format!("has {v}, out of the range {min}-{max}")));
        }
        Ok(v)
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>().ok().filter(|s| *s > 0).ok_or_else(|| {
                    bad(format!("has the step \"{s}\", expected a positive number"))
                })?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo > hi {
            return Err(bad(format!(
                "has the range {lo}-{hi}, whose start is after its end"
            )));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn runs(sched: &str, tz: Option<&str>, from: &str, n: usize) -> Vec<String> {
        let s = parse(sched).unwrap();
        let tz = tz.map(|t| parse_time_zone(t).unwrap());
        let mut t = utc(from);
        let mut out = Vec::new();
        for _ in 0..n {
            t = s.next_after(t, tz).unwrap();
            out.push(t.to_rfc3339());
        }
        out
    }

    #[test]
    fn reference_messages() {
        assert_eq!(parse("garbage").unwrap_err().to_string(), "The specified schedule \"garbage\" is neither a valid cron schedule nor a valid ISO 8601 schedule");
        assert_eq!(
            parse("R//PT1H").unwrap_err().to_string(),
            "The specified schedule \"R//PT1H\" does not contain a start time"
        );
        assert_eq!(
            parse("R/2019-01-01T00:00:00Z/PT30S")
                .unwrap_err()
                .to_string(),
            "Unsupported interval \"PT30S\": jobs must be run at an interval of > 60 seconds"
        );
        assert_eq!(
            parse("RX/2019-01-01T00:00:00Z/PT1H").unwrap_err().to_string(),
            "The specified repeat \"RX\" in schedule \"RX/2019-01-01T00:00:00Z/PT1H\" does not conform to the ISO 8601 format."
        );
        assert_eq!(
            parse_epsilon("foo").unwrap_err().to_string(),
            "The specified epsilon value \"foo\" does not conform to the ISO8601 format."
        );
        assert_eq!(parse_epsilon("PT60S").unwrap(), Duration::seconds(60));
        assert!(parse("R/2019-01-01T00:00:00Z/PT60S").is_ok());
        assert!(matches!(parse("0 0 * *"), Err(ScheduleError::Cron(..))));
        assert!(matches!(parse("61 * * * *"), Err(ScheduleError::Cron(..))));
    }

    #[test]
    fn daily_and_hourly_iso() {
        assert_eq!(
            runs(
                "R/2014-09-25T00:00:00Z/PT24H",
                None,
                "2019-03-15T13:00:00Z",
                2
            ),
            ["2019-03-16T00:00:00+00:00", "2019-03-17T00:00:00+00:00"]
        );
        assert_eq!(
            runs(
                "R/2019-01-01T03:00:00+00:00/P1D",
                None,
                "2018-01-01T00:00:00Z",
                1
            ),
            ["2019-01-01T03:00:00+00:00"]
        );
        assert_eq!(
            runs(
                "R/2019-01-01T00:30:00Z/PT1H",
                None,
                "2019-01-01T05:30:00Z",
                2
            ),
            ["2019-01-01T06:30:00+00:00", "2019-01-01T07:30:00+00:00"]
        );
        // A written offset applies when no zone is given.
        assert_eq!(
            runs(
                "R/2019-01-01T03:00:00-05:00/P1D",
                None,
                "2019-02-01T00:00:00Z",
                1
            ),
            ["2019-02-01T08:00:00+00:00"]
        );
    }

    #[test]
    fn month_ends_do_not_drift() {
        assert_eq!(
            runs(
                "R/2019-01-31T00:00:00Z/P1M",
                None,
                "2019-01-31T00:00:00Z",
                3
            ),
            [
                "2019-02-28T00:00:00+00:00",
                "2019-03-31T00:00:00+00:00",
                "2019-04-30T00:00:00+00:00"
            ]
        );
    }

    #[test]
    fn repeat_counts_runs() {
        let s = parse("R2/2019-01-01T00:00:00Z/P1D").unwrap();
        assert_eq!(
            s.runs_between(
                utc("2018-12-31T00:00:00Z"),
                utc("2019-02-01T00:00:00Z"),
                None,
                10
            )
            .len(),
            2
        );
    }

    #[test]
    fn dst_in_a_named_zone() {
        // P1D keeps 02:30 wall clock; on the spring-forward day (2019-03-10) 02:30 does not exist
        // in New York and the run happens at 03:30 EDT; then 02:30 EDT again.
        assert_eq!(
            runs(
                "R/2019-03-08T02:30:00/P1D",
                Some("America/New_York"),
                "2019-03-08T12:00:00Z",
                3
            ),
            [
                "2019-03-09T07:30:00+00:00",
                "2019-03-10T07:30:00+00:00",
                "2019-03-11T06:30:00+00:00"
            ]
        );
        // PT24H is an exact duration: the wall clock moves instead.
        assert_eq!(
            runs(
                "R/2019-03-09T12:00:00/PT24H",
                Some("America/New_York"),
                "2019-03-09T18:00:00Z",
                1
            ),
            ["2019-03-10T17:00:00+00:00"]
        );
        // The zone overrides a written offset: its wall clock is kept.
        assert_eq!(
            runs(
                "R/2019-07-01T09:00:00Z/P1D",
                Some("Europe/London"),
                "2019-07-01T09:00:00Z",
                1
            ),
            ["2019-07-02T08:00:00+00:00"]
        );
        // Fall back (2019-11-03): 01:30 happens twice and the job runs once, at the first.
        assert_eq!(
            runs(
                "R/2019-11-01T01:30:00/P1D",
                Some("America/New_York"),
                "2019-11-02T12:00:00Z",
                2
            ),
            ["2019-11-03T05:30:00+00:00", "2019-11-04T06:30:00+00:00"]
        );
    }

    #[test]
    fn cron_expressions() {
        assert_eq!(
            runs("30 2 * * *", None, "2019-01-01T03:00:00Z", 1),
            ["2019-01-02T02:30:00+00:00"]
        );
        assert_eq!(
            runs("*/15 * * * *", None, "2019-01-01T00:00:00Z", 2),
            ["2019-01-01T00:15:00+00:00", "2019-01-01T00:30:00+00:00"]
        );
        // 1-5 is Monday to Friday: 2019-01-04 is a Friday.
        assert_eq!(
            runs("0 9 * * 1-5", None, "2019-01-04T10:00:00Z", 1),
            ["2019-01-07T09:00:00+00:00"]
        );
        assert_eq!(
            runs("0 0 * * 7", None, "2019-01-01T00:00:00Z", 1),
            ["2019-01-06T00:00:00+00:00"]
        );
        assert_eq!(
            runs("0 0 1 jan *", None, "2019-06-01T00:00:00Z", 1),
            ["2020-01-01T00:00:00+00:00"]
        );
        assert_eq!(
            runs("@hourly", None, "2019-01-01T00:10:00Z", 1),
            ["2019-01-01T01:00:00+00:00"]
        );
        // Day-of-month and day-of-week both restricted: either matches (the 13th, or a Friday).
        assert_eq!(
            runs("0 0 13 * 5", None, "2019-01-05T00:00:00Z", 2),
            ["2019-01-11T00:00:00+00:00", "2019-01-13T00:00:00+00:00"]
        );
        assert_eq!(
            runs("0 0 29 2 *", None, "2019-01-01T00:00:00Z", 1),
            ["2020-02-29T00:00:00+00:00"]
        );
        assert!(parse("0 0 31 2 *")
            .unwrap()
            .next_after(utc("2019-01-01T00:00:00Z"), None)
            .is_none());
    }

    #[test]
    fn cron_across_dst() {
        let ny = Some("America/New_York");
        // 02:30 daily: skipped wall clock on 2019-03-10 runs at 03:30 EDT.
        assert_eq!(
            runs("30 2 * * *", ny, "2019-03-09T12:00:00Z", 2),
            ["2019-03-10T07:30:00+00:00", "2019-03-11T06:30:00+00:00"]
        );
        // 01:30 daily on the fall-back day runs once.
        assert_eq!(
            runs("30 1 * * *", ny, "2019-11-02T12:00:00Z", 2),
            ["2019-11-03T05:30:00+00:00", "2019-11-04T06:30:00+00:00"]
        );
        // Hourly across spring forward: 01:00 EST, then 03:00 EDT (one hour later in real time).
        assert_eq!(
            runs("0 * * * *", ny, "2019-03-10T05:30:00Z", 2),
            ["2019-03-10T06:00:00+00:00", "2019-03-10T07:00:00+00:00"]
        );
    }
}
