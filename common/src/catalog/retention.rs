//! Which backups a retention policy keeps (restic's `forget` rules). Written by a helper.
//!
//! A port of restic's `ApplyPolicy` (`internal/data/snapshot_policy.go`) and of its
//! `--keep-within` duration (`internal/data/duration.go`), read at restic 0.19.1-dev (commit
//! a80be14); the logic is that of the 0.18 and 0.19 releases. The same times and policy keep
//! the same snapshots, for the same reasons:
//!
//! - Snapshots are sorted newest first, stably (equal times keep their input order, as Go's
//!   `sort.Stable` does), and walked once; each rule decides alone and a snapshot is kept when
//!   any rule keeps it.
//! - `last`, `hourly`, `daily`, `weekly`, `monthly` and `yearly` each put a snapshot in a bucket
//!   (the snapshot itself; y-m-d-h; y-m-d; ISO year and ISO week; y-m; y). A rule keeps a
//!   snapshot whose bucket differs from that of the last snapshot it kept (so the newest of each
//!   bucket) while it has count left, and each keep uses one of its own count: `daily 7` keeps
//!   the newest snapshot of each of the last 7 *days that have backups*. [`Count::All`] never
//!   runs out.
//! - A rule with count left when it reaches the oldest snapshot keeps that one too, even when its
//!   bucket is already kept (since restic 0.16; reason `oldest ... snapshot` since 0.18), so a
//!   short history keeps its whole length.
//! - `within D` keeps every snapshot strictly newer than `newest - D`. `within_hourly D` (and
//!   daily, weekly, monthly, yearly) keeps, among those, the newest of each bucket without a
//!   count, and the oldest snapshot of all when it is in range (`oldest ... within`). The newest
//!   is the newest snapshot not in the future, not the time of the run; `D` is calendar units,
//!   subtracted as Go's `AddDate` does ([`CalendarDuration::before`]).
//! - An empty policy is refused by restic: nothing is removed (see [`apply`]).
//!
//! Differences: buckets use UTC (restic uses each snapshot's own time zone); tags
//! (`--keep-tag`) are not modelled; a reason leaves out the duration (`daily within`, where
//! restic prints `daily within 7d`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};

/// How many of a rule to keep: a number, or every one (restic's -1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    N(u32),
    All,
}

impl FromStr for Count {
    type Err = String;

    /// `7` is `N(7)`; `-1`, `all` and `unlimited` are `All`. `0` is a rule that is not set, as in
    /// restic; other negative numbers are refused, as restic refuses them.
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("all") || t.eq_ignore_ascii_case("unlimited") {
            return Ok(Count::All);
        }
        match t.parse::<i64>() {
            Ok(-1) => Ok(Count::All),
            Ok(n) if n < 0 => Err(format!(
                "invalid count {s:?}: negative values are not allowed, use 'unlimited' to keep all"
            )),
            Ok(n) => u32::try_from(n)
                .map(Count::N)
                .map_err(|_| format!("invalid count {s:?}: at most {} is allowed", u32::MAX)),
            Err(_) => Err(format!(
                "invalid count {s:?}: expected a number, or 'unlimited' to keep all"
            )),
        }
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Count::N(n) => write!(f, "{n}"),
            Count::All => f.write_str("unlimited"),
        }
    }
}

/// restic's `--keep-within` duration: calendar years, months, days and hours (`1y2m3d4h`).
/// Written and parsed as restic does ([`parse_duration`]); zero means the rule is not set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CalendarDuration {
    pub years: u32,
    pub months: u32,
    pub days: u32,
    pub hours: u32,
}

impl CalendarDuration {
    pub fn is_zero(&self) -> bool {
        *self == CalendarDuration::default()
    }

    /// `t` minus this duration, as restic computes it: Go's `t.AddDate(-y, -m, -d)` and then
    /// `Add(-h hours)`. Go counts a day past the end of a month on into the next month, so
    /// 2016-03-31 minus one month is 2016-03-02 ("February 31st"), where chrono's month arithmetic
    /// would stop at 02-29. `None` when the result is before chrono's earliest date.
    pub fn before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let months = i64::from(t.year()) * 12 + i64::from(t.month0())
            - i64::from(self.years) * 12
            - i64::from(self.months);
        let year = i32::try_from(months.div_euclid(12)).ok()?;
        let first = NaiveDate::from_ymd_opt(year, months.rem_euclid(12) as u32 + 1, 1)?;
        let day_offset = i64::from(t.day()) - 1 - i64::from(self.days);
        let date = first.checked_add_signed(TimeDelta::try_days(day_offset)?)?;
        let hours = TimeDelta::try_hours(i64::from(self.hours))?;
        date.and_time(t.time()).and_utc().checked_sub_signed(hours)
    }
}

impl fmt::Display for CalendarDuration {
    /// restic's form: `1y2m3d4h`, leaving out zero units (zero itself is empty, as in restic).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, unit) in [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ] {
            if n != 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for CalendarDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_duration(s)
    }
}

/// Parses restic's `--keep-within` duration: numbers each followed by a unit, `y` years, `m`
/// months, `d` days or `h` hours, in any order (`1y2m3d4h`, `5d7m`). As in restic, a unit given
/// twice keeps its last value, an empty string is zero (no rule) and `w` is not a unit. restic's
/// parser reads a minus sign and its `forget` then refuses the negative value; so does this.
pub fn parse_duration(s: &str) -> Result<CalendarDuration, String> {
    let err = |why: String| format!("invalid duration {s:?}: {why}");
    let mut d = CalendarDuration::default();
    let mut negative = false;
    let mut rest = s.trim();
    while !rest.is_empty() {
        let unsigned = rest.strip_prefix('-');
        let body = unsigned.unwrap_or(rest);
        let (number, after) =
            body.split_at(body.len() - body.trim_start_matches(|c: char| c.is_ascii_digit()).len());
        if number.is_empty() {
            return Err(err("no number found".into()));
        }
        let num: u32 = number
            .parse()
            .map_err(|_| err(format!("number {number} is too large")))?;
        negative |= unsigned.is_some() && num != 0;
        let mut after = after.chars();
        let field = match after.next() {
            Some('y') => &mut d.years,
            Some('m') => &mut d.months,
            Some('d') => &mut d.days,
            Some('h') => &mut d.hours,
            Some(c) => return Err(err(format!("unit {c:?} after {num} is not y, m, d or h"))),
            None => return Err(err(format!("no unit after number {num}"))),
        };
        *field = num;
        rest = after.as_str();
    }
    if negative {
        return Err(err("negative values are not allowed".into()));
    }
    Ok(d)
}

/// Which snapshots to keep; every rule that is set keeps what it selects. restic's flags:
/// `--keep-last`, `--keep-hourly`, ..., `--keep-within`, `--keep-within-hourly`, ...
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub last: Option<Count>,
    pub hourly: Option<Count>,
    pub daily: Option<Count>,
    pub weekly: Option<Count>,
    pub monthly: Option<Count>,
    pub yearly: Option<Count>,
    pub within: Option<CalendarDuration>,
    pub within_hourly: Option<CalendarDuration>,
    pub within_daily: Option<CalendarDuration>,
    pub within_weekly: Option<CalendarDuration>,
    pub within_monthly: Option<CalendarDuration>,
    pub within_yearly: Option<CalendarDuration>,
}

/// The reason given for every snapshot when the policy is empty and so keeps all.
pub const EMPTY_POLICY: &str = "policy is empty";

/// A bucket key: which hour, day, week... a snapshot is in (`nr` is its place, newest first).
type KeyFn = fn(DateTime<Utc>, usize) -> i64;

impl Policy {
    /// No rule set, as restic's `Empty`: a count of 0 and a zero duration are rules not set.
    pub fn is_empty(&self) -> bool {
        self.counts()
            .iter()
            .all(|c| matches!(c, None | Some(Count::N(0))))
            && unset(self.within)
            && self.withins().into_iter().all(unset)
    }

    fn counts(&self) -> [Option<Count>; 6] {
        [
            self.last,
            self.hourly,
            self.daily,
            self.weekly,
            self.monthly,
            self.yearly,
        ]
    }

    fn withins(&self) -> [Option<CalendarDuration>; 5] {
        [
            self.within_hourly,
            self.within_daily,
            self.within_weekly,
            self.within_monthly,
            self.within_yearly,
        ]
    }
}

fn unset(d: Option<CalendarDuration>) -> bool {
    d.filter(|d| !d.is_zero()).is_none()
}

impl fmt::Display for Policy {
    /// restic's "Applying Policy" line, e.g. `keep 7 daily, 4 weekly snapshots`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("keep all snapshots (the policy is empty)");
        }
        let names = ["latest", "hourly", "daily", "weekly", "monthly", "yearly"];
        let counts: Vec<String> = (self.counts().into_iter().zip(names))
            .filter_map(|(c, name)| match c? {
                Count::N(0) => None,
                Count::N(n) => Some(format!("{n} {name}")),
                Count::All => Some(format!("all {name}")),
            })
            .collect();
        let mut parts = Vec::new();
        if !counts.is_empty() {
            parts.push(format!("{} snapshots", counts.join(", ")));
        }
        for (d, name) in self.withins().into_iter().zip(&names[1..]) {
            if let Some(d) = d.filter(|d| !d.is_zero()) {
                parts.push(format!("{name} snapshots within {d}"));
            }
        }
        let mut s = parts.join(", ");
        if let Some(d) = self.within.filter(|d| !d.is_zero()) {
            if !s.is_empty() {
                s.push_str(" and ");
            }
            s.push_str(&format!("all snapshots within {d} of the newest"));
        }
        write!(f, "keep {s}")
    }
}

// restic's bucket keys, as integers: YYYYMMDDHH, YYYYMMDD, ISO YYYYWW, YYYYMM, YYYY.
fn by_snapshot(_: DateTime<Utc>, nr: usize) -> i64 {
    nr as i64
}
fn by_hour(t: DateTime<Utc>, nr: usize) -> i64 {
    by_day(t, nr) * 100 + i64::from(t.hour())
}
fn by_day(t: DateTime<Utc>, nr: usize) -> i64 {
    by_month(t, nr) * 100 + i64::from(t.day())
}
fn by_week(t: DateTime<Utc>, _: usize) -> i64 {
    let week = t.iso_week();
    i64::from(week.year()) * 100 + i64::from(week.week())
}
fn by_month(t: DateTime<Utc>, nr: usize) -> i64 {
    by_year(t, nr) * 100 + i64::from(t.month())
}
fn by_year(t: DateTime<Utc>, _: usize) -> i64 {
    i64::from(t.year())
}

const KEYS: [KeyFn; 6] = [by_snapshot, by_hour, by_day, by_week, by_month, by_year];

// restic's reasons for the count rules (last..yearly) and the within rules (hourly..yearly),
// plain and when kept as the oldest snapshot.
const COUNTED: [[&str; 2]; 6] = [
    ["last snapshot", "oldest last snapshot"],
    ["hourly snapshot", "oldest hourly snapshot"],
    ["daily snapshot", "oldest daily snapshot"],
    ["weekly snapshot", "oldest weekly snapshot"],
    ["monthly snapshot", "oldest monthly snapshot"],
    ["yearly snapshot", "oldest yearly snapshot"],
];
const WITHIN: [[&str; 2]; 5] = [
    ["hourly within", "oldest hourly within"],
    ["daily within", "oldest daily within"],
    ["weekly within", "oldest weekly within"],
    ["monthly within", "oldest monthly within"],
    ["yearly within", "oldest yearly within"],
];

/// One rule's walk over the snapshots, newest first.
struct Bucket {
    key: KeyFn,
    last: Option<i64>,
    reasons: [&'static str; 2],
}

impl Bucket {
    fn new(key: KeyFn, reasons: [&'static str; 2]) -> Self {
        Bucket {
            key,
            last: None,
            reasons,
        }
    }

    /// restic keeps a snapshot whose bucket is not the one last kept (a new bucket, since keys
    /// only fall as the walk goes back in time), and the oldest snapshot of all in any case.
    fn offer(&mut self, t: DateTime<Utc>, nr: usize, is_oldest: bool) -> Option<&'static str> {
        let key = (self.key)(t, nr);
        let same = self.last == Some(key);
        if same && !is_oldest {
            return None;
        }
        self.last = Some(key);
        Some(self.reasons[usize::from(same)])
    }
}

/// Decides for each time (any order given) whether it is kept, and why; index i of the result
/// is `times[i]`, an empty list meaning removed. See [`apply_at`]; "now" is the clock's.
pub fn apply(times: &[DateTime<Utc>], policy: &Policy) -> Vec<Vec<&'static str>> {
    apply_at(times, policy, Utc::now())
}

/// [`apply`] at a given `now`, which only serves to leave snapshots in the future out of the
/// choice of the newest one, from which `within` durations count (restic's `findLatestTimestamp`).
///
/// Reasons are restic's words, in restic's order: `within`; `last snapshot`, `hourly snapshot`,
/// `daily snapshot`, `weekly snapshot`, `monthly snapshot`, `yearly snapshot`; `hourly within`,
/// `daily within`, `weekly within`, `monthly within`, `yearly within`; each of the bucketed ones
/// prefixed `oldest ` when kept as the oldest snapshot. An empty policy keeps everything with the
/// reason [`EMPTY_POLICY`]: restic refuses to act on it (removing all snapshots takes its
/// `--unsafe-allow-remove-all`, which a caller does without this function).
pub fn apply_at(
    times: &[DateTime<Utc>],
    policy: &Policy,
    now: DateTime<Utc>,
) -> Vec<Vec<&'static str>> {
    let mut reasons = vec![Vec::new(); times.len()];
    if policy.is_empty() {
        reasons.iter_mut().for_each(|r| r.push(EMPTY_POLICY));
        return reasons;
    }
    // Newest first; `sort_by` is stable, so equal times stay in input order like Go's sort.Stable.
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|&a, &b| times[b].cmp(&times[a]));

    // The newest snapshot not in the future, starting from Go's zero time (0001-01-01) as
    // restic does; so when every snapshot is in the future, the durations count from year 1.
    let go_zero = DateTime::from_timestamp(-62_135_596_800, 0).expect("year 1 is in range");
    let latest = (times.iter().copied())
        .filter(|&t| t > go_zero && t < now)
        .max()
        .unwrap_or(go_zero);
    // Below chrono's range the cutoff is before every snapshot: all are within.
    let cutoff = |d: Option<CalendarDuration>| {
        let d = d.filter(|d| !d.is_zero())?;
        Some(d.before(latest).unwrap_or(DateTime::<Utc>::MIN_UTC))
    };
    let within = cutoff(policy.within);

    // Each rule's bucket walk; a count rule also has its count left (None: unlimited).
    let mut counted: Vec<(Option<u32>, Bucket)> = (policy.counts().into_iter().enumerate())
        .filter_map(|(r, count)| {
            let left = match count? {
                Count::N(0) => return None,
                Count::N(n) => Some(n),
                Count::All => None,
            };
            Some((left, Bucket::new(KEYS[r], COUNTED[r])))
        })
        .collect();
    let mut bucketed_within: Vec<(DateTime<Utc>, Bucket)> = (policy.withins().into_iter())
        .enumerate()
        .filter_map(|(r, d)| Some((cutoff(d)?, Bucket::new(KEYS[r + 1], WITHIN[r]))))
        .collect();

    for (nr, &i) in order.iter().enumerate() {
        let t = times[i];
        let is_oldest = nr + 1 == order.len();
        let kept = &mut reasons[i];
        if within.is_some_and(|cut| t > cut) {
            kept.push("within");
        }
        for (left, bucket) in &mut counted {
            if *left == Some(0) {
                continue;
            }
            if let Some(reason) = bucket.offer(t, nr, is_oldest) {
                kept.push(reason);
                if let Some(n) = left {
                    *n -= 1;
                }
            }
        }
        for (cut, bucket) in &mut bucketed_within {
            if t > *cut {
                kept.extend(bucket.offer(t, nr, is_oldest));
            }
        }
    }
    reasons
}

#[cfg(test)]
mod tests;
