//! Resuming a backup from its state, and clearing a directory's backup files.

use super::dest::Dest;
use super::Args;
use anyhow::{bail, Context};
use as_common::layout;
use as_common::state::{BackupState, Kind};
use as_common::stream::Header;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// The files of a backup in `dir` (see [`layout::is_backup_file`]).
pub fn asb_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let p = e?.path();
        if layout::is_backup_file(&p) {
            v.push(p);
        }
    }
    Ok(v)
}

/// `--remove-artifacts` and `-r`: delete the backup files of a directory.
pub fn remove_asb(dir: &Path) -> anyhow::Result<usize> {
    let files = asb_files(dir)?;
    for f in &files {
        std::fs::remove_file(f).with_context(|| format!("cannot remove {}", f.display()))?;
    }
    Ok(files.len())
}

pub fn remove_artifacts(args: &Args) -> anyhow::Result<()> {
    if let Some(f) = &args.output_file {
        // The one file, what a run left of it, and its state.
        for p in [
            f.clone(),
            layout::with_suffix(f, layout::PARTIAL),
            layout::with_suffix(f, layout::STATE),
        ] {
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot remove {}", p.display()))
                }
                _ => {}
            }
        }
        return Ok(());
    }
    let dir = args
        .directory
        .as_deref()
        .context("--remove-artifacts needs --directory or --output-file")?;
    if dir.is_dir() {
        let n = remove_asb(dir)?;
        // Like asbackup: the directory goes too once nothing else is in it.
        let _ = std::fs::remove_dir(dir);
        if args.verbose {
            eprintln!(
                "as-split: removed {n} backup file(s) from {}",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Loads the state to resume from and clears what the interrupted run may have left half-made.
/// `dest` is `None` for the one file, which is opened once the state says where it ends.
pub fn resume(
    path: &Path,
    dest: Option<&Dest>,
    header: &Header,
    prefix: &str,
) -> anyhow::Result<(BackupState, VecDeque<u64>)> {
    let mut st = BackupState::load(path)?;
    let ns = namespace(header);
    let kind = kind_of(dest);
    if st.namespace != ns || st.prefix != prefix || st.scope != header.scope || st.kind != kind {
        bail!(
            "{} is the state of another backup ({} of namespace {} into a {} with prefix {}); resume with the same options",
            path.display(),
            st.scope,
            st.namespace,
            st.kind,
            st.prefix
        );
    }
    st.resumes += 1;
    let mut reuse = VecDeque::new();
    match dest {
        Some(Dest::Dir(dir)) => {
            for n in std::mem::take(&mut st.open) {
                let _ = std::fs::remove_file(dir.join(layout::file_name(prefix, n)));
            }
            for e in std::fs::read_dir(dir)? {
                let name = e?.file_name().to_string_lossy().into_owned();
                if layout::is_partial_of(&name, prefix) {
                    std::fs::remove_file(dir.join(&name))?;
                }
            }
        }
        // A sink may have completed a file whose commit was never recorded: the same names
        // are written again, so nothing is left twice.
        Some(Dest::Sink { .. }) => {
            st.open.sort_unstable();
            reuse.extend(st.open.iter().copied());
        }
        // The one file is cut back to its last checkpoint when it is opened.
        Some(Dest::File(_)) | None => st.open.clear(),
    }
    Ok((st, reuse))
}

/// A new backup: refuses to overwrite one already there unless -r, and starts its state.
pub fn fresh(
    args: &Args,
    dest: Option<&Dest>,
    header: &Header,
    prefix: &str,
) -> anyhow::Result<(BackupState, VecDeque<u64>)> {
    if let Some(f) = &args.output_file {
        if f.exists() {
            if !args.remove_files {
                bail!(
                    "output file {} already exists; use -r to overwrite it",
                    f.display()
                );
            }
            std::fs::remove_file(f).with_context(|| format!("cannot remove {}", f.display()))?;
        }
    }
    if let Some(Dest::Dir(dir)) = dest {
        let mut there = asb_files(dir)?;
        if as_common::shards::Manifest::is_shard(&header.scope) {
            // The shards of a backup share a directory: a shard minds only its own files.
            there.retain(|p| {
                let name = p.file_name().unwrap_or_default().to_string_lossy();
                name.starts_with(&format!("{prefix}_")) || name.starts_with(&format!("{prefix}."))
            });
            let manifest = dir.join(format!("{prefix}{}", as_common::shards::SUFFIX));
            if manifest.exists() {
                there.push(manifest);
            }
        }
        if !there.is_empty() {
            if !args.remove_files {
                bail!(
                    "directory {} seems to contain an existing backup; use -r to clear it, or --continue to resume it",
                    dir.display()
                );
            }
            for f in &there {
                std::fs::remove_file(f)
                    .with_context(|| format!("cannot remove {}", f.display()))?;
            }
        }
    }
    let ns = namespace(header);
    let mut st = BackupState::new(&ns, prefix, &header.scope);
    st.kind = kind_of(dest);
    Ok((st, VecDeque::new()))
}

/// What the state records the backup is written into: `None` is the one file, whose `Dest` is
/// made once the state says where it ends.
fn kind_of(dest: Option<&Dest>) -> Kind {
    dest.map_or(Kind::File, Dest::kind)
}

/// The namespace the stream's header names, as the state keeps it.
fn namespace(header: &Header) -> String {
    String::from_utf8_lossy(header.namespace.as_deref().unwrap_or_default()).into_owned()
}
