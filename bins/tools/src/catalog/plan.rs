//! The steps the wrappers take through a catalog (begin a backup, the chain to a time, an
//! inventory from a record stream) and the verification of its backups.

use super::place::Place;
use super::{duration, At};
use as_cli::io::{binary_stdout, open_input_interruptible};
use as_cli::{BadInput, Usage};
use as_common::backup::join;
use as_common::catalog::{self, Begin, CatalogError, Inventory, Status};
use as_common::scope::Scope;
use as_common::stream::{Frame, StreamReader};
use chrono::{DateTime, SubsecRound, Utc};
use clap::Parser;
use std::io::Write;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct BeginArgs {
    #[command(flatten)]
    at: At,

    /// The new backup's scope, as `as-scan --print-scope` prints it.
    #[arg(long, value_name = "JSON", required_unless_present = "resume")]
    scope: Option<String>,

    /// An incremental after the newest complete backup of the same scope (a full when there
    /// is none, said on stderr).
    #[arg(long)]
    incremental: bool,

    /// How far before its parent's start an incremental begins: the window is on the
    /// server's clock, the start on this one's.
    #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "5m")]
    overlap: std::time::Duration,

    /// An inventory is taken at the start.
    #[arg(long)]
    inventory: bool,

    /// The backup's start, which names it (default: now, to the second); not in the future.
    /// The shards of one backup give the same.
    #[arg(long, value_name = "TIME")]
    time: Option<String>,

    /// Print the plan of the unfinished backup this state (as-split's, --continue's) belongs
    /// to instead, which a resume finishes.
    #[arg(long, value_name = "STATE", conflicts_with_all = ["scope", "incremental", "inventory", "time"])]
    resume: Option<std::path::PathBuf>,
}

pub fn begin(a: &BeginArgs) -> anyhow::Result<()> {
    let cat = a.at.open()?;
    let now = Utc::now().trunc_subsecs(0);
    let (plan, note) = if let Some(path) = &a.resume {
        let state = as_common::state::BackupState::load(path)?;
        let b = cat.unfinished(&state).ok_or_else(|| {
            Usage(format!(
                "{} holds no unfinished backup that the state {} belongs to",
                cat.root,
                path.display()
            ))
        })?;
        (b.plan.clone().expect("unfinished backups have plans"), None)
    } else {
        let scope: Scope = serde_json::from_str(a.scope.as_deref().expect("clap requires it"))
            .map_err(|e| Usage(format!("invalid --scope: {e}")))?;
        if scope.modified_after.is_some() || scope.modified_before.is_some() {
            return Err(Usage(
                "a catalog sets each backup's window: no --modified-after or --modified-before"
                    .into(),
            )
            .into());
        }
        let time = match &a.time {
            Some(t) => catalog::parse_time(t).map_err(Usage)?.trunc_subsecs(0),
            None => now,
        };
        if time > now {
            return Err(Usage(format!(
                "--catalog-time {} is in the future: a backup cannot start later than it runs",
                catalog::name_of(time)
            ))
            .into());
        }
        // An incremental into a local catalog that is not there (an unmounted volume?) would
        // quietly become a full backup into a new directory.
        if a.incremental
            && !crate::backup::is_cloud(&a.at.catalog)
            && !std::path::Path::new(a.at.root()).is_dir()
        {
            return Err(Usage(format!(
                "the catalog {} does not exist: take a full backup (without --incremental) to begin it",
                a.at.root()
            ))
            .into());
        }
        let req = Begin {
            time,
            scope,
            incremental: a.incremental,
            overlap: chrono::Duration::from_std(a.overlap)?,
            inventory: a.inventory,
        };
        let (plan, note) = cat.begin(&req).map_err(refusal)?;
        if cat.get(&plan.name).is_none() {
            let place = Place::new(a.at.reader())?;
            let json = serde_json::to_vec_pretty(&plan)?;
            place.put(&join(&join(&cat.root, &plan.name), catalog::PLAN), &json)?;
        }
        (plan, note)
    };
    if let Some(n) = note {
        tracing::info!("{n}");
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "name={}", plan.name)?;
    writeln!(out, "path={}", join(&cat.root, &plan.name))?;
    writeln!(out, "kind={}", plan.kind.name())?;
    writeln!(out, "parent={}", plan.parent.as_deref().unwrap_or(""))?;
    writeln!(out, "after={}", plan.after.as_deref().unwrap_or(""))?;
    writeln!(out, "inventory={}", plan.inventory)?;
    Ok(())
}

/// A catalog's refusal: a usage error (exit 2) for a request it refuses, bad input (exit 3)
/// for what it holds, a runtime error when the storage failed.
fn refusal(e: CatalogError) -> anyhow::Error {
    match e {
        CatalogError::Storage(s) => anyhow::anyhow!(s),
        CatalogError::Refused(s) => Usage(s).into(),
        e => BadInput(e.to_string()).into(),
    }
}

/// The chain to `until`, oldest first (see `Cmd::Chain`).
pub fn chain(at: &At, until: Option<&str>, inventory_out: Option<&Path>) -> anyhow::Result<()> {
    let cat = at.open()?;
    let until = until.map(catalog::parse_time).transpose().map_err(Usage)?;
    let (links, skipped) = cat.chain(until).map_err(refusal)?;
    for s in skipped {
        let why = match &s.status {
            Status::Incomplete(w) => format!("incomplete: {w}"),
            Status::Damaged(w) => format!("damaged: {w}"),
            Status::Removing => "being removed".into(),
            Status::Complete => unreachable!("the chain ends at the newest complete backup"),
        };
        tracing::warn!("{} is not taken ({why})", s.name);
    }
    let last = links.last().expect("a chain has a backup");
    if let (Some(out), true) = (inventory_out, last.has_inventory()) {
        let stores = crate::backup::Stores::new(at.reader())?;
        let inv = last.inventory(&stores).map_err(refusal)?;
        let mut bytes = Vec::new();
        inv.write_to(&mut bytes)?;
        as_cli::io::write_atomically(out, &bytes, false)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    }
    let mut out = std::io::stdout().lock();
    for b in &links {
        let kind = b.kind().map_or("?", |k| k.name());
        writeln!(out, "backup {} {kind} {}", b.name, b.path)?;
    }
    let has = if last.has_inventory() { "yes" } else { "no" };
    writeln!(out, "inventory {has}")?;
    Ok(())
}

/// A record stream on stdin into an inventory.
pub fn inventory(output: Option<&Path>) -> anyhow::Result<()> {
    let input = open_input_interruptible(None)?;
    let mut reader = StreamReader::new(input)?;
    let mut entries = Vec::new();
    while let Some(f) = reader.next_frame()? {
        if let Frame::Record(r) = f {
            entries.push((r.digest, r.generation));
        }
    }
    let inv = Inventory::from_entries(entries);
    match output {
        Some(p) => {
            let mut bytes = Vec::new();
            inv.write_to(&mut bytes)?;
            as_cli::io::write_atomically(p, &bytes, true)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?;
        }
        None => inv.write_to(binary_stdout("an inventory")?)?,
    }
    tracing::info!("{} record(s) in the inventory", inv.len());
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    at: At,

    /// Only this backup (its name).
    #[arg(long, value_name = "NAME", conflicts_with = "until")]
    backup: Option<String>,

    /// Only the chain a restore to this time applies.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,

    /// Sizes and digests only, without decoding the files.
    #[arg(long)]
    quick: bool,

    /// Files checked at once (as-verify -t); 0: one per CPU, at most 8.
    #[arg(short = 't', long, default_value_t = 0)]
    threads: u32,

    /// The key of encrypted backups.
    #[command(flatten)]
    key: crate::keys::KeyArgs,
}

/// as-verify --strict of each backup chosen; a line per backup on stdout; exit 3 when one
/// does not verify.
pub fn verify(a: &VerifyArgs) -> anyhow::Result<()> {
    let cat = a.at.open()?;
    let chosen: Vec<&catalog::Backup> = match (&a.backup, &a.until) {
        (Some(n), _) => vec![cat
            .get(n)
            .ok_or_else(|| Usage(format!("{} holds no backup {n}", cat.root)))?],
        (None, Some(t)) => {
            let t = catalog::parse_time(t).map_err(Usage)?;
            cat.chain(Some(t)).map_err(refusal)?.0
        }
        (None, None) => cat.backups.iter().collect(),
    };
    let place = Place::new(a.at.reader())?;
    let mut failed = 0;
    for b in &chosen {
        let result = match &b.status {
            Status::Complete => verify_one(a, b),
            Status::Incomplete(w) => {
                println!("{} incomplete ({w}): not verified", b.name);
                continue;
            }
            Status::Removing => {
                println!("{} being removed: not verified", b.name);
                continue;
            }
            Status::Damaged(w) => Err(BadInput(w.clone()).into()),
        };
        match result {
            Ok(()) => {
                let note = serde_json::json!({
                    "verified": as_common::manifest::now(),
                    "tool": format!("as-catalog {}", as_common::VERSION),
                    "quick": a.quick,
                });
                place.put(
                    &join(&b.path, catalog::VERIFIED),
                    format!("{note}\n").as_bytes(),
                )?;
                println!("{} verified", b.name);
            }
            Err(e) => {
                failed += 1;
                println!("{} does not verify: {}", b.name, as_cli::io::one_line(&e));
            }
        }
    }
    if failed > 0 {
        return Err(BadInput(format!(
            "{failed} of {} backup(s) do not verify",
            chosen.len()
        ))
        .into());
    }
    Ok(())
}

fn verify_one(a: &VerifyArgs, b: &catalog::Backup) -> anyhow::Result<()> {
    let mut v = crate::verify::Args::try_parse_from(["as-verify", b.path.as_str(), "--strict"])?;
    v.quick = a.quick;
    v.threads = a.threads;
    v.key = a.key.clone();
    v.s3 = a.at.s3.clone();
    v.cloud = a.at.cloud.clone();
    crate::verify::run(v)
}

/// When `t` was, for a person.
pub fn ago(t: DateTime<Utc>) -> String {
    let s = (Utc::now() - t).num_seconds().max(0) as u64;
    humantime::format_duration(std::time::Duration::from_secs(s)).to_string()
}
