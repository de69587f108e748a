//! What a catalog holds, for people and scripts: list, latest, diff.

use super::plan::ago;
use super::At;
use as_cli::{BadInput, Usage};
use as_common::catalog::{Backup, Catalog, Status};
use std::io::Write;

/// A backup as `list --json` prints it.
fn json(b: &Backup) -> serde_json::Value {
    let (status, reason) = match &b.status {
        Status::Complete => ("complete", None),
        Status::Incomplete(w) => ("incomplete", Some(w.as_str())),
        Status::Removing => ("removing", None),
        Status::Damaged(w) => ("damaged", Some(w.as_str())),
    };
    let verified = b
        .verified
        .as_deref()
        .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
        .and_then(|v| v.get("verified").cloned());
    serde_json::json!({
        "name": b.name,
        "path": b.path,
        "start": b.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "kind": b.kind().map(|k| k.name()),
        "parent": b.parent(),
        "records": b.records(),
        "bytes": b.bytes,
        "duration_seconds": b.duration(),
        "status": status,
        "reason": reason,
        "verified": verified,
        "inventory": b.has_inventory(),
    })
}

pub fn list(cat: &Catalog, as_json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if as_json {
        for b in &cat.backups {
            writeln!(out, "{}", json(b))?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:<16}  {:<11}  {:<16}  {:>10}  {:>12}  {:>8}  {:<10}  verified",
        "start", "kind", "parent", "records", "bytes", "duration", "status"
    )?;
    for b in &cat.backups {
        let j = json(b);
        let status = match &b.status {
            Status::Complete => "complete".to_string(),
            Status::Incomplete(w) => format!("incomplete ({w})"),
            Status::Removing => "being removed".to_string(),
            Status::Damaged(w) => format!("damaged ({w})"),
        };
        writeln!(
            out,
            "{:<16}  {:<11}  {:<16}  {:>10}  {:>12}  {:>8}  {:<10}  {}",
            b.name,
            b.kind().map_or("?", |k| k.name()),
            b.parent().unwrap_or("-"),
            b.records().map_or("-".to_string(), |r| r.to_string()),
            b.bytes,
            b.duration().map_or("-".to_string(), |d| format!("{d:.1}s")),
            status,
            j["verified"].as_str().unwrap_or("no"),
        )?;
    }
    Ok(())
}

pub fn latest(
    cat: &Catalog,
    max_age: Option<std::time::Duration>,
    as_json: bool,
) -> anyhow::Result<()> {
    let (latest, broken) = cat.latest();
    for e in &broken {
        tracing::warn!("{e}");
    }
    let Some(b) = latest else {
        return Err(BadInput(format!(
            "{} holds no complete backup that can be restored",
            cat.root
        ))
        .into());
    };
    if as_json {
        println!("{}", json(b));
    } else {
        println!("{}", b.path);
    }
    if let Some(max) = max_age {
        let age = chrono::Utc::now() - b.time;
        if age > chrono::Duration::from_std(max)? {
            return Err(BadInput(format!(
                "the newest complete backup of {} started {} ago, more than {}",
                cat.root,
                ago(b.time),
                humantime::format_duration(max)
            ))
            .into());
        }
    }
    Ok(())
}

pub fn diff(at: &At, from: &str, to: &str, list: bool) -> anyhow::Result<()> {
    let cat = at.open()?;
    let stores = crate::backup::Stores::new(at.reader())?;
    let get = |n: &str| {
        cat.get(n)
            .filter(|b| b.is_complete())
            .ok_or_else(|| Usage(format!("{} holds no complete backup {n}", cat.root)))
    };
    let (a, b) = (get(from)?, get(to)?);
    if a.time > b.time {
        return Err(Usage(format!("{from} is newer than {to}: give the older first")).into());
    }
    let load = |x: &Backup| x.inventory(&stores).map_err(|e| BadInput(e.to_string()));
    let (ia, ib) = (load(a)?, load(b)?);
    let c = ia.changes(&ib);
    let mut out = std::io::stdout().lock();
    writeln!(out, "records {} -> {}", ia.len(), ib.len())?;
    writeln!(out, "inserted {}", c.inserted.len())?;
    writeln!(out, "updated {}", c.updated.len())?;
    writeln!(out, "deleted {}", c.deleted.len())?;
    if list {
        let b64 = |d: &[u8]| base64_simd::STANDARD.encode_to_string(d);
        for (what, v) in [
            ("inserted", &c.inserted),
            ("updated", &c.updated),
            ("deleted", &c.deleted),
        ] {
            for d in v {
                writeln!(out, "{what} {}", b64(d))?;
            }
        }
    }
    Ok(())
}
