//! Which backups of a catalog a retention policy removes. restic's rules choose among the
//! complete backups (`retention`); what they keep keeps its chain back to its full; a backup
//! that is not complete is never counted, and is removed only once it cannot be running.

use super::retention::{self, Policy};
use super::{Backup, Catalog, Status};
use chrono::{DateTime, Utc};

/// How long after its start an incomplete backup may still be running (see [`Catalog::prune`]).
pub const INCOMPLETE_GRACE: chrono::Duration = chrono::Duration::hours(24);

/// What a prune does with one backup, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Keep(Vec<String>),
    Remove(String),
}

impl Verdict {
    pub fn keeps(&self) -> bool {
        matches!(self, Verdict::Keep(_))
    }
}

impl Catalog {
    /// A verdict per backup (in the catalog's order).
    ///
    /// - Complete backups: restic's `forget` rules over their start times; then every backup a
    ///   kept incremental depends on (its parent, back to the full) is kept too.
    /// - Incomplete backups: kept while they may still be running, which is known from two
    ///   facts, both needed to remove one: a backup started after it has completed (a
    ///   schedule runs one backup of a catalog at a time), and it started more than `grace`
    ///   before `now`. `remove_incomplete: false` keeps them all.
    /// - A backup half removed by an earlier prune is removed; a damaged one is kept for a
    ///   person to look at.
    pub fn prune(
        &self,
        policy: &Policy,
        now: DateTime<Utc>,
        grace: chrono::Duration,
        remove_incomplete: bool,
    ) -> Vec<Verdict> {
        let complete: Vec<usize> = (0..self.backups.len())
            .filter(|&i| self.backups[i].is_complete())
            .collect();
        let times: Vec<DateTime<Utc>> = complete.iter().map(|&i| self.backups[i].time).collect();
        let decided = retention::apply(&times, policy);
        let mut verdicts: Vec<Verdict> = self
            .backups
            .iter()
            .map(|b| match &b.status {
                Status::Complete => Verdict::Remove("no rule keeps it".into()),
                Status::Removing => Verdict::Remove("a prune began removing it".into()),
                Status::Damaged(why) => Verdict::Keep(vec![format!(
                    "damaged ({why}): left for a person to look at"
                )]),
                Status::Incomplete(_) => incomplete(self, b, now, grace, remove_incomplete),
            })
            .collect();
        for (k, &i) in complete.iter().enumerate() {
            if !decided[k].is_empty() {
                verdicts[i] = Verdict::Keep(decided[k].iter().map(|r| r.to_string()).collect());
            }
        }
        // The chains of what is kept: newest first, so that a dependency is seen after the
        // backup that needs it.
        let index: std::collections::HashMap<&str, usize> = self
            .backups
            .iter()
            .enumerate()
            .map(|(i, b)| (b.name.as_str(), i))
            .collect();
        // Whether a backup is needed by a newer kept one (its own chain is then kept already).
        let mut needed = vec![false; self.backups.len()];
        for i in (0..self.backups.len()).rev() {
            if !(verdicts[i].keeps() && self.backups[i].is_complete()) {
                continue;
            }
            let mut b = &self.backups[i];
            while let Some(parent) = b.parent() {
                let Some(&j) = index.get(parent) else {
                    break;
                };
                if needed[j] {
                    break;
                }
                needed[j] = true;
                let why = format!("needed by {}", self.backups[i].name);
                match &mut verdicts[j] {
                    Verdict::Keep(reasons) => reasons.push(why),
                    v => *v = Verdict::Keep(vec![why]),
                }
                b = &self.backups[j];
            }
        }
        verdicts
    }
}

fn incomplete(
    cat: &Catalog,
    b: &Backup,
    now: DateTime<Utc>,
    grace: chrono::Duration,
    remove: bool,
) -> Verdict {
    let later_done = cat
        .backups
        .iter()
        .any(|x| x.time > b.time && x.is_complete());
    let old = now - b.time > grace;
    match (remove, later_done, old) {
        (true, true, true) => Verdict::Remove(format!(
            "incomplete, started more than {} h ago, and a later backup completed",
            grace.num_hours()
        )),
        (false, ..) => Verdict::Keep(vec!["incomplete (--prune-incomplete removes it)".into()]),
        (true, false, _) => Verdict::Keep(vec![
            "incomplete, and no later backup completed: may still be running".into(),
        ]),
        (true, true, false) => Verdict::Keep(vec![format!(
            "incomplete, started less than {} h ago: may still be running",
            grace.num_hours()
        )]),
    }
}
