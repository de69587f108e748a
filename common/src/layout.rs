//! The names of a backup's files, defined once for every tool that writes, resumes or cleans a
//! backup (as-split, and as-scan and the wrapper through them).
//!
//! A directory backup holds `PREFIX_NNNNN.asb` (asbackup's names), each written first as
//! `.PREFIX_NNNNN.asb.partial`; until it completes, `PREFIX.asb.incomplete` says it is not a
//! backup to restore, and `PREFIX.asb.state` is what `--continue` resumes from. A single-file
//! backup FILE is written as `FILE.partial`, its state kept in `FILE.state`. Which files of a
//! directory make a backup is [`crate::backup::DirLayout`]'s to say.

use std::path::{Path, PathBuf};

/// Suffix of a backup file.
pub const ASB: &str = ".asb";
/// Suffix of a file being written, renamed away once it is complete.
pub const PARTIAL: &str = ".partial";
/// Suffix of a single file's state.
pub const STATE: &str = ".state";
/// Suffix of a directory's default state file (`PREFIX.asb.state`).
pub const DIR_STATE: &str = ".asb.state";
/// Suffix of the marker of an unfinished directory backup (`PREFIX.asb.incomplete`).
pub const INCOMPLETE: &str = ".asb.incomplete";

/// `PREFIX_NNNNN.asb`: the name of file `n` of a directory backup.
pub fn file_name(prefix: &str, n: u64) -> String {
    format!("{prefix}_{n:05}{ASB}")
}

/// `.NAME.partial`: where the file `name` of a directory is written until it is complete.
pub fn partial_name(name: &str) -> String {
    format!(".{name}{PARTIAL}")
}

/// Whether `name` is a partial file of a backup with this prefix.
pub fn is_partial_of(name: &str, prefix: &str) -> bool {
    name.starts_with(&format!(".{prefix}_")) && name.ends_with(&format!("{ASB}{PARTIAL}"))
}

/// `DIR/PREFIX.asb.state`: the default state file of a directory backup.
pub fn dir_state(dir: &Path, prefix: &str) -> PathBuf {
    dir.join(format!("{prefix}{DIR_STATE}"))
}

/// `DIR/PREFIX.asb.incomplete`.
pub fn incomplete_marker(dir: &Path, prefix: &str) -> PathBuf {
    dir.join(format!("{prefix}{INCOMPLETE}"))
}

/// `path` with `suffix` added to its name (FILE.partial, FILE.state).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(file_name("test", 7), "test_00007.asb");
        assert_eq!(partial_name("test_00007.asb"), ".test_00007.asb.partial");
        assert!(is_partial_of(".test_00007.asb.partial", "test"));
        assert!(!is_partial_of(".other_00007.asb.partial", "test"));
        assert_eq!(dir_state(Path::new("d"), "ns"), Path::new("d/ns.asb.state"));
        assert_eq!(
            with_suffix(Path::new("b.asb"), STATE),
            Path::new("b.asb.state")
        );
    }
}
