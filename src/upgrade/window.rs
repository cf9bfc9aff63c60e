//! Upgrade windows: when an approved upgrade may start.
//!
//! A window is a 5-field cron expression evaluated in an IANA time zone, plus a duration: each
//! time the expression matches, the window opens for that long. Everything here is pure and
//! takes `now` as a parameter, so the rules are tested with a controllable clock.
//!
//! Daylight saving time follows croner's rules, evaluated on the zone's wall clock:
//! - a start time that does not exist (spring forward, e.g. 02:30 when clocks jump from 02:00
//!   to 03:00) opens the window at the first real instant after the gap (03:00);
//! - a start time that exists twice (fall back) opens the window once, at the earlier instant;
//! - the duration is elapsed time: a 4h window opening at 00:30 on a fall-back night closes
//!   four real hours later, when the wall clock reads 03:30.
//!
//! Windows are half-open: open at the start instant, closed at `start + duration`.
//!
//! In: the `upgrades.windows` entries and `now`. Out: [`Window`]s and their [`Opening`]s, the
//! [`Choice`] for a workload, or an error naming the key ([`InvalidWindow`], [`InvalidWindows`],
//! [`UnknownWindow`]).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// A window that cannot be used: names the window, the key and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("upgrades.windows[{window}].{key}: {problem}")]
pub struct InvalidWindow {
    /// The window's name.
    pub window: String,
    /// The offending key (`schedule`, `duration`, `timeZone`, `name`).
    pub key: &'static str,
    /// What is wrong, quoting the value.
    pub problem: String,
}

/// The configured windows do not fit together: names the key and the window.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidWindows {
    /// Two windows have the same name.
    #[error("upgrades.windows: the name {name:?} is used twice")]
    Duplicate {
        /// The name.
        name: String,
    },
    /// `upgrades.defaultWindow` names no window.
    #[error("upgrades.defaultWindow: no window is named {name:?}")]
    UnknownDefault {
        /// The name given.
        name: String,
    },
    /// `upgrades.namespaceWindows.<namespace>` names no window.
    #[error("upgrades.namespaceWindows.{namespace}: no window is named {name:?}")]
    UnknownForNamespace {
        /// The namespace.
        namespace: String,
        /// The name given.
        name: String,
    },
}

/// A window asked for by name (a workload's annotation, an ImageUpgrade's `spec.window`) that
/// is not configured: an upgrade never takes that to mean "any time".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "annotation ml-operator.mojaloop.io/window names {name:?}, which is not a configured window"
)]
pub struct UnknownWindow {
    /// The name asked for.
    pub name: String,
}

/// One opening of a window: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    /// The first instant the window is open.
    pub start: DateTime<Utc>,
    /// The first instant it is closed again.
    pub end: DateTime<Utc>,
}

impl Opening {
    /// Whether `now` is inside this opening.
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        self.start <= now && now < self.end
    }
}

/// A named upgrade window: cron schedule + duration + time zone.
#[derive(Debug, Clone)]
pub struct Window {
    name: String,
    schedule: String,
    cron: Cron,
    duration: chrono::Duration,
    zone: Tz,
}

impl Window {
    /// Checks and builds a window. `schedule` has exactly five fields (minute hour day month
    /// weekday); `time_zone` is an IANA name such as `Africa/Nairobi`; `duration` is not zero.
    pub fn new(
        name: &str,
        schedule: &str,
        duration: std::time::Duration,
        time_zone: &str,
    ) -> Result<Window, InvalidWindow> {
        let fail = |key, problem: String| InvalidWindow {
            window: name.to_string(),
            key,
            problem,
        };
        if name.trim().is_empty() {
            return Err(fail("name", "a window needs a name".into()));
        }
        if schedule.split_whitespace().count() != 5 {
            return Err(fail(
                "schedule",
                format!(
                    "{schedule:?} is not a 5-field cron expression (minute hour day month weekday)"
                ),
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .build()
            .parse(schedule)
            .map_err(|e| {
                fail(
                    "schedule",
                    format!("{schedule:?} is not a cron expression: {e}"),
                )
            })?;
        let zone: Tz = time_zone.parse().map_err(|_| {
            fail(
                "timeZone",
                format!("{time_zone:?} is not an IANA time zone (e.g. Africa/Nairobi, UTC)"),
            )
        })?;
        if duration.is_zero() {
            return Err(fail("duration", "a window must last longer than 0s".into()));
        }
        let duration = chrono::Duration::from_std(duration)
            .map_err(|_| fail("duration", format!("{duration:?} is too long")))?;
        // A schedule that never matches (e.g. `0 0 30 2 *`) would never open.
        let probe = Utc
            .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
            .single()
            .expect("a valid date");
        if cron
            .find_next_occurrence(&probe.with_timezone(&zone), false)
            .is_err()
        {
            return Err(fail("schedule", format!("{schedule:?} never matches")));
        }
        Ok(Window {
            name: name.to_string(),
            schedule: schedule.to_string(),
            cron,
            duration,
            zone,
        })
    }

    /// The window's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The opening that contains `now`, if the window is open.
    pub fn current(&self, now: DateTime<Utc>) -> Option<Opening> {
        let local = now.with_timezone(&self.zone);
        let start = self
            .cron
            .find_previous_occurrence(&local, true)
            .ok()?
            .with_timezone(&Utc);
        let opening = Opening {
            start,
            end: start + self.duration,
        };
        opening.contains(now).then_some(opening)
    }

    /// Whether an upgrade may start at `now`.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.current(now).is_some()
    }

    /// When the opening containing `now` closes (`None` when the window is closed).
    pub fn closes_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.current(now).map(|o| o.end)
    }

    /// The opening containing `now`, else the next one (`None` only if the schedule has no
    /// future match).
    pub fn next_open(&self, now: DateTime<Utc>) -> Option<Opening> {
        if let Some(open) = self.current(now) {
            return Some(open);
        }
        let local = now.with_timezone(&self.zone);
        let start = self
            .cron
            .find_next_occurrence(&local, false)
            .ok()?
            .with_timezone(&Utc);
        Some(Opening {
            start,
            end: start + self.duration,
        })
    }

    /// `2026-11-28 02:00 EAT (Africa/Nairobi)`: an instant on this window's wall clock.
    pub fn local(&self, at: DateTime<Utc>) -> String {
        format!(
            "{} ({})",
            at.with_timezone(&self.zone).format("%Y-%m-%d %H:%M %Z"),
            self.zone.name()
        )
    }

    /// A one-line description of the window's state at `now`, for logs, notes and status.
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        match (self.current(now), self.next_open(now)) {
            (Some(open), _) => format!(
                "window {} is open until {}",
                self.name,
                self.local(open.end)
            ),
            (None, Some(next)) => format!(
                "window {} opens {} for {}",
                self.name,
                self.local(next.start),
                crate::config::duration::format(self.duration.to_std().unwrap_or_default())
            ),
            (None, None) => format!("window {} never opens again", self.name),
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({:?} for {} in {})",
            self.name,
            self.schedule,
            crate::config::duration::format(self.duration.to_std().unwrap_or_default()),
            self.zone.name()
        )
    }
}

/// All configured windows and the rules that pick one for a workload.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    windows: BTreeMap<String, Window>,
    default: Option<String>,
    by_namespace: BTreeMap<String, String>,
}

/// What governs when an upgrade may start.
#[derive(Debug, Clone, Copy)]
pub enum Choice<'a> {
    /// No window is configured for this workload: it may start at once after approval.
    Anytime,
    /// This window.
    Window(&'a Window),
}

impl Windows {
    /// Builds the set; `default` and the namespace mapping must name defined windows.
    pub fn new(
        windows: Vec<Window>,
        default: Option<String>,
        by_namespace: BTreeMap<String, String>,
    ) -> Result<Windows, InvalidWindows> {
        let mut map = BTreeMap::new();
        for window in windows {
            let name = window.name.clone();
            if map.insert(name.clone(), window).is_some() {
                return Err(InvalidWindows::Duplicate { name });
            }
        }
        if let Some(name) = &default
            && !map.contains_key(name)
        {
            return Err(InvalidWindows::UnknownDefault { name: name.clone() });
        }
        for (namespace, name) in &by_namespace {
            if !map.contains_key(name) {
                return Err(InvalidWindows::UnknownForNamespace {
                    namespace: namespace.clone(),
                    name: name.clone(),
                });
            }
        }
        Ok(Windows {
            windows: map,
            default,
            by_namespace,
        })
    }

    /// The window for a workload: its `window` annotation, else its namespace's window, else
    /// the default. An annotation naming an unknown window is an error (never "any time").
    pub fn choose(
        &self,
        namespace: &str,
        annotation: Option<&str>,
    ) -> Result<Choice<'_>, UnknownWindow> {
        let name = match annotation.map(str::trim).filter(|a| !a.is_empty()) {
            Some(name) => Some(name),
            None => self
                .by_namespace
                .get(namespace)
                .or(self.default.as_ref())
                .map(String::as_str),
        };
        match name {
            None => Ok(Choice::Anytime),
            Some(name) => self
                .windows
                .get(name)
                .map(Choice::Window)
                .ok_or_else(|| UnknownWindow { name: name.into() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn window(schedule: &str, hours: u64, zone: &str) -> Window {
        Window::new("w", schedule, Duration::from_secs(hours * 3600), zone).unwrap()
    }

    #[test]
    fn weekend_nights_in_nairobi() {
        // 02:00 EAT (UTC+3) on Saturdays and Sundays, for 4 hours.
        let w = window("0 2 * * SAT,SUN", 4, "Africa/Nairobi");
        let friday = utc(2026, 11, 27, 12, 0);
        assert!(!w.is_open(friday));
        let next = w.next_open(friday).unwrap();
        assert_eq!(
            next.start,
            utc(2026, 11, 27, 23, 0),
            "02:00 EAT Saturday is 23:00 UTC Friday"
        );
        assert_eq!(next.end, utc(2026, 11, 28, 3, 0));
        assert!(w.is_open(utc(2026, 11, 28, 1, 0)));
        assert_eq!(
            w.closes_at(utc(2026, 11, 28, 1, 0)),
            Some(utc(2026, 11, 28, 3, 0))
        );
        assert_eq!(
            w.next_open(utc(2026, 11, 28, 1, 0)),
            Some(next),
            "an open window is its own next opening"
        );
        assert_eq!(
            w.next_open(utc(2026, 11, 28, 3, 0)).unwrap().start,
            utc(2026, 11, 28, 23, 0),
            "then Sunday"
        );
        assert!(
            w.describe(friday)
                .contains("opens 2026-11-28 02:00 EAT (Africa/Nairobi) for 4h"),
            "{}",
            w.describe(friday)
        );
    }

    #[test]
    fn duration_edges_are_half_open() {
        let w = window("0 2 * * *", 1, "UTC");
        assert!(!w.is_open(utc(2026, 1, 1, 1, 59)));
        assert!(
            w.is_open(utc(2026, 1, 1, 2, 0)),
            "open at the start instant"
        );
        let just_before_end = utc(2026, 1, 1, 2, 59) + chrono::Duration::seconds(59);
        assert!(w.is_open(just_before_end));
        assert!(
            !w.is_open(utc(2026, 1, 1, 3, 0)),
            "closed at start + duration"
        );
        // A window longer than the interval between starts is always open.
        let w = window("0 * * * *", 2, "UTC");
        assert!(w.is_open(utc(2026, 1, 1, 7, 30)));
        assert_eq!(
            w.closes_at(utc(2026, 1, 1, 7, 30)),
            Some(utc(2026, 1, 1, 9, 0)),
            "the latest opening counts"
        );
    }

    #[test]
    fn open_at_start_is_the_current_opening() {
        // The operator starting at 02:30 inside a window that opened at 02:00.
        let w = window("0 2 * * *", 4, "Europe/Berlin");
        let now = utc(2026, 1, 15, 1, 30); // 02:30 CET
        let open = w.current(now).unwrap();
        assert_eq!(open.start, utc(2026, 1, 15, 1, 0));
        assert_eq!(open.end, utc(2026, 1, 15, 5, 0));
    }

    #[test]
    fn spring_forward_gap_opens_after_the_gap() {
        // Europe/Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        let w = window("30 2 * * *", 2, "Europe/Berlin");
        let before = utc(2026, 3, 28, 23, 0);
        let next = w.next_open(before).unwrap();
        assert_eq!(
            next.start,
            utc(2026, 3, 29, 1, 0),
            "03:00 CEST, the first instant after the gap"
        );
        assert_eq!(
            next.end,
            utc(2026, 3, 29, 3, 0),
            "two real hours later (05:00 CEST)"
        );
        // The next day is back to 02:30 local, now CEST (UTC+2).
        assert_eq!(
            w.next_open(next.end).unwrap().start,
            utc(2026, 3, 30, 0, 30)
        );
    }

    #[test]
    fn fall_back_overlap_opens_once_and_lasts_real_hours() {
        // America/New_York, 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
        let w = window("30 1 * * *", 3, "America/New_York");
        let before = utc(2026, 11, 1, 0, 0);
        let next = w.next_open(before).unwrap();
        assert_eq!(
            next.start,
            utc(2026, 11, 1, 5, 30),
            "the earlier 01:30 (EDT, UTC-4)"
        );
        assert_eq!(
            next.end,
            utc(2026, 11, 1, 8, 30),
            "three elapsed hours: 03:30 EST on the wall"
        );
        // Inside the repeated hour the window is still that one opening, not a second one.
        let second_0130 = utc(2026, 11, 1, 6, 30);
        assert_eq!(w.current(second_0130), Some(next));
        assert_eq!(
            w.next_open(next.end).unwrap().start,
            utc(2026, 11, 2, 6, 30),
            "then 01:30 EST"
        );
    }

    #[test]
    fn a_window_spanning_the_transition_closes_by_elapsed_time() {
        // Opens 00:00 local in Berlin on the spring-forward night for 4h: closes 05:00 CEST.
        let w = window("0 0 * * *", 4, "Europe/Berlin");
        let open = w.next_open(utc(2026, 3, 28, 12, 0)).unwrap();
        assert_eq!(open.start, utc(2026, 3, 28, 23, 0));
        assert_eq!(open.end, utc(2026, 3, 29, 3, 0));
        assert_eq!(w.local(open.end), "2026-03-29 05:00 CEST (Europe/Berlin)");
    }

    #[test]
    fn bad_windows_name_the_key_and_value() {
        let cases = [
            ("0 2 * * * *", "4h", "UTC", "schedule", "5-field"),
            ("0 25 * * *", "4h", "UTC", "schedule", "0 25"),
            ("0 2 30 2 *", "4h", "UTC", "schedule", "never matches"),
            ("0 2 * * *", "0s", "UTC", "duration", "longer than 0s"),
            (
                "0 2 * * *",
                "4h",
                "Mars/Olympus",
                "timeZone",
                "Mars/Olympus",
            ),
        ];
        for (schedule, duration, zone, key, text) in cases {
            let err = Window::new(
                "nightly",
                schedule,
                crate::config::duration::parse(duration).unwrap(),
                zone,
            )
            .unwrap_err();
            assert_eq!(err.key, key, "{err}");
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("upgrades.windows[nightly].{key}: ")),
                "{message}"
            );
            assert!(message.contains(text), "{message}");
        }
    }

    #[test]
    fn choice_annotation_then_namespace_then_default() {
        let a = window("0 1 * * *", 1, "UTC");
        let b = Window::new("b", "0 2 * * *", Duration::from_secs(3600), "UTC").unwrap();
        let windows = Windows::new(
            vec![
                Window {
                    name: "a".into(),
                    ..a
                },
                b,
            ],
            Some("a".into()),
            BTreeMap::from([("payments".to_string(), "b".to_string())]),
        )
        .unwrap();
        let name = |c: Choice<'_>| match c {
            Choice::Anytime => "anytime".to_string(),
            Choice::Window(w) => w.name().to_string(),
        };
        assert_eq!(name(windows.choose("hub", None).unwrap()), "a");
        assert_eq!(name(windows.choose("payments", None).unwrap()), "b");
        assert_eq!(name(windows.choose("payments", Some("a")).unwrap()), "a");
        assert!(
            windows
                .choose("hub", Some("c"))
                .unwrap_err()
                .to_string()
                .contains("\"c\"")
        );
        assert_eq!(
            name(Windows::default().choose("hub", None).unwrap()),
            "anytime"
        );
        assert!(
            Windows::new(vec![], Some("x".into()), BTreeMap::new())
                .unwrap_err()
                .to_string()
                .contains("defaultWindow")
        );
    }
}
