//! Batch commands (info1 BATCH, one BATCH field of rows), as asrestore's capture shows them
//! (`tests/data/wire/asrestore-batch/batch-writes/conn-15`, server-behaviours S14): each row is
//! applied as the single command it describes; the answer is one message per row in row order,
//! the row's index in the transaction TTL, then LAST in a proto of its own.
//!
//! From the server's source rather than the capture (`as/src/base/batch.c`): a row that fails
//! is answered by a bare header with its result code and index (`as_batch_add_error`); a row
//! whose flags lack INFO (old-style reads) is not supported here and answers PARAMETER. The real
//! server proxies a row whose partition another node masters; this one, holding every
//! partition's data in one store, applies it where it arrives.

use super::write::apply;
use super::{Cluster, Conn};
use as_common::record::particle;
use as_common::wire::msg::{Field, Op};
use as_common::wire::{field, flags, op, Msg, MsgHeader, MsgWriter, WireError};

const FIELD_BATCH: u8 = 41;
const REPEAT: u8 = 0x01;
const INFO: u8 = 0x02;
const GEN: u8 = 0x04;
const TTL: u8 = 0x08;
const INFO4: u8 = 0x10;

fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if b.len() < n {
        return None;
    }
    let (h, t) = b.split_at(n);
    *b = t;
    Some(h)
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().unwrap())
}

/// One row: its index, digest and the command it carries (`None`: not a row this server takes).
struct Row<'a> {
    index: u32,
    digest: [u8; 20],
    msg: Option<Msg<'a>>,
}

fn parse_fields_ops<'a>(b: &mut &'a [u8], h: MsgHeader) -> Option<Msg<'a>> {
    let mut fields = Vec::new();
    for _ in 0..h.n_fields {
        let size = be32(take(b, 4)?) as usize;
        let f = take(b, size)?;
        fields.push(Field {
            ftype: *f.first()?,
            data: &f[1..],
        });
    }
    let mut ops = Vec::new();
    for _ in 0..h.n_ops {
        let size = be32(take(b, 4)?) as usize;
        let o = take(b, size)?;
        let name_len = *o.get(3)? as usize;
        if o.len() < 4 + name_len {
            return None;
        }
        ops.push(Op {
            op: o[0],
            ptype: o[1],
            name: &o[4..4 + name_len],
            value: &o[4 + name_len..],
        });
    }
    Some(Msg {
        header: h,
        fields,
        ops,
    })
}

fn parse_rows(data: &[u8]) -> Option<Vec<Row<'_>>> {
    let mut b = data;
    let count = be32(take(&mut b, 4)?);
    take(&mut b, 1)?; // parent flags
    let mut rows: Vec<Row> = Vec::with_capacity(count.min(5000) as usize);
    for _ in 0..count {
        let index = be32(take(&mut b, 4)?);
        let digest: [u8; 20] = take(&mut b, 20)?.try_into().ok()?;
        let flags = take(&mut b, 1)?[0];
        let msg = if flags & REPEAT != 0 {
            // The previous row's command again, on this digest.
            let prev = rows.last()?.msg.as_ref()?;
            Some(Msg {
                header: prev.header,
                fields: prev.fields.clone(),
                ops: prev.ops.clone(),
            })
        } else if flags & INFO != 0 {
            let i = take(&mut b, 3)?;
            let mut h = MsgHeader {
                info1: i[0],
                info2: i[1],
                info3: i[2],
                ..Default::default()
            };
            if flags & INFO4 != 0 {
                h.info4 = take(&mut b, 1)?[0];
            }
            if flags & GEN != 0 {
                h.generation = be16(take(&mut b, 2)?).into();
            }
            if flags & TTL != 0 {
                h.ttl = be32(take(&mut b, 4)?);
            }
            let n = take(&mut b, 4)?;
            h.n_fields = be16(n);
            h.n_ops = be16(&n[2..]);
            Some(parse_fields_ops(&mut b, h)?)
        } else {
            return None;
        };
        rows.push(Row { index, digest, msg });
    }
    Some(rows)
}

pub fn batch(cluster: &Cluster, conn: &mut Conn, msg: &Msg) -> Result<(), WireError> {
    {
        let mut f = cluster.faults.lock().unwrap();
        if f.cut_batches > 0 {
            f.cut_batches -= 1;
            drop(f);
            conn.cut();
            return Err(WireError::Closed);
        }
    }
    let Some(rows) = msg.field(FIELD_BATCH).and_then(parse_rows) else {
        return super::reply_code(conn, as_common::wire::result::PARAMETER);
    };
    let mut w = MsgWriter::new();
    w.begin_proto();
    for row in &rows {
        let Some(m) = &row.msg else {
            error_row(&mut w, row.index, as_common::wire::result::PARAMETER);
            continue;
        };
        // Rows carry no DIGEST field: the digest is in the row header.
        debug_assert!(m.field(field::DIGEST).is_none());
        let a = apply(cluster, m, &row.digest);
        if a.code != 0 {
            error_row(&mut w, row.index, a.code);
            continue;
        }
        w.message(&MsgHeader {
            generation: a.generation,
            ttl: a.void_time,
            timeout: row.index,
            ..Default::default()
        });
        if m.header.info2 & flags::INFO2_RESPOND_ALL_OPS != 0 {
            // One op per request op: its op code, a NULL particle, the bin name, no value.
            for o in &m.ops {
                w.op(o.op, particle::NIL, o.name, &[]);
            }
        } else {
            for b in &a.bins {
                w.op(op::READ, b.1, &b.0, &b.2);
            }
        }
    }
    conn.write(w.finish())?;
    let mut w = MsgWriter::new();
    w.begin_proto();
    w.message(&MsgHeader {
        info3: flags::INFO3_LAST,
        ..Default::default()
    });
    conn.write(w.finish())
}

fn error_row(w: &mut MsgWriter, index: u32, code: u8) {
    w.message(&MsgHeader {
        result: code,
        timeout: index,
        ..Default::default()
    });
}
