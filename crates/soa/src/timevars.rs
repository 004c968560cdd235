//! Time variables in scheduled-job commands: `{shortdate-1}` (brace syntax) and the seed's
//! `%(shortdate-1)s` (percent syntax).
//!
//! The two syntaxes cannot be told apart from every command, so a command containing `%(` is
//! percent-style and any other brace-style, unless the instance's `time_variable_syntax` says
//! which. A variable is a name (`\w+`) and an optional signed integer delta in the variable's
//! unit. Unknown names are errors, never passed through. Month and year arithmetic that lands on
//! a day the month lacks clamps to the month's last day (PaaSTA raised there).

use chrono::{Datelike, Duration, Months, NaiveDateTime, Timelike};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Syntax {
    Percent,
    Brace,
}

impl Syntax {
    pub fn detect(cmd: &str) -> Syntax {
        if cmd.contains("%(") {
            Syntax::Percent
        } else {
            Syntax::Brace
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeVarError {
    #[error("unknown variable {0} (known: {known})", known = NAMES.join(", "))]
    Unknown(String),
    #[error("{0}")]
    Syntax(String),
    #[error("{0} is out of the range of dates")]
    OutOfRange(String),
}

/// The variable names and the unit their delta counts in.
const NAMES: &[&str] = &[
    "shortdate",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "unixtime",
    "daynumber",
    "ym",
    "ymd",
    "ymdh",
    "ymdhm",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(std::borrow::Cow<'a, str>),
    Var {
        name: &'a str,
        delta: i64,
        token: &'a str,
    },
}

/// Splits a template into text and variables; every syntax error is found here.
fn parse(template: &str, syntax: Syntax) -> Result<Vec<Piece<'_>>, TimeVarError> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let bytes = template.as_bytes();
    let mut i = 0;
    let (open, close_len) = match syntax {
        Syntax::Brace => ("{", 1),
        Syntax::Percent => ("%(", 2),
    };
    while i < bytes.len() {
        let rest = &template[i..];
        match syntax {
            Syntax::Brace if rest.starts_with("{{") => {
                text.push('{');
                i += 2;
                continue;
            }
            Syntax::Brace if rest.starts_with("}}") => {
                text.push('}');
                i += 2;
                continue;
            }
            Syntax::Brace if rest.starts_with('}') => {
                return Err(TimeVarError::Syntax(format!(
                    "a single '}}' at position {i}; write '}}}}' for a literal brace"
                )));
            }
            Syntax::Percent if rest.starts_with("%%") => {
                text.push('%');
                i += 2;
                continue;
            }
            Syntax::Percent if rest.starts_with('%') && !rest.starts_with("%(") => {
                return Err(TimeVarError::Syntax(format!(
                    "a single '%' at position {i}; write '%%' for a literal percent sign in a percent-style command"
                )));
            }
            _ => {}
        }
        if rest.starts_with(open) {
            let body_start = i + open.len();
            let close = match syntax {
                Syntax::Brace => template[body_start..]
                    .find('}')
                    .map(|p| (p, body_start + p + close_len)),
                Syntax::Percent => template[body_start..]
                    .find(")s")
                    .map(|p| (p, body_start + p + close_len)),
            };
            let Some((len, end)) = close else {
                let want = if syntax == Syntax::Brace {
                    "'}'"
                } else {
                    "')s'"
                };
                return Err(TimeVarError::Syntax(format!(
                    "a variable opened at position {i} is not closed with {want}"
                )));
            };
            let token = &template[body_start..body_start + len];
            let (name, delta) = split_token(token)?;
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text).into()));
            }
            pieces.push(Piece::Var { name, delta, token });
            i = end;
            continue;
        }
        let c = rest.chars().next().expect("not at the end");
        text.push(c);
        i += c.len_utf8();
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text.into()));
    }
    Ok(pieces)
}

fn split_token(token: &str) -> Result<(&str, i64), TimeVarError> {
    let name_end = token
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(token.len());
    let (name, delta) = token.split_at(name_end);
    if name.is_empty() {
        return Err(TimeVarError::Syntax(format!("{token:?} is not a variable: expected a name such as shortdate, with an optional delta such as -1")));
    }
    if !NAMES.contains(&name) {
        return Err(TimeVarError::Unknown(name.to_string()));
    }
    if delta.is_empty() {
        return Ok((name, 0));
    }
    let valid = (delta.starts_with('+') || delta.starts_with('-'))
        && delta.len() > 1
        && delta[1..].bytes().all(|b| b.is_ascii_digit());
    let parsed = if valid {
        delta.parse::<i64>().ok()
    } else {
        None
    };
    match parsed {
        Some(d) => Ok((name, d)),
        None => Err(TimeVarError::Syntax(format!(
            "{token:?}: the delta {delta:?} is not a signed integer such as -1 or +7"
        ))),
    }
}

/// Checks a command's variables without interpolating it.
pub fn check(template: &str, syntax: Syntax) -> Result<(), TimeVarError> {
    parse(template, syntax).map(|_| ())
}

/// Whether the command uses any time variable.
pub fn has_variables(template: &str, syntax: Syntax) -> Result<bool, TimeVarError> {
    Ok(parse(template, syntax)?
        .iter()
        .any(|p| matches!(p, Piece::Var { .. })))
}

/// The command with every variable replaced by its value at `at`.
pub fn interpolate(
    template: &str,
    syntax: Syntax,
    at: NaiveDateTime,
) -> Result<String, TimeVarError> {
    let mut out = String::with_capacity(template.len() + 16);
    for piece in parse(template, syntax)? {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Var { name, delta, token } => out.push_str(
                &value(name, delta, at)
                    .ok_or_else(|| TimeVarError::OutOfRange(token.to_string()))?,
            ),
        }
    }
    Ok(out)
}

fn add_months(at: NaiveDateTime, months: i64) -> Option<NaiveDateTime> {
    let m = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    // chrono clamps to the last day of the target month.
    if months >= 0 {
        at.checked_add_months(m)
    } else {
        at.checked_sub_months(m)
    }
}

fn value(name: &str, delta: i64, at: NaiveDateTime) -> Option<String> {
    let days = |d: i64| at.checked_add_signed(Duration::try_days(d)?);
    let hours = |h: i64| at.checked_add_signed(Duration::try_hours(h)?);
    let minutes = |m: i64| at.checked_add_signed(Duration::try_minutes(m)?);
    Some(match name {
        "shortdate" | "ymd" => days(delta)?.format("%Y-%m-%d").to_string(),
        "year" => format!("{:04}", add_months(at, delta.checked_mul(12)?)?.year()),
        "month" => format!("{:02}", add_months(at, delta)?.month()),
        "ym" => add_months(at, delta)?.format("%Y-%m").to_string(),
        "day" => format!("{:02}", days(delta)?.day()),
        "hour" => format!("{:02}", hours(delta)?.hour()),
        "ymdh" => hours(delta)?.format("%Y-%m-%dT%H").to_string(),
        "minute" => format!("{:02}", minutes(delta)?.minute()),
        "ymdhm" => minutes(delta)?.format("%Y-%m-%dT%H:%M").to_string(),
        "unixtime" => (at.and_utc().timestamp().checked_add(delta)?).to_string(),
        "daynumber" => (i64::from(days(delta)?.num_days_from_ce())).to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        let s = match s.len() {
            10 => format!("{s}T00:00:00"),
            16 => format!("{s}:00"),
            _ => s.to_string(),
        };
        NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S").unwrap()
    }

    fn run(t: &str, when: &str) -> Result<String, TimeVarError> {
        interpolate(t, Syntax::detect(t), at(when))
    }

    /// Every row of the reference's table.
    #[test]
    fn reference_vectors() {
        for (template, when, want) in [
            ("{shortdate}", "2019-03-15T13:45:30", "2019-03-15"),
            ("{shortdate-1}", "2019-03-01T00:00", "2019-02-28"),
            ("{shortdate-14}", "2019-03-01T00:00", "2019-02-15"),
            ("{shortdate+1}", "2019-12-31T23:59", "2020-01-01"),
            ("{shortdate-1}", "2020-03-01T12:00", "2020-02-29"),
            ("{shortdate+365}", "2020-01-01T00:00", "2020-12-31"),
            ("{year-1}", "2019-12-31T23:00", "2018"),
            ("{month-1}", "2019-01-15", "12"),
            ("{month+13}", "2019-12-15", "01"),
            ("{month-24}", "2019-05-15", "05"),
            ("{day-1}", "2019-03-01", "28"),
            ("{day+1}", "2016-02-28", "29"),
            ("{hour-1}", "2019-01-01T00:30", "23"),
            ("{hour+25}", "2019-12-31T23:00", "00"),
            ("{unixtime}", "2019-01-01T00:00", "1546300800"),
            ("{unixtime-3600}", "2019-01-01T00:00", "1546297200"),
            ("{daynumber}", "2019-01-01", "737060"),
            ("{{shortdate}}", "2019-01-01", "{shortdate}"),
            (
                "run.py --date {shortdate-1} --y {year} --m {month} --d {day} --h {hour}",
                "2019-01-01T00:05",
                "run.py --date 2018-12-31 --y 2019 --m 01 --d 01 --h 00",
            ),
            ("%(shortdate-1)s", "2019-03-01", "2019-02-28"),
            ("%(year+1)s-%(month)s", "2019-12-15", "2020-12"),
        ] {
            assert_eq!(
                run(template, when).as_deref(),
                Ok(want),
                "{template} at {when}"
            );
        }
        assert_eq!(
            interpolate("echo 50%%", Syntax::Percent, at("2019-01-01")).unwrap(),
            "echo 50%"
        );
        assert_eq!(
            run("{foo}", "2019-01-01"),
            Err(TimeVarError::Unknown("foo".into()))
        );
        assert!(run("{foo}", "2019-01-01")
            .unwrap_err()
            .to_string()
            .starts_with("unknown variable foo"));
    }

    #[test]
    fn tron_variables_and_clamping() {
        assert_eq!(
            run(
                "{ym-1} {ymd} {ymdh+1} {ymdhm-5} {minute}",
                "2019-03-31T10:02"
            )
            .unwrap(),
            "2019-02 2019-03-31 2019-03-31T11 2019-03-31T09:57 02"
        );
        // Month arithmetic clamps to the month's end rather than failing.
        assert_eq!(run("%(month-1)s", "2019-03-31").unwrap(), "02");
        assert_eq!(run("{year+1}", "2020-02-29").unwrap(), "2021");
    }

    #[test]
    fn the_syntax_rule() {
        // Under brace syntax percent signs are plain text, and the reverse.
        assert_eq!(
            run("echo 50% {shortdate}", "2019-01-01").unwrap(),
            "echo 50% 2019-01-01"
        );
        assert_eq!(
            run("echo {shortdate} %(year)s", "2019-01-01").unwrap(),
            "echo {shortdate} 2019"
        );
        assert!(matches!(
            run("echo 50% %(year)s", "2019-01-01"),
            Err(TimeVarError::Syntax(_))
        ));
        assert!(matches!(
            run("echo {shortdate", "2019-01-01"),
            Err(TimeVarError::Syntax(_))
        ));
        assert!(matches!(
            run("echo }", "2019-01-01"),
            Err(TimeVarError::Syntax(_))
        ));
        assert!(matches!(
            run("{shortdate-x}", "2019-01-01"),
            Err(TimeVarError::Syntax(_))
        ));
        assert!(!has_variables("echo hi {{x}}", Syntax::Brace).unwrap());
        assert!(has_variables("echo %(day)s", Syntax::Percent).unwrap());
    }
}
