//! The record frame's payload, written and read with `rmp` directly.
//!
//! Records are most of a stream, and serde's generic path costs more than the ASB encoding
//! itself. These functions produce exactly the bytes `rmp_serde` writes for [`Record`] (a test
//! checks it) and read them back borrowing every byte field from the frame buffer.

use crate::record::{Bin, Record, Value, DIGEST_LEN};
use rmp::encode;
use std::borrow::Cow;

/// Number of fields of a record, in [`Record`]'s declaration order.
const RECORD_FIELDS: u32 = 7;

const VEC_WRITE: &str = "writing to a Vec cannot fail";

fn value(out: &mut Vec<u8>, v: &Value) {
    encode::write_array_len(out, 2).expect(VEC_WRITE);
    encode::write_uint(out, v.ptype as u64).expect(VEC_WRITE);
    encode::write_bin(out, &v.data).expect(VEC_WRITE);
}

pub(super) fn write(out: &mut Vec<u8>, r: &Record) {
    encode::write_array_len(out, RECORD_FIELDS).expect(VEC_WRITE);
    encode::write_bin(out, &r.namespace).expect(VEC_WRITE);
    match &r.set {
        Some(s) => encode::write_bin(out, s).expect(VEC_WRITE),
        None => encode::write_nil(out).expect(VEC_WRITE),
    }
    encode::write_bin(out, &r.digest).expect(VEC_WRITE);
    match &r.key {
        Some(k) => value(out, k),
        None => encode::write_nil(out).expect(VEC_WRITE),
    }
    encode::write_uint(out, r.generation as u64).expect(VEC_WRITE);
    encode::write_uint(out, r.expiry as u64).expect(VEC_WRITE);
    encode::write_array_len(out, r.bins.len() as u32).expect(VEC_WRITE);
    for b in &r.bins {
        encode::write_array_len(out, 2).expect(VEC_WRITE);
        encode::write_bin(out, &b.name).expect(VEC_WRITE);
        value(out, &b.value);
    }
}

/// A cursor over a payload; an error names the field that is malformed (kept small: this is
/// the hot path of every consumer).
struct Cur<'a>(&'a [u8]);

type Res<T> = Result<T, &'static str>;

impl<'a> Cur<'a> {
    #[inline]
    fn array(&mut self, want: Option<u32>, what: &'static str) -> Res<u32> {
        let n = rmp::decode::read_array_len(&mut self.0).map_err(|_| what)?;
        match want {
            Some(w) if w != n => Err(what),
            _ => Ok(n),
        }
    }

    #[inline]
    fn bytes(&mut self, what: &'static str) -> Res<&'a [u8]> {
        let n = rmp::decode::read_bin_len(&mut self.0).map_err(|_| what)? as usize;
        if n > self.0.len() {
            return Err(what);
        }
        let (v, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(v)
    }

    /// Consumes a nil and returns true, or returns false leaving the value in place.
    fn nil(&mut self) -> bool {
        if self.0.first() == Some(&0xc0) {
            self.0 = &self.0[1..];
            true
        } else {
            false
        }
    }

    #[inline]
    fn uint<T: TryFrom<u64>>(&mut self, what: &'static str) -> Res<T> {
        let v: u64 = rmp::decode::read_int(&mut self.0).map_err(|_| what)?;
        T::try_from(v).map_err(|_| what)
    }

    #[inline]
    fn value(&mut self, what: &'static str) -> Res<Value<'a>> {
        self.array(Some(2), what)?;
        let ptype = self.uint::<u8>(what)?;
        let data = self.bytes(what)?;
        Ok(Value::new(ptype, data))
    }
}

/// The digest field of a record payload, skipping the namespace and set.
pub(super) fn digest(payload: &[u8]) -> Option<[u8; DIGEST_LEN]> {
    let mut c = Cur(payload);
    c.array(Some(RECORD_FIELDS), "record").ok()?;
    c.bytes("namespace").ok()?;
    if !c.nil() {
        c.bytes("set").ok()?;
    }
    c.bytes("digest").ok()?.try_into().ok()
}

pub(super) fn read(payload: &[u8]) -> Res<Record<'_>> {
    let mut c = Cur(payload);
    c.array(Some(RECORD_FIELDS), "record")?;
    let namespace = c.bytes("namespace")?;
    let set = if c.nil() {
        None
    } else {
        Some(Cow::Borrowed(c.bytes("set")?))
    };
    let digest: [u8; DIGEST_LEN] = c.bytes("digest")?.try_into().map_err(|_| "digest")?;
    let key = if c.nil() { None } else { Some(c.value("key")?) };
    let generation = c.uint::<u16>("generation")?;
    let expiry = c.uint::<u32>("expiry")?;
    let n = c.array(None, "bins")? as usize;
    // Each bin takes at least 5 bytes: do not let a corrupt count reserve more than that.
    let mut bins = Vec::with_capacity(n.min(c.0.len() / 5));
    for _ in 0..n {
        c.array(Some(2), "bin")?;
        let name = c.bytes("bin name")?;
        let value = c.value("bin value")?;
        bins.push(Bin {
            name: Cow::Borrowed(name),
            value,
        });
    }
    if !c.0.is_empty() {
        return Err("bytes after the record");
    }
    Ok(Record {
        namespace: Cow::Borrowed(namespace),
        set,
        digest,
        key,
        generation,
        expiry,
        bins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::Generator;

    #[test]
    fn same_bytes_as_rmp_serde_and_reads_both() {
        let mut g = Generator::new(11, b"ns");
        for i in 0..3000 {
            let mut r = g.record();
            if i % 7 == 0 {
                r.generation = u16::MAX;
                r.expiry = u32::MAX;
                r.bins.clear();
            }
            let serde = rmp_serde::to_vec(&r).unwrap();
            let mut ours = Vec::new();
            write(&mut ours, &r);
            assert_eq!(ours, serde, "record {i}");
            assert_eq!(read(&ours).unwrap(), r);
            let via_serde: Record = rmp_serde::from_slice(&ours).unwrap();
            assert_eq!(via_serde, r);
        }
    }

    #[test]
    fn rejects_malformed_payloads() {
        let mut g = Generator::new(12, b"ns");
        let mut good = Vec::new();
        write(&mut good, &g.record());
        for n in 0..good.len() {
            assert!(read(&good[..n]).is_err(), "cut at {n}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(read(&extra).is_err());
    }
}
