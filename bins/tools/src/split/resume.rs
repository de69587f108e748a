//! Starting a backup fresh or from its state, and clearing a directory's backup files: what
//! belongs to a backup is what the readers take for one ([`DirLayout`]).

use super::landing::Landing;
use super::Args;
use anyhow::{bail, Context};
use as_common::backup::{DirLayout, LocalStorage};
use as_common::layout;
use as_common::state::BackupState;
use as_common::stream::Header;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// The files of the backup in `dir`, or (with `prefix`) of the backup with that prefix.
pub fn backup_files(dir: &Path, prefix: Option<&str>) -> anyhow::Result<Vec<PathBuf>> {
    let d = dir
        .to_str()
        .with_context(|| format!("{} is not a UTF-8 path", dir.display()))?;
    let l = DirLayout::read(d, &LocalStorage)?;
    Ok(l.names(prefix).into_iter().map(|n| dir.join(n)).collect())
}

pub fn remove_all(files: &[PathBuf]) -> anyhow::Result<()> {
    for f in files {
        std::fs::remove_file(f).with_context(|| format!("cannot remove {}", f.display()))?;
    }
    Ok(())
}

/// Removes the hidden `.PREFIX_NNNNN.asb.partial` files a killed run left (no backup's files,
/// so [`DirLayout`] does not list them).
pub fn remove_partials(dir: &Path, prefix: &str) -> anyhow::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if layout::is_partial_of(&name, prefix) {
            std::fs::remove_file(dir.join(&name))?;
        }
    }
    Ok(())
}

/// `--remove-artifacts`: deletes the backup's files (of a directory, or the one file).
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
        let files = backup_files(dir, None)?;
        remove_all(&files)?;
        // Like asbackup: the directory goes too once nothing else is in it.
        let _ = std::fs::remove_dir(dir);
        if args.verbose {
            tracing::info!(
                "removed {} backup file(s) from {}",
                files.len(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// Loads the state to resume from; the landing clears what the interrupted run may have left
/// half-made.
pub fn resume(
    path: &Path,
    landing: &mut dyn Landing,
    header: &Header,
    prefix: &str,
) -> anyhow::Result<(BackupState, VecDeque<u64>)> {
    let mut st = BackupState::load(path)?;
    let ns = namespace(header);
    if st.namespace != ns
        || st.prefix != prefix
        || st.scope != header.scope
        || st.kind != landing.kind()
    {
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
    let reuse = landing.resume(&mut st)?;
    Ok((st, reuse))
}

/// A new backup: the landing refuses to overwrite one already there unless -r; starts its
/// state.
pub fn fresh(
    args: &Args,
    landing: &mut dyn Landing,
    header: &Header,
    prefix: &str,
) -> anyhow::Result<(BackupState, VecDeque<u64>)> {
    let shard = header
        .origin
        .as_ref()
        .is_some_and(|o| o.scope.shard.is_some());
    landing.fresh(args.remove_files, shard)?;
    let mut st = BackupState::new(&namespace(header), prefix, &header.scope);
    st.kind = landing.kind();
    Ok((st, VecDeque::new()))
}

/// The namespace the stream's header names, as the state keeps it.
fn namespace(header: &Header) -> String {
    String::from_utf8_lossy(header.namespace.as_deref().unwrap_or_default()).into_owned()
}
