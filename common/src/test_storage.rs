//! A storage in memory for the library's tests: path → content.

use crate::backup::{Entry, Storage, StorageError};
use std::collections::BTreeMap;

#[derive(Default)]
pub struct Mem(pub BTreeMap<String, Vec<u8>>);

impl Mem {
    pub fn with(files: &[(&str, &str)]) -> Mem {
        Mem(files
            .iter()
            .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
            .collect())
    }

    pub fn put(&mut self, path: &str, content: impl Into<Vec<u8>>) {
        self.0.insert(path.to_string(), content.into());
    }
}

impl Storage for Mem {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        let pre = format!("{}/", dir.trim_end_matches('/'));
        let v: Vec<Entry> = self
            .0
            .iter()
            .filter_map(|(p, c)| {
                let name = p.strip_prefix(&pre)?;
                (!name.contains('/')).then(|| Entry {
                    name: name.to_string(),
                    size: c.len() as u64,
                })
            })
            .collect();
        Ok(v)
    }

    fn read_small(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| StorageError(format!("{path}: no such object")))
    }

    fn is_dir(&self, path: &str) -> bool {
        !self.0.contains_key(path)
    }

    fn dirs(&self, dir: &str) -> Result<Vec<String>, StorageError> {
        let pre = format!("{}/", dir.trim_end_matches('/'));
        let mut v: Vec<String> = self
            .0
            .keys()
            .filter_map(|p| Some(p.strip_prefix(&pre)?.split_once('/')?.0.to_string()))
            .collect();
        v.dedup();
        Ok(v)
    }
}
