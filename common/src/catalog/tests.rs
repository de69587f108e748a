use super::retention::{Count, Policy};
use super::*;
use crate::manifest::{self, CatalogInfo};
use crate::test_storage::Mem;
use chrono::Duration;

fn t(s: &str) -> DateTime<Utc> {
    parse_time(s).unwrap()
}

fn scope(ns: &str) -> Scope {
    Scope {
        namespace: ns.into(),
        ..Scope::default()
    }
}

/// Adds a complete backup `name` of namespace `ns` to the catalog `cat`.
fn add(m: &mut Mem, name: &str, ns: &str, kind: BackupKind, parent: Option<&str>) {
    let mut man = manifest::example(ns, 1, scope(ns));
    if kind == BackupKind::Incremental {
        man.scope.modified_after = Some("x".into());
    }
    man.catalog = Some(CatalogInfo {
        kind,
        parent: parent.map(str::to_string),
        inventory: None,
    });
    m.put(&format!("cat/{name}/{ns}_00000.asb"), "x");
    m.put(&format!("cat/{name}/{ns}.manifest"), man.to_json());
}

/// A backup that was begun and not finished: its plan and the marker of as-split.
fn add_unfinished(m: &mut Mem, name: &str, parent: Option<&str>) {
    let plan = Plan {
        name: name.into(),
        kind: if parent.is_some() {
            BackupKind::Incremental
        } else {
            BackupKind::Full
        },
        parent: parent.map(str::to_string),
        after: None,
        inventory: false,
        scope: scope("test"),
    };
    m.put(
        &format!("cat/{name}/{PLAN}"),
        serde_json::to_vec(&plan).unwrap(),
    );
    m.put(
        &format!("cat/{name}/test.asb.incomplete"),
        "backup in progress\n",
    );
}

fn begin(cat: &Catalog, at: &str, incremental: bool) -> Plan {
    let req = Begin {
        time: t(at),
        scope: scope("test"),
        incremental,
        overlap: Duration::minutes(5),
        inventory: false,
    };
    cat.begin(&req).unwrap().0
}

#[test]
fn names_are_sortable_utc_times() {
    let x = t("2026-12-06T14:00:05+01:00");
    assert_eq!(name_of(x), "20261206T130005Z");
    assert_eq!(parse_name("20261206T130005Z"), Some(x));
    assert_eq!(t("20261206T130005Z"), x);
    for bad in ["20261206T1300Z", "2026-12-06", "latest", "20261306T130005Z"] {
        assert_eq!(parse_name(bad), None, "{bad}");
    }
    assert!(parse_time("yesterday").is_err());
    assert_eq!(scan_time(x), "2026-12-06_13:00:05");
}

#[test]
fn an_incremental_follows_the_newest_complete_backup_of_its_scope() {
    let mut m = Mem::default();
    let cat = Catalog::read("cat", &m).unwrap();
    assert!(cat.backups.is_empty(), "a catalog not there yet is empty");
    let p = begin(&cat, "20261201T000000Z", true);
    assert_eq!((p.kind, p.parent, p.after), (BackupKind::Full, None, None));

    add(&mut m, "20261201T000000Z", "test", BackupKind::Full, None);
    add(
        &mut m,
        "20261201T060000Z",
        "test",
        BackupKind::Incremental,
        Some("20261201T000000Z"),
    );
    // Another scope's newer backup, and an unfinished one: neither is followed.
    add(&mut m, "20261201T070000Z", "other", BackupKind::Full, None);
    add_unfinished(&mut m, "20261201T080000Z", Some("20261201T060000Z"));
    let cat = Catalog::read("cat", &m).unwrap();
    assert_eq!(cat.backups.len(), 4);
    assert!(matches!(cat.backups[3].status, Status::Incomplete(_)));
    assert_eq!(cat.latest().0.unwrap().name, "20261201T070000Z");

    let p = begin(&cat, "20261201T120000Z", true);
    assert_eq!(p.kind, BackupKind::Incremental);
    assert_eq!(p.parent.as_deref(), Some("20261201T060000Z"));
    assert_eq!(
        p.after.as_deref(),
        Some("2026-12-01_05:55:00"),
        "its parent's start less the overlap"
    );
    let p = begin(&cat, "20261201T120000Z", false);
    assert_eq!((p.kind, p.after), (BackupKind::Full, None));
    // Only backups that started before it.
    let p = begin(&cat, "20261201T030000Z", true);
    assert_eq!(p.parent.as_deref(), Some("20261201T000000Z"));
    // One backup a second.
    let req = Begin {
        time: t("20261201T060000Z"),
        scope: scope("test"),
        incremental: true,
        overlap: Duration::minutes(5),
        inventory: false,
    };
    assert!(matches!(cat.begin(&req), Err(CatalogError::Refused(_))));
    // The unfinished backup a state belongs to: the same kind, parent and window, begun
    // before the state's scan started.
    let mut st = crate::state::BackupState::new("test", "test", "namespace=test");
    st.catalog = Some(CatalogInfo {
        kind: BackupKind::Incremental,
        parent: Some("20261201T060000Z".into()),
        inventory: None,
    });
    st.started = Some("2026-12-01T08:00:01.000Z".into());
    assert_eq!(cat.unfinished(&st).unwrap().name, "20261201T080000Z");
    st.started = Some("2026-12-01T07:59:59.000Z".into());
    assert!(
        cat.unfinished(&st).is_none(),
        "begun after the state's scan started"
    );
    st.started = None;
    st.catalog.as_mut().unwrap().parent = Some("20261201T000000Z".into());
    assert!(cat.unfinished(&st).is_none(), "another parent");
}

#[test]
fn the_shards_of_one_backup_share_its_plan() {
    let mut m = Mem::default();
    add(&mut m, "20261201T000000Z", "test", BackupKind::Full, None);
    let cat = Catalog::read("cat", &m).unwrap();
    let sharded = |k| Begin {
        time: t("20261202T000000Z"),
        scope: Scope {
            shard: Some(crate::scope::Shard { k, n: 2 }),
            ..scope("test")
        },
        incremental: true,
        overlap: Duration::minutes(5),
        inventory: false,
    };
    let (plan, _) = cat.begin(&sharded(1)).unwrap();
    m.put(
        &format!("cat/{}/{PLAN}", plan.name),
        serde_json::to_vec(&plan).unwrap(),
    );
    let cat = Catalog::read("cat", &m).unwrap();
    assert_eq!(
        cat.begin(&sharded(2)).unwrap().0,
        plan,
        "the second shard takes the same"
    );
    let mut full = sharded(2);
    full.incremental = false;
    assert!(matches!(cat.begin(&full), Err(CatalogError::Refused(_))));
}

#[test]
fn a_chain_reaches_back_to_its_full_and_refuses_a_broken_link() {
    let mut m = Mem::default();
    add(&mut m, "20261201T000000Z", "test", BackupKind::Full, None);
    add(
        &mut m,
        "20261201T060000Z",
        "test",
        BackupKind::Incremental,
        Some("20261201T000000Z"),
    );
    add(
        &mut m,
        "20261201T120000Z",
        "test",
        BackupKind::Incremental,
        Some("20261201T060000Z"),
    );
    add(&mut m, "20261202T000000Z", "test", BackupKind::Full, None);
    add(
        &mut m,
        "20261202T060000Z",
        "test",
        BackupKind::Incremental,
        Some("20261202T000000Z"),
    );
    add_unfinished(&mut m, "20261202T120000Z", Some("20261202T060000Z"));
    let cat = Catalog::read("cat", &m).unwrap();
    let names = |until: &str| -> Vec<String> {
        let (links, _) = cat.chain(Some(t(until))).unwrap();
        links.iter().map(|b| b.name.clone()).collect()
    };
    assert_eq!(names("20261201T000000Z"), ["20261201T000000Z"]);
    assert_eq!(
        names("20261201T070000Z"),
        ["20261201T000000Z", "20261201T060000Z"]
    );
    assert_eq!(
        names("20261201T235959Z"),
        ["20261201T000000Z", "20261201T060000Z", "20261201T120000Z"]
    );
    // The newest is unfinished: the chain ends before it, and says it was left out.
    let (links, skipped) = cat.chain(None).unwrap();
    assert_eq!(links.len(), 2);
    assert_eq!(skipped[0].name, "20261202T120000Z");
    assert!(matches!(
        cat.chain(Some(t("20261130T000000Z"))),
        Err(CatalogError::NoBackup(_))
    ));

    // A link missing, or not whole.
    m.0.retain(|k, _| !k.starts_with("cat/20261201T060000Z/"));
    let cat = Catalog::read("cat", &m).unwrap();
    let e = cat
        .chain(Some(t("20261201T235959Z")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("20261201T060000Z") && e.contains("missing"),
        "{e}"
    );
    m.put("cat/20261202T000000Z/test.asb.incomplete", "stopped\n");
    let cat = Catalog::read("cat", &m).unwrap();
    let e = cat
        .chain(Some(t("20261202T070000Z")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("20261202T000000Z") && e.contains("incomplete"),
        "{e}"
    );
    // A file gone from a backup: damaged, not taken.
    m.0.remove("cat/20261201T120000Z/test_00000.asb");
    let cat = Catalog::read("cat", &m).unwrap();
    assert!(matches!(
        cat.get("20261201T120000Z").unwrap().status,
        Status::Damaged(_)
    ));
}

/// 400 days: a full every day at 01:00, incrementals every 4 hours after it, each after the
/// one before.
fn year_and_more() -> (Mem, Vec<String>) {
    let mut m = Mem::default();
    let mut names = Vec::new();
    let start = t("20251101T010000Z");
    let mut parent: Option<String> = None;
    for day in 0..400 {
        for step in 0..6 {
            let time = start + Duration::days(day) + Duration::hours(4 * step);
            let name = name_of(time);
            let kind = if step == 0 {
                BackupKind::Full
            } else {
                BackupKind::Incremental
            };
            let p = if step == 0 { None } else { parent.clone() };
            add(&mut m, &name, "test", kind, p.as_deref());
            parent = Some(name.clone());
            names.push(name);
        }
    }
    (m, names)
}

fn kept(cat: &Catalog, v: &[Verdict]) -> Vec<String> {
    cat.backups
        .iter()
        .zip(v)
        .filter(|(_, v)| v.keeps())
        .map(|(b, _)| b.name.clone())
        .collect()
}

#[test]
fn prune_keeps_what_restics_rules_keep_and_every_chain_they_need() {
    let (m, names) = year_and_more();
    let cat = Catalog::read("cat", &m).unwrap();
    assert_eq!(cat.backups.len(), 2400);
    let now = cat.backups.last().unwrap().time + Duration::hours(1);
    let grace = INCOMPLETE_GRACE;
    let times: Vec<_> = cat.backups.iter().map(|b| b.time).collect();
    let policies = [
        Policy {
            last: Some(Count::N(10)),
            ..Policy::default()
        },
        Policy {
            hourly: Some(Count::N(30)),
            ..Policy::default()
        },
        Policy {
            daily: Some(Count::N(7)),
            ..Policy::default()
        },
        Policy {
            weekly: Some(Count::N(5)),
            ..Policy::default()
        },
        Policy {
            monthly: Some(Count::N(12)),
            ..Policy::default()
        },
        Policy {
            yearly: Some(Count::All),
            ..Policy::default()
        },
        Policy {
            last: Some(Count::N(3)),
            daily: Some(Count::N(7)),
            weekly: Some(Count::N(4)),
            monthly: Some(Count::N(12)),
            ..Policy::default()
        },
    ];
    for p in &policies {
        let v = cat.prune(p, now, grace, false);
        let by_rules = retention::apply(&times, p);
        for (i, b) in cat.backups.iter().enumerate() {
            // What restic keeps is kept.
            if !by_rules[i].is_empty() {
                assert!(v[i].keeps(), "{p:?}: {} kept by the rules", b.name);
            }
            // What is kept besides is only what a kept backup needs.
            if v[i].keeps() && by_rules[i].is_empty() {
                let Verdict::Keep(why) = &v[i] else {
                    unreachable!()
                };
                assert!(why[0].starts_with("needed by"), "{p:?}: {} {why:?}", b.name);
            }
            // And every chain is whole.
            if v[i].keeps() {
                let mut x = b;
                while let Some(parent) = x.parent() {
                    let j = names.iter().position(|n| n == parent).unwrap();
                    assert!(v[j].keeps(), "{p:?}: {} needs {parent}", b.name);
                    x = &cat.backups[j];
                }
            }
        }
    }
    // keep-daily 7: the last backup of each of the last 7 days (the 21:00 incremental), each
    // with its day's full and the incrementals between.
    let v = cat.prune(&policies[2], now, grace, false);
    let k = kept(&cat, &v);
    assert_eq!(k.len(), 7 * 6);
    assert_eq!(k.first().unwrap(), &names[names.len() - 42]);
    // keep-last 10: the newest ten, and the full and incrementals the oldest of them needs.
    let v = cat.prune(&policies[0], now, grace, false);
    assert_eq!(
        kept(&cat, &v).len(),
        12,
        "ten, plus the 01:00 full and 05:00 incremental under them"
    );
}

#[test]
fn incomplete_backups_go_only_once_they_cannot_be_running() {
    let mut m = Mem::default();
    add(&mut m, "20261201T000000Z", "test", BackupKind::Full, None);
    add_unfinished(&mut m, "20261202T000000Z", Some("20261201T000000Z"));
    add(&mut m, "20261203T000000Z", "test", BackupKind::Full, None);
    add_unfinished(&mut m, "20261204T000000Z", Some("20261203T000000Z"));
    m.put("cat/20261130T000000Z/removing", "x");
    m.put("cat/20261130T000000Z/test_00000.asb", "x");
    let cat = Catalog::read("cat", &m).unwrap();
    assert_eq!(cat.backups[0].status, Status::Removing);
    let keep_last = Policy {
        last: Some(Count::N(1)),
        ..Policy::default()
    };
    let now = t("20261204T010000Z");
    let v = cat.prune(&keep_last, now, INCOMPLETE_GRACE, true);
    let verdict = |n: &str| &v[cat.backups.iter().position(|b| b.name == n).unwrap()];
    assert!(
        !verdict("20261130T000000Z").keeps(),
        "a half-removed backup goes"
    );
    assert!(!verdict("20261201T000000Z").keeps());
    assert!(
        !verdict("20261202T000000Z").keeps(),
        "a later backup completed and it started over a day ago"
    );
    assert!(verdict("20261203T000000Z").keeps());
    assert!(
        verdict("20261204T000000Z").keeps(),
        "no later backup completed: may be running"
    );
    // Within the grace, or without --prune-incomplete: kept.
    let v = cat.prune(&keep_last, t("20261202T120000Z"), INCOMPLETE_GRACE, true);
    assert!(v[2].keeps());
    let v = cat.prune(&keep_last, now, INCOMPLETE_GRACE, false);
    assert!(v[2].keeps());
}
