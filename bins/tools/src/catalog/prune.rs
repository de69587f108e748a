//! `as-catalog prune`: the verdicts of `Catalog::prune`, printed, then carried out.

use super::place::Place;
use super::{duration, At};
use as_cli::Usage;
use as_common::backup::join;
use as_common::catalog::retention::{parse_duration, CalendarDuration, Count, Policy};
use as_common::catalog::{self, Verdict};

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    #[command(flatten)]
    at: At,

    /// Keep the N newest backups (-1: all).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    keep_last: Option<Count>,
    /// Keep the newest backup of each of the last N hours that have one (-1: every hour).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    keep_hourly: Option<Count>,
    /// Keep the newest backup of each of the last N days that have one.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    keep_daily: Option<Count>,
    /// Keep the newest backup of each of the last N ISO weeks that have one.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    keep_weekly: Option<Count>,
    /// Keep the newest backup of each of the last N months that have one.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    keep_monthly: Option<Count>,
    /// Keep the newest backup of each of the last N years that have one.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    keep_yearly: Option<Count>,
    /// Keep every backup started within this of the newest (1y2m3d4h, restic's units).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    keep_within: Option<CalendarDuration>,
    /// Keep the newest backup of each hour within this of the newest backup.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    keep_within_hourly: Option<CalendarDuration>,
    /// Keep the newest backup of each day within this of the newest backup.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    keep_within_daily: Option<CalendarDuration>,
    /// Keep the newest backup of each week within this of the newest backup.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    keep_within_weekly: Option<CalendarDuration>,
    /// Keep the newest backup of each month within this of the newest backup.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    keep_within_monthly: Option<CalendarDuration>,
    /// Keep the newest backup of each year within this of the newest backup.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    keep_within_yearly: Option<CalendarDuration>,

    /// Print what would be kept and removed, and remove nothing.
    #[arg(short = 'n', long)]
    dry_run: bool,

    /// Also remove incomplete backups that cannot be running: a later backup has completed
    /// and they started longer ago than --incomplete-grace.
    #[arg(long)]
    prune_incomplete: bool,

    /// How long after its start an incomplete backup may still be running.
    #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "24h")]
    incomplete_grace: std::time::Duration,
}

impl PruneArgs {
    fn policy(&self) -> Policy {
        Policy {
            last: self.keep_last,
            hourly: self.keep_hourly,
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
            yearly: self.keep_yearly,
            within: self.keep_within,
            within_hourly: self.keep_within_hourly,
            within_daily: self.keep_within_daily,
            within_weekly: self.keep_within_weekly,
            within_monthly: self.keep_within_monthly,
            within_yearly: self.keep_within_yearly,
        }
    }
}

pub fn run(a: &PruneArgs) -> anyhow::Result<()> {
    let policy = a.policy();
    if policy.is_empty() {
        // restic's answer too: with no rule, nothing is removed.
        return Err(Usage(
            "no --keep-* rule given: nothing would be removed (say what to keep)".into(),
        )
        .into());
    }
    let cat = a.at.open()?;
    let verdicts = cat.prune(
        &policy,
        chrono::Utc::now(),
        chrono::Duration::from_std(a.incomplete_grace)?,
        a.prune_incomplete,
    );
    let place = Place::new(a.at.reader())?;
    let (mut kept, mut removed) = (0, 0);
    for (b, v) in cat.backups.iter().zip(&verdicts) {
        match v {
            Verdict::Keep(why) => {
                kept += 1;
                println!("keep   {} ({})", b.name, why.join(", "));
            }
            Verdict::Remove(why) => {
                removed += 1;
                println!("remove {} ({why})", b.name);
                if !a.dry_run {
                    remove(&place, b)?;
                }
            }
        }
    }
    let done = if a.dry_run {
        "would be removed"
    } else {
        "removed"
    };
    tracing::info!("{kept} backup(s) kept, {removed} {done}");
    Ok(())
}

/// `as-catalog remove`: one backup, unless another follows it.
pub fn remove_one(at: &At, name: &str, force: bool) -> anyhow::Result<()> {
    let cat = at.open()?;
    let b = cat
        .get(name)
        .ok_or_else(|| Usage(format!("{} holds no backup {name}", cat.root)))?;
    let children: Vec<&str> = cat
        .backups
        .iter()
        .filter(|x| x.parent() == Some(name))
        .map(|x| x.name.as_str())
        .collect();
    if !children.is_empty() && !force {
        return Err(Usage(format!(
            "{name} is the parent of {}: removing it breaks their chains (--force to remove it all the same)",
            children.join(", ")
        ))
        .into());
    }
    remove(&Place::new(at.reader())?, b)
}

/// Removes a backup: the mark that it is being removed first, so that one half removed is
/// never taken for a backup, then its objects, the mark last.
fn remove(place: &Place, b: &catalog::Backup) -> anyhow::Result<()> {
    let mark = join(&b.path, catalog::REMOVING);
    place.put(&mark, b"being removed by as-catalog\n")?;
    for o in b.objects.iter().filter(|o| *o != catalog::REMOVING) {
        place.delete(&join(&b.path, o))?;
    }
    place.delete(&mark)?;
    place.remove_dir(&b.path)
}
