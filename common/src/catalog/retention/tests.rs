use std::cmp::Reverse;
use std::collections::BTreeMap;

use chrono::{Days, NaiveDateTime};

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f")
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .and_utc()
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A policy written as restic's flags: `daily=7 within-daily=7d last=unlimited`.
fn policy(spec: &str) -> Policy {
    let mut p = Policy::default();
    for flag in spec.split_whitespace() {
        let (name, value) = flag.split_once('=').unwrap();
        let n = || Some(value.parse::<Count>().unwrap());
        let d = || Some(value.parse::<CalendarDuration>().unwrap());
        match name {
            "last" => p.last = n(),
            "hourly" => p.hourly = n(),
            "daily" => p.daily = n(),
            "weekly" => p.weekly = n(),
            "monthly" => p.monthly = n(),
            "yearly" => p.yearly = n(),
            "within" => p.within = d(),
            "within-hourly" => p.within_hourly = d(),
            "within-daily" => p.within_daily = d(),
            "within-weekly" => p.within_weekly = d(),
            "within-monthly" => p.within_monthly = d(),
            "within-yearly" => p.within_yearly = d(),
            _ => panic!("unknown rule {name}"),
        }
    }
    p
}

/// A reason as a short code: `D` daily snapshot, `wD` daily within, `oY` oldest yearly
/// snapshot, `w` within; L H D W M Y for last, hourly, ... yearly.
fn code(reason: &str) -> String {
    let (oldest, rest) = match reason.strip_prefix("oldest ") {
        Some(rest) => ("o", rest),
        None => ("", reason),
    };
    let rule = |name: &str| match name {
        "last" => "L",
        "hourly" => "H",
        "daily" => "D",
        "weekly" => "W",
        "monthly" => "M",
        "yearly" => "Y",
        _ => panic!("unexpected reason {reason:?}"),
    };
    let c = if rest == "within" {
        "w".to_string()
    } else if let Some(name) = rest.strip_suffix(" snapshot") {
        rule(name).to_string()
    } else if let Some(name) = rest.strip_suffix(" within") {
        format!("w{}", rule(name))
    } else {
        panic!("unexpected reason {reason:?}")
    };
    format!("{oldest}{c}")
}

/// The kept indexes with their reasons, `3:D+W 5-9:L`, runs of equal reasons as ranges.
fn summary(reasons: &[Vec<&str>]) -> String {
    let mut runs: Vec<(usize, usize, String)> = Vec::new();
    for (i, r) in reasons.iter().enumerate().filter(|(_, r)| !r.is_empty()) {
        let c = r.iter().map(|r| code(r)).collect::<Vec<_>>().join("+");
        match runs.last_mut() {
            Some((_, end, last)) if *end + 1 == i && *last == c => *end = i,
            _ => runs.push((i, i, c)),
        }
    }
    let runs = runs.iter().map(|(a, b, c)| {
        if a == b {
            format!("{a}:{c}")
        } else {
            format!("{a}-{b}:{c}")
        }
    });
    runs.collect::<Vec<_>>().join(" ")
}

/// The kept times, newest first, with their reasons.
fn kept(times: &[DateTime<Utc>], reasons: &[Vec<&str>]) -> Vec<String> {
    let mut kept: Vec<_> = (0..times.len())
        .filter(|&i| !reasons[i].is_empty())
        .collect();
    kept.sort_by_key(|&i| (Reverse(times[i]), i));
    let kept = kept.iter().map(|&i| {
        let t = times[i].format("%Y-%m-%d %H:%M:%S");
        format!("{t} {}", reasons[i].join("+"))
    });
    kept.collect()
}

/// restic's `TestApplyPolicy` snapshots (internal/data/snapshot_policy_test.go), in order.
const RESTIC_TIMES: &str = "
2014-09-01 10:20:30, 2014-09-02 10:20:30, 2014-09-05 10:20:30, 2014-09-06 10:20:30, 2014-09-08 10:20:30,
2014-09-09 10:20:30, 2014-09-10 10:20:30, 2014-09-11 10:20:30, 2014-09-20 10:20:30, 2014-09-22 10:20:30,
2014-08-08 10:20:30, 2014-08-10 10:20:30, 2014-08-12 10:20:30, 2014-08-13 10:20:30, 2014-08-13 10:20:30.1,
2014-08-15 10:20:30, 2014-08-18 10:20:30, 2014-08-20 10:20:30, 2014-08-21 10:20:30, 2014-08-22 10:20:30,
2014-10-01 10:20:30, 2014-10-02 10:20:30, 2014-10-05 10:20:30, 2014-10-06 10:20:30, 2014-10-08 10:20:30,
2014-10-09 10:20:30, 2014-10-10 10:20:30, 2014-10-11 10:20:30, 2014-10-20 10:20:30, 2014-10-22 10:20:30,
2014-11-08 10:20:30, 2014-11-10 10:20:30, 2014-11-12 10:20:30, 2014-11-13 10:20:30, 2014-11-13 10:20:30.1,
2014-11-15 10:20:30, 2014-11-18 10:20:30, 2014-11-20 10:20:30, 2014-11-21 10:20:30, 2014-11-22 10:20:30,
2015-09-01 10:20:30, 2015-09-02 10:20:30, 2015-09-05 10:20:30, 2015-09-06 10:20:30, 2015-09-08 10:20:30,
2015-09-09 10:20:30, 2015-09-10 10:20:30, 2015-09-11 10:20:30, 2015-09-20 10:20:30, 2015-09-22 10:20:30,
2015-08-08 10:20:30, 2015-08-10 10:20:30, 2015-08-12 10:20:30, 2015-08-13 10:20:30, 2015-08-13 10:20:30.1,
2015-08-15 10:20:30, 2015-08-18 10:20:30, 2015-08-20 10:20:30, 2015-08-21 10:20:30, 2015-08-22 10:20:30,
2015-10-01 10:20:30, 2015-10-02 10:20:30, 2015-10-05 10:20:30, 2015-10-06 10:20:30, 2015-10-08 10:20:30,
2015-10-09 10:20:30, 2015-10-10 10:20:30, 2015-10-11 10:20:30, 2015-10-20 10:20:30, 2015-10-22 10:20:30,
2015-10-22 10:20:30, 2015-10-22 10:20:30, 2015-10-22 10:20:30, 2015-10-22 10:20:30, 2015-11-08 10:20:30,
2015-11-10 10:20:30, 2015-11-12 10:20:30, 2015-11-13 10:20:30, 2015-11-13 10:20:30.1, 2015-11-15 10:20:30,
2015-11-18 10:20:30, 2015-11-20 10:20:30, 2015-11-21 10:20:30, 2015-11-22 10:20:30, 2016-01-01 01:02:03,
2016-01-01 01:03:03, 2016-01-01 07:08:03, 2016-01-03 07:02:03, 2016-01-04 10:23:03, 2016-01-04 11:23:03,
2016-01-04 12:23:03, 2016-01-04 12:24:03, 2016-01-04 12:28:03, 2016-01-04 12:30:03, 2016-01-04 16:23:03,
2016-01-05 09:02:03, 2016-01-06 08:02:03, 2016-01-07 10:02:03, 2016-01-08 20:02:03, 2016-01-09 21:02:03,
2016-01-12 21:02:03, 2016-01-12 21:08:03, 2016-01-18 12:02:03";

/// restic's golden files `testdata/policy_keep_snapshots_N` for its policies (those without
/// tags), as data: which of RESTIC_TIMES are kept and why (see `code`). Policy 0, the empty
/// one, is in `empty_policy_keeps_everything`.
const RESTIC_GOLDEN: &[(&str, &str)] = &[
    // policy_keep_snapshots_1
    ("last=10", "93-102:L"),
    // policy_keep_snapshots_2
    ("last=15", "88-102:L"),
    // policy_keep_snapshots_3
    ("last=99", "0-9:L 14-102:L"),
    // policy_keep_snapshots_4
    ("last=200", "0-102:L"),
    // policy_keep_snapshots_5
    ("hourly=20", "78-83:H 85-89:H 93-99:H 101-102:H"),
    // policy_keep_snapshots_6
    ("daily=3", "99:D 101-102:D"),
    // policy_keep_snapshots_7
    ("daily=10", "86-87:D 94-99:D 101-102:D"),
    // policy_keep_snapshots_8
    ("daily=30", "49:D 60-69:D 74-76:D 78-83:D 86-87:D 94-99:D 101-102:D"),
    // policy_keep_snapshots_9
    ("last=5 daily=5", "97:D 98-99:L+D 100:L 101-102:L+D"),
    // policy_keep_snapshots_10
    ("last=2 daily=10", "86-87:D 94-99:D 101-102:L+D"),
    // policy_keep_snapshots_11
    ("weekly=2", "101-102:W"),
    // policy_keep_snapshots_12
    ("weekly=4", "87:W 99:W 101-102:W"),
    // policy_keep_snapshots_13
    ("daily=3 weekly=4", "87:W 99:D+W 101-102:D+W"),
    // policy_keep_snapshots_14
    ("monthly=6", "39:M 49:M 59:M 69:M 83:M 102:M"),
    // policy_keep_snapshots_15
    ("daily=2 weekly=2 monthly=6", "39:M 49:M 59:M 69:M 83:M 101:D+W 102:D+W+M"),
    // policy_keep_snapshots_16
    ("yearly=10", "10:oY 39:Y 83:Y 102:Y"),
    // policy_keep_snapshots_17
    ("daily=7 weekly=2 monthly=3 yearly=10", "10:oY 39:Y 69:M 83:M+Y 95-99:D 101:D+W 102:D+W+M+Y"),
    // policy_keep_snapshots_21
    ("within=1d", "102:w"),
    // policy_keep_snapshots_22
    ("within=2d", "102:w"),
    // policy_keep_snapshots_23
    ("within=7d", "100-102:w"),
    // policy_keep_snapshots_24
    ("within=1m", "84-102:w"),
    // policy_keep_snapshots_25
    ("within=1m14d", "84-102:w"),
    // policy_keep_snapshots_26
    ("within=1y1d1m", "40-102:w"),
    // policy_keep_snapshots_27
    ("within=13d23h", "94-102:w"),
    // policy_keep_snapshots_28
    ("within=2m2h", "80-102:w"),
    // policy_keep_snapshots_29
    ("within=1y2m3d3h", "35-102:w"),
    // policy_keep_snapshots_30
    ("within-hourly=1y2m3d3h", "35-52:wH 54-69:wH 74-76:wH 78-83:wH 85-89:wH 93-99:wH 101-102:wH"),
    // policy_keep_snapshots_31
    ("within-daily=1y2m3d3h", "35-52:wD 54-69:wD 74-76:wD 78-83:wD 86-87:wD 94-99:wD 101-102:wD"),
    // policy_keep_snapshots_32
    ("within-weekly=1y2m3d3h", "35:wW 39:wW 43:wW 47-50:wW 55:wW 59:wW 61:wW 67:wW 69:wW 74:wW 79:wW 83:wW 87:wW 99:wW 101-102:wW"),
    // policy_keep_snapshots_33
    ("within-monthly=1y2m3d3h", "39:wM 49:wM 59:wM 69:wM 83:wM 102:wM"),
    // policy_keep_snapshots_34
    ("within-yearly=1y2m3d3h", "39:wY 83:wY 102:wY"),
    // policy_keep_snapshots_35
    ("within=1h within-hourly=1d within-daily=7d within-weekly=1m within-monthly=1y within-yearly=9999y", "10:owY 39:wY 49:wM 59:wM 69:wM 83:wM+wY 87:wW 99:wW 101:wD+wW 102:w+wH+wD+wW+wM+wY"),
    // policy_keep_snapshots_36
    ("last=unlimited", "0-102:L"),
    // policy_keep_snapshots_37
    ("last=unlimited hourly=unlimited", "0-12:L+H 13:L 14-32:L+H 33:L 34-52:L+H 53:L 54-69:L+H 70-73:L 74-76:L+H 77:L 78-83:L+H 84:L 85-89:L+H 90-92:L 93-99:L+H 100:L 101-102:L+H"),
    // policy_keep_snapshots_38
    ("hourly=unlimited", "0-12:H 14-32:H 34-52:H 54-69:H 74-76:H 78-83:H 85-89:H 93-99:H 101-102:H"),
    // policy_keep_snapshots_39
    ("daily=3 weekly=2 monthly=unlimited yearly=unlimited", "9:M 10:oM+oY 19:M 29:M 39:M+Y 49:M 59:M 69:M 83:M+Y 99:D 101:D+W 102:D+W+M+Y"),
];

#[test]
fn restic_golden_files() {
    let times: Vec<_> = RESTIC_TIMES.split(',').map(at).collect();
    assert_eq!(times.len(), 103);
    for (spec, want) in RESTIC_GOLDEN {
        assert_eq!(
            summary(&apply(&times, &policy(spec))),
            *want,
            "policy {spec}"
        );
        let now = at("2030-01-01 00:00:00");
        let p = policy(spec);
        assert_eq!(
            apply_at(&times, &p, now),
            reference(&times, &p, now),
            "{spec}"
        );
    }
}

/// The example of restic's doc/060_forget.rst: weekday backups over two weeks, an extra one
/// on Fridays, no backup on the second Wednesday.
#[test]
fn restic_doc_weekday_example() {
    let snapshots = [
        ("60e5c031", "2025-04-21 11:00:00"),
        ("1dccffe9", "2025-04-22 11:00:00"),
        ("90a5c949", "2025-04-23 11:00:00"),
        ("79580708", "2025-04-24 11:00:00"),
        ("8a603ddf", "2025-04-25 11:00:00"),
        ("ae33bf10", "2025-04-25 23:00:00"),
        ("fb8b1418", "2025-04-28 11:00:00"),
        ("1db188b4", "2025-04-29 11:00:00"),
        ("7baa4f28", "2025-05-01 11:00:00"),
        ("05c48af3", "2025-05-02 11:00:00"),
        ("ad72e262", "2025-05-02 23:00:00"),
    ];
    let times: Vec<_> = snapshots.iter().map(|(_, t)| at(t)).collect();
    let keep = |spec: &str| {
        let reasons = apply(&times, &policy(spec));
        let kept = (0..times.len()).filter(|&i| !reasons[i].is_empty());
        kept.map(|i| (snapshots[i].0, reasons[i].join("+")))
            .collect::<Vec<_>>()
    };
    // The documented listings, ids oldest first (the doc lists `8a603ddf` at the time of
    // `ae33bf10`, a slip: the one at 2025-04-25 23:00 is ae33bf10).
    let daily = ["ae33bf10", "fb8b1418", "1db188b4", "7baa4f28", "ad72e262"];
    let want: Vec<_> = daily
        .iter()
        .map(|id| (*id, "daily snapshot".to_string()))
        .collect();
    assert_eq!(keep("daily=5"), want);
    let within = ["fb8b1418", "1db188b4", "7baa4f28", "ad72e262"];
    let want: Vec<_> = within
        .iter()
        .map(|id| (*id, "daily within".to_string()))
        .collect();
    assert_eq!(keep("within-daily=7d"), want);
    assert_eq!(policy("daily=5").to_string(), "keep 5 daily snapshots");
    assert_eq!(
        policy("within-daily=7d").to_string(),
        "keep daily snapshots within 7d"
    );
}

/// restic's doc: a backup every day for 100 years, `--keep-daily 7 --keep-weekly 5
/// --keep-monthly 12 --keep-yearly 75` keeps 7 dailies, 4 more weeklies (the dailies hold
/// one), 11 or 12 monthlies and 74 or 75 yearlies. Ending on a Sunday, the 7 dailies are one
/// ISO week and the newest holds the newest month and year: 4, 11 and 74 more.
#[test]
fn restic_doc_hundred_years_of_dailies() {
    let end = ymd(2023, 12, 31);
    let times: Vec<_> = (0..36525)
        .map(|k| {
            (end - Days::new(k))
                .and_hms_opt(12, 0, 0)
                .unwrap()
                .and_utc()
        })
        .collect();
    assert_eq!(times.last().unwrap().date_naive(), ymd(1924, 1, 1));
    let p = policy("daily=7 weekly=5 monthly=12 yearly=75");
    let r = apply(&times, &p);
    let with = |reason: &str| r.iter().filter(|r| r.contains(&reason)).count();
    let only = |reason: &str| r.iter().filter(|r| r.as_slice() == [reason]).count();
    assert_eq!(with("daily snapshot"), 7);
    assert_eq!(with("weekly snapshot"), 5);
    assert_eq!(with("monthly snapshot"), 12);
    assert_eq!(with("yearly snapshot"), 75);
    assert_eq!(only("weekly snapshot"), 4);
    assert_eq!(only("monthly snapshot"), 11);
    assert_eq!(only("yearly snapshot"), 74);
    assert_eq!(r.iter().filter(|r| !r.is_empty()).count(), 7 + 4 + 11 + 74);
    assert!(r.iter().flatten().all(|r| !r.starts_with("oldest")));
    let oldest_yearly = times
        .iter()
        .zip(&r)
        .filter(|(_, r)| r.contains(&"yearly snapshot"));
    let oldest_yearly = oldest_yearly.map(|(t, _)| *t).min().unwrap();
    assert_eq!(oldest_yearly, at("1949-12-31 12:00:00"));
    let now = at("2030-01-01 00:00:00");
    assert_eq!(apply_at(&times, &p, now), reference(&times, &p, now));
    let text = "keep 7 daily, 5 weekly, 12 monthly, 75 yearly snapshots";
    assert_eq!(p.to_string(), text);
}

#[test]
fn empty_policy_keeps_everything() {
    let times = [at("2024-01-01 00:00:00"), at("2023-01-01 00:00:00")];
    let all = vec![vec![EMPTY_POLICY]; 2];
    assert_eq!(apply(&times, &Policy::default()), all);
    // restic's Empty: a count of 0 and a zero duration are not rules.
    let zeros = policy("last=0 daily=0 within=0d within-daily=");
    assert!(zeros.is_empty());
    assert_eq!(apply(&times, &zeros), all);
    assert!(!policy("daily=unlimited").is_empty());
    assert!(!policy("within-yearly=1h").is_empty());
    assert!(apply(&[], &policy("daily=7")).is_empty());
    assert_eq!(
        Policy::default().to_string(),
        "keep all snapshots (the policy is empty)"
    );
}

#[test]
fn equal_times_keep_input_order() {
    let t = at("2024-05-05 05:05:05");
    let times = [t, t, t];
    assert_eq!(summary(&apply(&times, &policy("daily=1"))), "0:D");
    assert_eq!(summary(&apply(&times, &policy("last=2"))), "0-1:L");
    // Unlimited, the rule reaches the oldest (the last given) with count left.
    assert_eq!(
        summary(&apply(&times, &policy("daily=unlimited"))),
        "0:D 2:oD"
    );
    // Enough of them for an unstable sort to reorder: two days, 25 backups each, interleaved.
    let (a, b) = (at("2024-05-05 05:05:05"), at("2024-05-06 06:06:06"));
    let times: Vec<_> = (0..50).map(|i| if i % 2 == 0 { a } else { b }).collect();
    let got = summary(&apply(&times, &policy("daily=unlimited last=3")));
    assert_eq!(got, "0:D 1:L+D 3:L 5:L 48:oD");
}

#[test]
fn within_subtracts_calendar_units_as_go() {
    let before = |t: &str, d: &str| d.parse::<CalendarDuration>().unwrap().before(at(t));
    // Go's AddDate rolls "February 31st" over into March, in a leap year and not.
    assert_eq!(
        before("2016-03-31 12:00:00", "1m"),
        Some(at("2016-03-02 12:00:00"))
    );
    assert_eq!(
        before("2015-03-31 12:00:00", "1m"),
        Some(at("2015-03-03 12:00:00"))
    );
    assert_eq!(
        before("2016-02-29 00:00:00", "1y"),
        Some(at("2015-03-01 00:00:00"))
    );
    assert_eq!(
        before("2016-03-01 06:00:00", "1d7h"),
        Some(at("2016-02-28 23:00:00"))
    );
    assert_eq!(
        before("2016-01-18 12:02:03", "1y2m3d3h"),
        Some(at("2014-11-15 09:02:03"))
    );
    assert_eq!(
        before("2016-01-18 12:02:03", "14m"),
        Some(at("2014-11-18 12:02:03"))
    );
    assert_eq!(before("2016-01-18 12:02:03", "999999y"), None);

    // Strictly newer than the cutoff, counted from the newest snapshot.
    let times = [
        at("2016-03-31 12:00:00"),
        at("2016-03-02 12:00:01"),
        at("2016-03-02 12:00:00"),
        at("2016-03-01 13:00:00"),
    ];
    assert_eq!(summary(&apply(&times, &policy("within=1m"))), "0-1:w");
    // Past chrono's range every snapshot is within.
    assert_eq!(summary(&apply(&times, &policy("within=999999y"))), "0-3:w");
}

#[test]
fn newest_ignores_the_future() {
    let now = at("2024-01-01 00:00:00");
    let times = [
        at("2023-12-30 12:00:00"),
        at("2023-12-31 12:00:00"),
        at("2024-06-01 00:00:00"),
    ];
    let r = apply_at(&times, &policy("within=1d"), now);
    assert_eq!(summary(&r), "1-2:w");
    // All in the future: restic counts from Go's zero time, so all are within.
    let r = apply_at(&times, &policy("within=1d"), at("2000-01-01 00:00:00"));
    assert_eq!(summary(&r), "0-2:w");
}

#[test]
fn iso_week_53_spans_the_new_year() {
    // ISO week 2020-W53 runs from Monday 2020-12-28 to Sunday 2021-01-03.
    assert_eq!(by_week(at("2020-12-27 12:00:00"), 0), 202052);
    assert_eq!(by_week(at("2020-12-28 00:00:00"), 0), 202053);
    assert_eq!(by_week(at("2021-01-03 23:59:59"), 0), 202053);
    assert_eq!(by_week(at("2021-01-04 00:00:00"), 0), 202101);
    let times = [
        at("2020-12-27 12:00:00"),
        at("2020-12-28 12:00:00"),
        at("2020-12-31 12:00:00"),
        at("2021-01-01 12:00:00"),
        at("2021-01-03 12:00:00"),
        at("2021-01-04 12:00:00"),
    ];
    let keep = |spec: &str| summary(&apply(&times, &policy(spec)));
    assert_eq!(keep("weekly=2"), "4-5:W");
    assert_eq!(keep("weekly=3"), "0:W 4-5:W");
    // Years are calendar years, not ISO years.
    assert_eq!(keep("yearly=2"), "2:Y 5:Y");
    assert_eq!(keep("yearly=unlimited"), "0:oY 2:Y 5:Y");
    // The oldest, in a week already kept, is kept while count is left.
    assert_eq!(
        summary(&apply(&times[1..], &policy("weekly=3"))),
        "0:oW 3-4:W"
    );
}

#[test]
fn iso_week_1_starts_in_december() {
    // Monday 2024-12-30 opens ISO week 2025-W01, which runs to Sunday 2025-01-05.
    assert_eq!(by_week(at("2024-12-29 23:59:59"), 0), 202452);
    assert_eq!(by_week(at("2024-12-30 00:00:00"), 0), 202501);
    assert_eq!(by_week(at("2025-01-05 23:59:59"), 0), 202501);
    let times = [
        at("2024-12-29 23:00:00"),
        at("2024-12-30 08:00:00"),
        at("2024-12-31 22:00:00"),
        at("2025-01-01 09:00:00"),
        at("2025-01-05 23:59:59"),
        at("2025-01-06 00:00:00"),
    ];
    let keep = |spec: &str| summary(&apply(&times, &policy(spec)));
    assert_eq!(keep("weekly=3"), "0:W 4-5:W");
    assert_eq!(keep("yearly=2"), "2:Y 5:Y");
    assert_eq!(keep("monthly=2 daily=1"), "2:M 5:D+M");
    assert_eq!(keep("within-weekly=7d"), "4-5:wW");
    // A later year of 53 weeks: 2026's W53 runs into 2027.
    assert_eq!(by_week(at("2026-12-31 00:00:00"), 0), 202653);
    assert_eq!(by_week(at("2027-01-03 00:00:00"), 0), 202653);
}

#[test]
fn counts_parse() {
    assert_eq!("7".parse(), Ok(Count::N(7)));
    assert_eq!("0".parse(), Ok(Count::N(0)));
    assert_eq!("+3".parse(), Ok(Count::N(3)));
    for all in ["-1", "all", "unlimited", "Unlimited"] {
        assert_eq!(all.parse(), Ok(Count::All), "{all}");
    }
    for bad in ["-2", "x", "", "1.5", "4294967296"] {
        let err = bad.parse::<Count>().unwrap_err();
        assert!(!err.contains('\n') && err.contains("count"), "{bad}: {err}");
    }
    assert_eq!(Count::All.to_string(), "unlimited");
    assert_eq!(Count::N(5).to_string(), "5");
}

#[test]
fn durations_parse_as_restic() {
    // restic's TestParseDuration cases: input, parsed, written back.
    let d = |years, months, days, hours| CalendarDuration {
        years,
        months,
        days,
        hours,
    };
    let good = [
        ("9h", d(0, 0, 0, 9), "9h"),
        ("3d", d(0, 0, 3, 0), "3d"),
        ("4d2h", d(0, 0, 4, 2), "4d2h"),
        ("7m5d", d(0, 7, 5, 0), "7m5d"),
        ("6m4d8h", d(0, 6, 4, 8), "6m4d8h"),
        ("5d7m", d(0, 7, 5, 0), "7m5d"),
        ("4h3d9m", d(0, 9, 3, 4), "9m3d4h"),
        ("1y2m3d4h", d(1, 2, 3, 4), "1y2m3d4h"),
        (" 2y ", d(2, 0, 0, 0), "2y"),
        ("1y3y", d(3, 0, 0, 0), "3y"),
        ("", d(0, 0, 0, 0), ""),
        ("-0d", d(0, 0, 0, 0), ""),
    ];
    for (input, want, text) in good {
        let got = parse_duration(input).unwrap();
        assert_eq!((got, got.to_string().as_str()), (want, text), "{input:?}");
    }
    // Negative values are read by restic's parser and refused by its forget.
    let bad = [
        "2w",
        "1y4m3w1d",
        "s",
        "\u{7c0}",
        "5",
        "-7m5d",
        "1y4m-5d-3h",
        "9999999999h",
    ];
    for input in bad {
        let err = parse_duration(input).unwrap_err();
        assert!(
            !err.contains('\n') && err.contains("duration"),
            "{input}: {err}"
        );
    }
}

#[test]
fn policy_text_as_restic() {
    let p = policy("last=3 hourly=unlimited within-daily=7d within-weekly=1m within=2y");
    let text = "keep 3 latest, all hourly snapshots, daily snapshots within 7d, \
                weekly snapshots within 1m and all snapshots within 2y of the newest";
    assert_eq!(p.to_string(), text);
}

// -- A synthetic catalog, checked against a plain reimplementation. --

/// 400 days from 2020-06-01 to 2021-07-05: a full backup at 01:00 and incrementals every 4
/// hours to 21:00. Gaps: no backups 2020-12-24..27 nor 2021-07-01..02; only the full on
/// 2021-06-30; and before 2021-06-16 every 37th day missing, every 11th day only the full,
/// every 13th stopping at 13:00, every 29th with an extra at 23:59:59. 2020-09-09 09:00 is
/// there twice. Given in a scrambled order.
fn catalog() -> Vec<DateTime<Utc>> {
    let start = ymd(2020, 6, 1);
    let mut v = Vec::new();
    for k in 0..400u64 {
        let day = start + Days::new(k);
        let time = |h: u32, m: u32, s: u32| day.and_hms_opt(h, m, s).unwrap().and_utc();
        let early = day < ymd(2021, 6, 16);
        let outage = (ymd(2020, 12, 24)..=ymd(2020, 12, 27)).contains(&day)
            || (ymd(2021, 7, 1)..=ymd(2021, 7, 2)).contains(&day);
        if outage || (early && k % 37 == 5) {
            continue;
        }
        let until = if day == ymd(2021, 6, 30) || (early && k % 11 == 3) {
            1
        } else if early && k % 13 == 7 {
            13
        } else {
            21
        };
        v.extend((1..=until).step_by(4).map(|h| time(h, 0, 0)));
        if early && k % 29 == 0 {
            v.push(time(23, 59, 59));
        }
        if day == ymd(2020, 9, 9) {
            v.push(time(9, 0, 0));
        }
    }
    v.sort_by_key(|t| t.timestamp().rem_euclid(7919));
    v
}

/// restic's rules as its documentation states them, written plainly and independently of
/// `apply`: for each rule, the newest snapshot of each of the N newest buckets that have
/// snapshots (equal times: the one given first); then the oldest snapshot of all if the rule
/// has count to spare after every bucket. `within D` keeps what is after the newest (not in
/// the future) minus D, the D counted back month by month; within-rules bucket those only.
fn reference(times: &[DateTime<Utc>], p: &Policy, now: DateTime<Utc>) -> Vec<Vec<&'static str>> {
    let n = times.len();
    if p.is_empty() {
        return vec![vec![EMPTY_POLICY]; n];
    }
    let mut out: Vec<Vec<&'static str>> = vec![Vec::new(); n];
    if n == 0 {
        return out;
    }
    let newest_first = |i: usize| (Reverse(times[i]), i);
    let oldest = (0..n).max_by_key(|&i| newest_first(i)).unwrap();
    let year_one = ymd(1, 1, 1).and_hms_opt(0, 0, 0).unwrap().and_utc();
    let candidates = times.iter().copied().filter(|&t| t > year_one && t < now);
    let newest = candidates.max().unwrap_or(year_one);
    let cut = |d: CalendarDuration| {
        let (mut y, mut m) = (newest.year(), newest.month());
        for _ in 0..(d.years * 12 + d.months) {
            (y, m) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
        }
        // From the 1st of that month, on by the day of the month (so past its end), back
        // by the days, then the hours.
        let first = NaiveDate::from_ymd_opt(y, m, 1)?;
        let date = first + Days::new(u64::from(newest.day() - 1));
        let date = date.checked_sub_days(Days::new(u64::from(d.days)))?;
        let t = date.and_time(newest.time()).and_utc();
        t.checked_sub_signed(TimeDelta::try_hours(i64::from(d.hours))?)
    };
    let in_range = |d: Option<CalendarDuration>| -> Option<Vec<usize>> {
        let d = d.filter(|d| !d.is_zero())?;
        let cut = cut(d).unwrap_or(DateTime::<Utc>::MIN_UTC);
        Some((0..n).filter(|&i| times[i] > cut).collect())
    };
    if let Some(within) = in_range(p.within) {
        within.iter().for_each(|&i| out[i].push("within"));
    }
    let label = |rule: &str, i: usize| match rule {
        "last" => i.to_string(),
        "hourly" => times[i].format("%Y-%m-%d %H").to_string(),
        "daily" => times[i].format("%Y-%m-%d").to_string(),
        "weekly" => times[i].format("%G-W%V").to_string(),
        "monthly" => times[i].format("%Y-%m").to_string(),
        "yearly" => times[i].format("%Y").to_string(),
        _ => unreachable!(),
    };
    let mut pick =
        |rule: &str, among: &[usize], count: Option<usize>, reason: [&'static str; 2]| {
            let mut heads: BTreeMap<String, usize> = BTreeMap::new();
            for &i in among {
                let head = heads.entry(label(rule, i)).or_insert(i);
                *head = std::cmp::min_by_key(*head, i, |&j| newest_first(j));
            }
            let mut heads: Vec<usize> = heads.into_values().collect();
            heads.sort_by_key(|&i| newest_first(i));
            let take = count.unwrap_or(usize::MAX).min(heads.len());
            heads[..take].iter().for_each(|&i| out[i].push(reason[0]));
            let spare = !matches!(count, Some(c) if c <= heads.len());
            if spare && among.contains(&oldest) && !heads.contains(&oldest) {
                out[oldest].push(reason[1]);
            }
        };
    let all: Vec<usize> = (0..n).collect();
    let rules = ["last", "hourly", "daily", "weekly", "monthly", "yearly"];
    for (rule, count) in rules.iter().zip(p.counts()) {
        let count = match count {
            None | Some(Count::N(0)) => continue,
            Some(Count::N(c)) => Some(c as usize),
            Some(Count::All) => None,
        };
        let reason = match *rule {
            "last" => ["last snapshot", "oldest last snapshot"],
            "hourly" => ["hourly snapshot", "oldest hourly snapshot"],
            "daily" => ["daily snapshot", "oldest daily snapshot"],
            "weekly" => ["weekly snapshot", "oldest weekly snapshot"],
            "monthly" => ["monthly snapshot", "oldest monthly snapshot"],
            _ => ["yearly snapshot", "oldest yearly snapshot"],
        };
        pick(rule, &all, count, reason);
    }
    for (rule, d) in rules[1..].iter().zip(p.withins()) {
        let Some(among) = in_range(d) else { continue };
        let reason = match *rule {
            "hourly" => ["hourly within", "oldest hourly within"],
            "daily" => ["daily within", "oldest daily within"],
            "weekly" => ["weekly within", "oldest weekly within"],
            "monthly" => ["monthly within", "oldest monthly within"],
            _ => ["yearly within", "oldest yearly within"],
        };
        pick(rule, &among, None, reason);
    }
    out
}

/// Fails with the first few snapshots on which `apply` and the reference differ.
fn assert_agree(times: &[DateTime<Utc>], spec: &str, now: DateTime<Utc>) {
    let p = policy(spec);
    let (got, want) = (apply_at(times, &p, now), reference(times, &p, now));
    let diff: Vec<String> = (0..times.len())
        .filter(|&i| got[i] != want[i])
        .take(5)
        .map(|i| format!("{}: apply {:?}, reference {:?}", times[i], got[i], want[i]))
        .collect();
    assert!(diff.is_empty(), "policy {spec}:\n{}", diff.join("\n"));
}

#[test]
fn catalog_agrees_with_reference() {
    let times = catalog();
    let now = at("2030-01-01 00:00:00");
    let mut specs = Vec::new();
    for rule in ["last", "hourly", "daily", "weekly", "monthly", "yearly"] {
        for n in ["1", "2", "7", "30", "53", "200", "5000", "unlimited"] {
            specs.push(format!("{rule}={n}"));
        }
    }
    let withins = ["within", "within-hourly", "within-daily", "within-weekly"];
    for rule in withins
        .into_iter()
        .chain(["within-monthly", "within-yearly"])
    {
        for d in ["1h", "1d", "2d", "7d", "1m", "3m2d5h", "1y", "2y"] {
            specs.push(format!("{rule}={d}"));
        }
    }
    specs.extend(
        [
            "daily=7 weekly=5 monthly=12 yearly=unlimited",
            "last=3 hourly=24 daily=30 within=1m",
            "hourly=unlimited weekly=2 yearly=1",
            "within-daily=7d within-weekly=1m within-monthly=1y within-yearly=75y",
            "last=10 hourly=48 daily=14 weekly=8 monthly=24 yearly=5 within=3d \
             within-hourly=2d within-daily=1m within-weekly=3m within-monthly=1y \
             within-yearly=9y",
        ]
        .map(String::from),
    );
    for spec in &specs {
        assert_agree(&times, spec, now);
    }
    // With `now` inside the catalog, the snapshots after it are in the future.
    for spec in ["within=2d", "within-daily=7d daily=3", "within-weekly=1m"] {
        assert_agree(&times, spec, at("2021-03-01 12:00:00"));
    }
}

#[test]
fn catalog_by_hand() {
    let times = catalog();
    let keep = |spec: &str| kept(&times, &apply(&times, &policy(spec)));
    let daily = [
        "2021-07-05 21:00:00",
        "2021-07-04 21:00:00",
        "2021-07-03 21:00:00",
        "2021-06-30 01:00:00",
        "2021-06-29 21:00:00",
        "2021-06-28 21:00:00",
        "2021-06-27 21:00:00",
    ];
    let want: Vec<_> = daily
        .iter()
        .map(|t| format!("{t} daily snapshot"))
        .collect();
    assert_eq!(keep("daily=7"), want);

    let hours = ["21", "17", "13", "09", "05"];
    let last = hours.map(|h| format!("2021-07-05 {h}:00:00 last snapshot"));
    assert_eq!(keep("last=5"), last);
    assert_eq!(keep("hourly=8").len(), 8);
    assert_eq!(keep("hourly=8")[7], "2021-07-04 17:00:00 hourly snapshot");

    let weekly = [
        "2021-07-05 21:00:00",
        "2021-07-04 21:00:00",
        "2021-06-27 21:00:00",
    ];
    let want: Vec<_> = weekly
        .iter()
        .map(|t| format!("{t} weekly snapshot"))
        .collect();
    assert_eq!(keep("weekly=3"), want);

    let monthly = [
        "2021-07-05 21:00:00",
        "2021-06-30 01:00:00",
        "2021-05-31 21:00:00",
    ];
    let want: Vec<_> = monthly
        .iter()
        .map(|t| format!("{t} monthly snapshot"))
        .collect();
    assert_eq!(keep("monthly=3"), want);

    let yearly = [
        "2021-07-05 21:00:00 yearly snapshot",
        "2020-12-31 21:00:00 yearly snapshot",
        "2020-06-01 01:00:00 oldest yearly snapshot",
    ];
    assert_eq!(keep("yearly=unlimited"), yearly);
    assert_eq!(keep("yearly=3"), yearly);
    assert_eq!(keep("yearly=2"), yearly[..2]);

    // ISO week 2020-W53 ends on Sunday 2021-01-03: its newest is that day's last backup.
    let weeks = keep("weekly=unlimited");
    assert!(weeks.contains(&"2021-01-03 21:00:00 weekly snapshot".to_string()));
    assert!(!weeks.iter().any(|w| w.starts_with("2020-12-31")));

    // 2 days back from 2021-07-05 21:00 is 07-03 21:00, which is not after itself.
    let within = keep("within=2d");
    assert_eq!(within.len(), 12);
    assert_eq!(within[11], "2021-07-04 01:00:00 within");
    let within_daily = keep("within-daily=7d");
    assert_eq!(within_daily.len(), 5);
    assert_eq!(within_daily[4], "2021-06-29 21:00:00 daily within");
}
