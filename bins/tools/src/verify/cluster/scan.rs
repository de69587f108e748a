//! The cluster's side: a group's partitions scanned with the scope's filters and one window of
//! last-update times, in-process through as-scan's partition scans (`crate::scan::each`),
//! records handed over one by one.

pub use crate::scan::each::each_record as scan;
use as_common::client::filter::exp;

/// Which records of a window a scan returns, by their last-update time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Before t0: must be in the backup as they are.
    Before,
    /// From t0 on: updated while the backup ran, unless the scan of Since (over the partitions
    /// this one found records in) finds them again.
    During,
    /// From t1: updated or created since.
    Since,
}

impl When {
    /// The expression of the window, with the scope's own filters.
    pub fn filter(self, scope: &[Vec<u8>], t0: i64, t1: i64) -> Vec<u8> {
        let mut parts = scope.to_vec();
        match self {
            When::Before => parts.push(exp::modified_before(t0)),
            When::During => parts.push(exp::modified_after(t0)),
            When::Since => parts.push(exp::modified_after(t1)),
        }
        exp::and(parts).expect("at least the window")
    }
}
