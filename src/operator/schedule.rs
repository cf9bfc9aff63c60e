//! When to scan: `CHECK_FOR_UPDATE_CRON`, five fields, or six with seconds like the original's
//! default `0 * * * * *` (every minute).
//!
//! In: the expression as configured. Out: a [`Schedule`] that gives the next scan time, or an
//! [`InvalidSchedule`] naming the expression.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// The original ml-operator's default schedule: every minute, at second 0.
pub const DEFAULT_SCHEDULE: &str = "0 * * * * *";

/// An expression that is not a cron schedule; names the expression.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not a cron schedule: {problem}")]
pub struct InvalidSchedule {
    text: String,
    problem: Problem,
}

/// What is wrong with a schedule.
#[derive(Debug, thiserror::Error)]
enum Problem {
    /// Neither 5 nor 6 fields (nor an `@` nickname).
    #[error("use 5 fields (minute hour day month weekday) or 6 with seconds first")]
    FieldCount,
    /// The cron parser's objection.
    #[error(transparent)]
    Cron(croner::errors::CronError),
}

/// A parsed scan schedule, evaluated in UTC.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    text: String,
}

impl Schedule {
    /// Parses a 5- or 6-field cron expression; the error names the expression.
    pub fn parse(text: &str) -> Result<Schedule, InvalidSchedule> {
        let invalid = |problem| InvalidSchedule {
            text: text.to_string(),
            problem,
        };
        let fields = text.split_whitespace().count();
        if !(5..=6).contains(&fields) && !text.trim_start().starts_with('@') {
            return Err(invalid(Problem::FieldCount));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(text)
            .map_err(|e| invalid(Problem::Cron(e)))?;
        Ok(Schedule {
            cron,
            text: text.to_string(),
        })
    }

    /// The first time strictly after `after` that matches.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }

    /// The expression as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn five_and_six_fields() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 30).unwrap();
        let every_minute = Schedule::parse(DEFAULT_SCHEDULE).unwrap();
        assert_eq!(
            every_minute.next_after(at),
            Some(Utc.with_ymd_and_hms(2026, 11, 25, 10, 1, 0).unwrap())
        );
        let every_second = Schedule::parse("* * * * * *").unwrap();
        assert_eq!(
            every_second.next_after(at),
            Some(Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 31).unwrap())
        );
        let nightly = Schedule::parse("0 2 * * SAT").unwrap();
        assert_eq!(
            nightly.next_after(at),
            Some(Utc.with_ymd_and_hms(2026, 11, 28, 2, 0, 0).unwrap())
        );
    }

    #[test]
    fn bad_schedules_name_the_expression() {
        for text in ["", "every minute", "* * *", "61 * * * *", "* * * * * * * *"] {
            let err = Schedule::parse(text).unwrap_err().to_string();
            assert!(err.contains(&format!("{text:?}")), "{err}");
        }
    }
}
