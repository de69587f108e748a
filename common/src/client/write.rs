//! Record writes as asrestore sends them: batches (server-behaviours S14,
//! `tests/data/wire/asrestore-batch/batch-writes`: one message with info1=BATCH and one BATCH
//! field holding a row per record, the answer a message per row) and single writes
//! (server-behaviours S12, `no-batch-writes`). The start of the
//! restore direction (issue 11): requests are built byte for byte as the captures show them, for
//! asrestore's default policy (update, generation greater-than). The other policies (-u, -r, -g)
//! are not captured: their bits are those the C client sets for them (`as_batch_attr_write_row`
//! and `as_command_write_header_write` in aerospike-client-c): create-only is info2 CREATE_ONLY,
//! replace is info3 CREATE_OR_REPLACE, and without a generation check the generation sent is 0.

use crate::record::Record;
use crate::wire::msg::{put_field, put_op, Msg, MsgHeader, MsgWriter, HEADER_SIZE};
use crate::wire::{field, flags, op, WireError};

/// info1 bit of a batch request.
pub const INFO1_BATCH: u8 = 1 << 3;
/// The field that carries the rows.
pub const FIELD_BATCH: u8 = 41;
/// The batch's parent flags as asrestore sent them (0x0d); their meaning is not in the captures.
const PARENT_FLAGS: u8 = 0x0d;
/// Each row repeats nothing and carries extra info, a generation and a TTL (0x0e,
/// server-behaviours S14).
const ROW_FLAGS: u8 = 0x0e;

/// What a write does when the record exists (asrestore: default, `-u`, `-r`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Exists {
    /// Write the bins into the record (bins it has and the backup lacks stay).
    #[default]
    Update,
    /// Fail with KEY_EXISTS (`-u/--unique`).
    CreateOnly,
    /// Replace the record by the backup's (`-r/--replace`).
    Replace,
}

/// asrestore's write policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub exists: Exists,
    /// Write only over an older generation (the default; off with `-g/--no-generation`).
    pub generation_gt: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            exists: Exists::Update,
            generation_gt: true,
        }
    }
}

impl Policy {
    /// info2 and info3 of a write; batch rows add RESPOND_ALL_OPS, as the C client does.
    fn info(&self) -> (u8, u8) {
        let mut info2 = flags::INFO2_WRITE;
        let mut info3 = 0;
        if self.generation_gt {
            info2 |= flags::INFO2_GENERATION_GT;
        }
        match self.exists {
            Exists::Update => {}
            Exists::CreateOnly => info2 |= flags::INFO2_CREATE_ONLY,
            Exists::Replace => info3 |= flags::INFO3_CREATE_OR_REPLACE,
        }
        (info2, info3)
    }

    /// The generation sent: the backup's with the check, else 0.
    fn generation(&self, r: &Record) -> u16 {
        if self.generation_gt {
            r.generation
        } else {
            0
        }
    }
}

/// A record to write and the TTL to give it (remaining seconds; `u32::MAX`: never expires).
pub struct Row<'r> {
    pub record: &'r Record<'r>,
    pub ttl: u32,
}

/// The request (proto header included) writing `rows` into namespace `ns`; `timeout_ms` goes
/// into the message header's transaction TTL, as asrestore's 10000.
pub fn write_request(ns: &[u8], rows: &[Row], timeout_ms: u32, policy: &Policy) -> Vec<u8> {
    let encoded: Vec<Vec<u8>> = rows
        .iter()
        .map(|row| {
            let mut b = Vec::new();
            encode_row(&mut b, ns, row, policy);
            b
        })
        .collect();
    let mut w = MsgWriter::new();
    batch_request(&mut w, encoded.iter().map(Vec::as_slice), timeout_ms);
    w.buf
}

/// A batch request made of rows from [`encode_row`], numbered in order.
pub fn batch_request<'w, 'a>(
    w: &'w mut MsgWriter,
    rows: impl ExactSizeIterator<Item = &'a [u8]> + Clone,
    timeout_ms: u32,
) -> &'w [u8] {
    // The field: the row count, the parent flags, then each row after its index; built in
    // place, in `w`'s buffer, which a caller reuses from one request to the next.
    let data_len = 5 + rows.clone().map(|r| 4 + r.len()).sum::<usize>();
    w.begin_proto();
    w.buf.reserve(HEADER_SIZE + 5 + data_len);
    w.message(&MsgHeader {
        info1: INFO1_BATCH,
        timeout: timeout_ms,
        ..Default::default()
    });
    w.field_with(FIELD_BATCH, data_len, |data| {
        data.extend_from_slice(&(rows.len() as u32).to_be_bytes());
        data.push(PARENT_FLAGS);
        for (i, row) in rows.enumerate() {
            data.extend_from_slice(&(i as u32).to_be_bytes());
            data.extend_from_slice(row);
        }
    });
    w.finish()
}

/// TTL meaning "never expires" in a write.
pub const TTL_NEVER: u32 = u32::MAX;

/// The TTL to restore a record with, as asrestore computes it (docs/asb-format.md#expiry): a
/// backup's expiry 0 never expires; otherwise the seconds left from `now` (both since the
/// Citrusleaf epoch) plus `extra_ttl`. `None`: the record has expired, and is skipped and counted.
pub fn restore_ttl(expiry: u32, now: u32, extra_ttl: i64) -> Option<u32> {
    if expiry == 0 {
        return Some(TTL_NEVER);
    }
    let left = i64::from(expiry) - i64::from(now) + extra_ttl;
    // TTL_NEVER itself would mean "never": the longest finite TTL is one less.
    (left > 0).then(|| left.min(i64::from(TTL_NEVER - 1)) as u32)
}

/// One record written by itself (asrestore `--disable-batch-writes`, server-behaviours S12):
/// WRITE | GENERATION_GT with the record's generation, fields NAMESPACE, SET, DIGEST and KEY
/// (when stored), a WRITE op per bin.
pub fn single_write_request(ns: &[u8], row: &Row, timeout_ms: u32, policy: &Policy) -> Vec<u8> {
    let r = row.record;
    let (info2, info3) = policy.info();
    let mut w = MsgWriter::new();
    w.begin_proto();
    w.message(&MsgHeader {
        info2,
        info3,
        generation: policy.generation(r).into(),
        ttl: row.ttl,
        timeout: timeout_ms,
        ..Default::default()
    });
    w.field(field::NAMESPACE, ns);
    w.field(field::SET, r.set.as_deref().unwrap_or_default());
    w.field(field::DIGEST, &r.digest);
    if let Some(k) = &r.key {
        w.field_parts(field::KEY, &[&[k.ptype], &k.data]);
    }
    for bin in &r.bins {
        w.op(
            op::WRITE,
            bin.value.ptype,
            &bin.name,
            &wire_value(&bin.value),
        );
    }
    w.finish().to_vec()
}

/// A record deleted by its digest (restore to a point in time with --delete-absent): a write
/// with DELETE and no op, as the official clients' batch and single deletes send it (C
/// `as_batch_remove_record`, Java `BatchDelete`: WRITE | DELETE, fields NAMESPACE and SET).
pub fn encode_delete_row(b: &mut Vec<u8>, ns: &[u8], set: Option<&[u8]>, digest: &[u8; 20]) {
    b.extend_from_slice(digest);
    let info2 = flags::INFO2_WRITE | flags::INFO2_DELETE | flags::INFO2_RESPOND_ALL_OPS;
    b.extend_from_slice(&[ROW_FLAGS, 0, info2, 0]);
    b.extend_from_slice(&0u16.to_be_bytes());
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&2u16.to_be_bytes());
    b.extend_from_slice(&0u16.to_be_bytes());
    put_field(b, field::NAMESPACE, &[ns]);
    put_field(b, field::SET, &[set.unwrap_or_default()]);
}

/// [`encode_delete_row`] as a request of its own (no batch writes).
pub fn single_delete_request(
    ns: &[u8],
    set: Option<&[u8]>,
    digest: &[u8; 20],
    timeout_ms: u32,
) -> Vec<u8> {
    let mut w = MsgWriter::new();
    w.begin_proto();
    w.message(&MsgHeader {
        info2: flags::INFO2_WRITE | flags::INFO2_DELETE,
        timeout: timeout_ms,
        ..Default::default()
    });
    w.field(field::NAMESPACE, ns);
    w.field(field::SET, set.unwrap_or_default());
    w.field(field::DIGEST, digest);
    w.finish().to_vec()
}

/// What the server answered for one row: the row's index (sent back in the transaction TTL),
/// the result code and the record's generation after the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowResult {
    pub index: u32,
    pub result: u8,
    pub generation: u32,
}

/// The rows answered in one reply proto's body, and whether it was the LAST message (which
/// asrestore's server sent in a proto of its own, after the rows: server-behaviours S14).
pub fn row_results(body: &[u8]) -> Result<(Vec<RowResult>, bool), WireError> {
    let (mut rows, mut last) = (Vec::new(), false);
    let mut b = body;
    while !b.is_empty() {
        let (m, n) = Msg::parse(b)?;
        b = &b[n..];
        if m.header.info3 & flags::INFO3_LAST != 0 {
            last = true;
            break;
        }
        rows.push(RowResult {
            index: m.header.timeout,
            result: m.header.result,
            generation: m.header.generation,
        });
    }
    Ok((rows, last))
}

/// A bin's value as a write carries it. Streams keep a GeoJSON value's text only (as backups
/// do, [`super::scan::geojson_text`]); on the wire it follows a flags byte and a count of cell
/// ids, both 0 from a client (the C client's `as_command_write_bin`).
fn wire_value<'v>(v: &'v crate::record::Value) -> std::borrow::Cow<'v, [u8]> {
    if v.ptype == crate::record::particle::GEOJSON {
        let mut b = vec![0u8, 0, 0];
        b.extend_from_slice(&v.data);
        b.into()
    } else {
        std::borrow::Cow::Borrowed(&v.data)
    }
}

/// What a write's result means for a restore, as asrestore classes it (`batch_uploader.c`,
/// `_categorize_write_result` and `_batch_status_submit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Inserted,
    /// KEY_EXISTS under `--unique`: counted, not a failure.
    Existed,
    /// GENERATION: the cluster's copy is as new or newer; counted, not a failure.
    Fresher,
    /// The record itself cannot be written (too big, bin name, bin type, forbidden, key
    /// mismatch): fatal unless `--ignore-record-error`.
    RecordError,
    /// The server refuses writes as such (parameter, namespace, unsupported, security, ...):
    /// retrying cannot help.
    Fatal,
    /// Anything else (timeouts, overload, key busy, partition unavailable, server error): retry.
    Retry,
}

pub fn outcome(code: u8) -> Outcome {
    match code {
        0 => Outcome::Inserted,
        3 => Outcome::Fresher,
        5 => Outcome::Existed,
        // RECORD_TOO_BIG, RECORD_KEY_MISMATCH, BIN_NAME, ALWAYS_FORBIDDEN, FAIL_FORBIDDEN,
        // BIN_INCOMPATIBLE_TYPE, BIN_NOT_FOUND.
        13 | 19 | 21 | 10 | 22 | 12 | 17 => Outcome::RecordError,
        // PARAM, SERVER_FULL, UNSUPPORTED_FEATURE, NAMESPACE_NOT_FOUND, ENTERPRISE_ONLY,
        // OP_NOT_APPLICABLE, FILTERED_OUT, the security codes (51-56, 60-82), invalid GeoJSON,
        // index out of memory / not readable, batch disabled.
        4 | 8 | 16 | 20 | 25 | 26 | 27 | 51..=56 | 60..=82 | 150 | 160 | 202 | 203 => {
            Outcome::Fatal
        }
        _ => Outcome::Retry,
    }
}

/// One batch row (everything after its index): the digest, the row flags, the policy's bits,
/// generation and TTL, the fields and a WRITE op per bin.
pub fn encode_row(b: &mut Vec<u8>, ns: &[u8], row: &Row, policy: &Policy) {
    let r = row.record;
    // The row's size, reserved at once (not grown, and copied, bin by bin): header, fields
    // (size and type, then the data) and ops (size, op, type, flags, name length; a GeoJSON
    // value takes 3 bytes more).
    let fields = [ns.len(), r.set.as_deref().map_or(0, <[u8]>::len)]
        .into_iter()
        .chain(r.key.as_ref().map(|k| 1 + k.data.len()))
        .map(|len| 5 + len);
    let ops = r
        .bins
        .iter()
        .map(|bin| 8 + bin.name.len() + bin.value.data.len() + 3);
    b.reserve(34 + fields.chain(ops).sum::<usize>());
    let (info2, info3) = policy.info();
    b.extend_from_slice(&r.digest);
    b.extend_from_slice(&[ROW_FLAGS, 0, info2 | flags::INFO2_RESPOND_ALL_OPS, info3]);
    b.extend_from_slice(&policy.generation(r).to_be_bytes());
    b.extend_from_slice(&row.ttl.to_be_bytes());
    let n_fields = 2 + r.key.is_some() as u16;
    b.extend_from_slice(&n_fields.to_be_bytes());
    b.extend_from_slice(&(r.bins.len() as u16).to_be_bytes());
    put_field(b, field::NAMESPACE, &[ns]);
    // A record of no set goes with an empty SET field (server-behaviours S12).
    put_field(b, field::SET, &[r.set.as_deref().unwrap_or_default()]);
    if let Some(k) = &r.key {
        put_field(b, field::KEY, &[&[k.ptype], &k.data]);
    }
    for bin in &r.bins {
        put_op(
            b,
            op::WRITE,
            bin.value.ptype,
            &bin.name,
            &wire_value(&bin.value),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Bin, Value};

    #[test]
    fn ttls_as_asrestore_restores_them() {
        assert_eq!(restore_ttl(0, 1000, 0), Some(TTL_NEVER));
        assert_eq!(
            restore_ttl(0, 1000, 50),
            Some(TTL_NEVER),
            "never stays never"
        );
        assert_eq!(restore_ttl(5000, 1000, 0), Some(4000));
        assert_eq!(restore_ttl(5000, 1000, 100), Some(4100));
        assert_eq!(restore_ttl(5000, 1000, -4000), None, "0 left: expired");
        assert_eq!(restore_ttl(900, 1000, 0), None);
        assert_eq!(
            restore_ttl(900, 1000, 200),
            Some(100),
            "--extra-ttl revives"
        );
        assert_eq!(restore_ttl(u32::MAX, 0, i64::MAX / 2), Some(TTL_NEVER - 1));
    }

    /// The captured answer: 70 rows in order, each with its index, then LAST on its own.
    #[test]
    fn the_captured_answer_is_read_row_by_row() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/wire/asrestore-batch/batch-writes/conn-15.s2c"
        );
        let mut r = &std::fs::read(path).expect("the asrestore-batch capture")[..];
        let mut body = Vec::new();
        crate::wire::read_proto(&mut r, &mut body).unwrap();
        let (rows, last) = row_results(&body).unwrap();
        assert!(!last);
        assert_eq!(rows.len(), 70);
        for (i, row) in rows.iter().enumerate() {
            assert_eq!((row.index, row.result, row.generation), (i as u32, 0, 1));
        }
        crate::wire::read_proto(&mut r, &mut body).unwrap();
        assert_eq!(row_results(&body).unwrap(), (vec![], true));
        assert!(r.is_empty());
    }

    /// Every single write asrestore --disable-batch-writes sent is rebuilt byte for byte.
    #[test]
    fn the_captured_single_writes_are_rebuilt_byte_for_byte() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/wire/asrestore-batch/no-batch-writes"
        );
        let mut writes = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if !path.to_string_lossy().ends_with(".c2s") {
                continue;
            }
            let capture = std::fs::read(&path).unwrap();
            let mut r = &capture[..];
            let mut body = Vec::new();
            if crate::wire::read_proto(&mut r, &mut body).unwrap() != crate::wire::TYPE_MSG {
                continue; // info and login
            }
            let (m, _) = Msg::parse(&body).unwrap();
            if m.header.info2 & flags::INFO2_WRITE == 0 {
                continue;
            }
            let get = |t: u8| m.fields.iter().find(|f| f.ftype == t).map(|f| f.data);
            let record = Record {
                namespace: get(field::NAMESPACE).unwrap().to_vec().into(),
                set: get(field::SET)
                    .filter(|s| !s.is_empty())
                    .map(|s| s.to_vec().into()),
                digest: get(field::DIGEST).unwrap().try_into().unwrap(),
                key: get(field::KEY).map(|k| Value::new(k[0], k[1..].to_vec())),
                generation: m.header.generation as u16,
                expiry: 0,
                bins: m
                    .ops
                    .iter()
                    .map(|o| Bin {
                        name: o.name.to_vec().into(),
                        value: stream_value(o.ptype, o.value),
                    })
                    .collect(),
            };
            let row = Row {
                record: &record,
                ttl: m.header.ttl,
            };
            let built = single_write_request(&record.namespace, &row, 10000, &Policy::default());
            assert!(built == capture, "{} differs", path.display());
            writes += 1;
        }
        assert_eq!(writes, 70, "one connection per record, as asrestore did");
    }

    /// A captured value as a record stream holds it (GeoJSON as its text).
    fn stream_value(ptype: u8, v: &[u8]) -> Value<'static> {
        let v = if ptype == crate::record::particle::GEOJSON {
            crate::client::scan::geojson_text(v).unwrap()
        } else {
            v
        };
        Value::new(ptype, v.to_vec())
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_be_bytes(b[at..at + 2].try_into().unwrap())
    }

    /// Reads the rows of the captured request back into records (and TTLs), then builds the
    /// request again: it must be the captured bytes exactly.
    #[test]
    fn the_captured_asrestore_batch_is_rebuilt_byte_for_byte() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/wire/asrestore-batch/batch-writes/conn-15.c2s"
        );
        let capture = std::fs::read(path).expect("the asrestore-batch capture");
        // proto 8 + header 22; then the BATCH field: size, type, count, parent flags.
        let at = 8 + 22;
        assert_eq!(capture[at + 4], FIELD_BATCH);
        let end = at + 4 + u32_at(&capture, at) as usize;
        let count = u32_at(&capture, at + 5) as usize;
        assert_eq!(count, 70);
        let mut p = at + 10;
        let (mut records, mut ttls) = (Vec::new(), Vec::new());
        let mut ns = Vec::new();
        for i in 0..count {
            assert_eq!(u32_at(&capture, p) as usize, i);
            let digest: [u8; 20] = capture[p + 4..p + 24].try_into().unwrap();
            let generation = u16_at(&capture, p + 28);
            ttls.push(u32_at(&capture, p + 30));
            let (nf, nops) = (u16_at(&capture, p + 34), u16_at(&capture, p + 36));
            p += 38;
            let (mut set, mut key) = (None, None);
            for _ in 0..nf {
                let size = u32_at(&capture, p) as usize;
                let data = capture[p + 5..p + 4 + size].to_vec();
                match capture[p + 4] {
                    field::NAMESPACE => ns = data,
                    field::SET => set = Some(data),
                    field::KEY => key = Some(Value::new(data[0], data[1..].to_vec())),
                    f => panic!("unexpected field {f}"),
                }
                p += 4 + size;
            }
            let mut bins = Vec::new();
            for _ in 0..nops {
                let size = u32_at(&capture, p) as usize;
                let name_len = capture[p + 7] as usize;
                let name = capture[p + 8..p + 8 + name_len].to_vec();
                let value = capture[p + 8 + name_len..p + 4 + size].to_vec();
                bins.push(Bin {
                    name: name.into(),
                    value: stream_value(capture[p + 5], &value),
                });
                p += 4 + size;
            }
            records.push(Record {
                namespace: ns.clone().into(),
                // The capture cannot tell an empty set from none: both are sent empty.
                set: set.filter(|s| !s.is_empty()).map(Into::into),
                digest,
                key,
                generation,
                expiry: 0,
                bins,
            });
        }
        assert_eq!(p, end, "every row read");
        let rows: Vec<Row> = records
            .iter()
            .zip(&ttls)
            .map(|(record, &ttl)| Row { record, ttl })
            .collect();
        let built = write_request(&ns, &rows, 10000, &Policy::default());
        assert_eq!(built.len(), capture.len());
        assert!(built == capture, "the request differs from asrestore's");
    }
}
