//! Writes packed for their hand-overs between threads: the records' bytes back to back in one
//! buffer that goes back to be filled again ([`as_common::spares`]), where each record had a
//! buffer of its own, filled on a reading thread and freed on a writing one.

use as_common::spares::Reuse;

/// One record's write, as [`Items`] hold it.
#[derive(Clone, Copy)]
pub struct Item<'a> {
    pub digest: &'a [u8; 20],
    /// A batch row without its index, or a whole single-write request.
    pub bytes: &'a [u8],
    /// A delete (--delete-absent): done when the record is gone, whether or not it was there.
    pub delete: bool,
}

#[derive(Clone)]
struct Entry {
    digest: [u8; 20],
    /// Where its bytes are in the buffer.
    start: usize,
    end: usize,
    delete: bool,
}

/// Writes in order, their bytes in one buffer.
#[derive(Default, Clone)]
pub struct Items {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

impl Items {
    /// Appends a write whose bytes `encode` appends to the buffer it is given.
    pub fn push_with(&mut self, digest: [u8; 20], delete: bool, encode: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        encode(&mut self.bytes);
        self.entries.push(Entry {
            digest,
            start,
            end: self.bytes.len(),
            delete,
        });
    }

    pub fn push(&mut self, item: Item) {
        self.push_with(*item.digest, item.delete, |b| {
            b.extend_from_slice(item.bytes)
        });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every write's bytes back to back: pipelined single writes, as they are sent.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Item<'_>> + Clone {
        self.entries.iter().map(|e| Item {
            digest: &e.digest,
            bytes: &self.bytes[e.start..e.end],
            delete: e.delete,
        })
    }
}

impl Reuse for Items {
    fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_keep_each_write_whole_and_in_order() {
        let mut items = Items::default();
        items.push_with([1; 20], false, |b| b.extend_from_slice(b"first"));
        items.push_with([2; 20], true, |_| {});
        items.push(Item {
            digest: &[3; 20],
            bytes: b"third",
            delete: false,
        });
        let got: Vec<_> = items
            .iter()
            .map(|i| (i.digest[0], i.bytes.to_vec(), i.delete))
            .collect();
        assert_eq!(
            got,
            [
                (1, b"first".to_vec(), false),
                (2, Vec::new(), true),
                (3, b"third".to_vec(), false)
            ]
        );
        assert_eq!(items.bytes(), b"firstthird");
        items.clear();
        assert!(items.is_empty() && items.bytes().is_empty() && items.iter().len() == 0);
    }
}
