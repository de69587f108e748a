//! The scope of a backup: what a scan covers. Its text form is carried in the stream header
//! and kept in the backup's state, and a resume must describe the same scope: the text is
//! defined here, once.

use crate::client::filter::PartFilter;
use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub namespace: String,
    /// Only these sets (none: all).
    pub sets: Vec<String>,
    /// Only these bins (none: all).
    pub bins: Vec<String>,
    /// Partition filters (none: all 4096 partitions).
    pub partitions: Vec<PartFilter>,
    /// The times as given (`-a`, `-b`): the same text resumes the same scope.
    pub modified_after: Option<String>,
    pub modified_before: Option<String>,
    pub no_ttl_only: bool,
    pub no_bins: bool,
    /// 0: all records.
    pub max_records: u64,
}

impl fmt::Display for Scope {
    /// `namespace=NS [sets=A,B] [bins=X,Y] [partitions=0-10,DIGEST] [modified-after=T]
    /// [modified-before=T] [no-ttl-only] [no-bins] [max-records=N]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "namespace={}", self.namespace)?;
        if !self.sets.is_empty() {
            write!(f, " sets={}", self.sets.join(","))?;
        }
        if !self.bins.is_empty() {
            write!(f, " bins={}", self.bins.join(","))?;
        }
        if !self.partitions.is_empty() {
            let list: Vec<String> = self
                .partitions
                .iter()
                .map(|p| match p {
                    PartFilter::Range { begin, count } => format!("{begin}-{count}"),
                    PartFilter::After(d) => base64_simd::STANDARD.encode_to_string(d),
                })
                .collect();
            write!(f, " partitions={}", list.join(","))?;
        }
        if let Some(t) = &self.modified_after {
            write!(f, " modified-after={t}")?;
        }
        if let Some(t) = &self.modified_before {
            write!(f, " modified-before={t}")?;
        }
        if self.no_ttl_only {
            f.write_str(" no-ttl-only")?;
        }
        if self.no_bins {
            f.write_str(" no-bins")?;
        }
        if self.max_records > 0 {
            write!(f, " max-records={}", self.max_records)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form() {
        let s = Scope {
            namespace: "test".into(),
            sets: vec!["a".into(), "b".into()],
            partitions: vec![PartFilter::Range {
                begin: 0,
                count: 10,
            }],
            no_bins: true,
            max_records: 5,
            ..Default::default()
        };
        assert_eq!(
            s.to_string(),
            "namespace=test sets=a,b partitions=0-10 no-bins max-records=5"
        );
    }
}
