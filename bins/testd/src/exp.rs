//! Filter expressions, the subset backup tools send: comparisons, and/or/not, set name, last
//! update time, void time, TTL, key-exists, digest modulo, and integer, string and bin values.
//! An expression is MessagePack: `[op, args...]`; string literals carry a one-byte particle type.

use super::store::{now_ns, Stored, CITRUSLEAF_EPOCH};
use as_common::record::particle;
use rmp::Marker;

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Vec<u8>),
    Blob(Vec<u8>),
    List(Vec<Val>),
}

fn parse(b: &mut &[u8], depth: usize) -> Result<Val, String> {
    if depth > 64 {
        return Err("expression nested too deep".into());
    }
    let m = rmp::decode::read_marker(b).map_err(|_| "truncated expression".to_string())?;
    let mut take = |n: usize| -> Result<Vec<u8>, String> {
        if b.len() < n {
            return Err("truncated expression".into());
        }
        let (v, rest) = b.split_at(n);
        *b = rest;
        Ok(v.to_vec())
    };
    let be = |v: &[u8]| v.iter().fold(0u64, |a, &x| a << 8 | x as u64);
    Ok(match m {
        Marker::Null => Val::Nil,
        Marker::True => Val::Bool(true),
        Marker::False => Val::Bool(false),
        Marker::FixPos(n) => Val::Int(n as i64),
        Marker::FixNeg(n) => Val::Int(n as i64),
        Marker::U8 => Val::Int(be(&take(1)?) as i64),
        Marker::U16 => Val::Int(be(&take(2)?) as i64),
        Marker::U32 => Val::Int(be(&take(4)?) as i64),
        Marker::U64 => Val::Int(be(&take(8)?) as i64),
        Marker::I8 => Val::Int(take(1)?[0] as i8 as i64),
        Marker::I16 => Val::Int(be(&take(2)?) as i16 as i64),
        Marker::I32 => Val::Int(be(&take(4)?) as i32 as i64),
        Marker::I64 => Val::Int(be(&take(8)?) as i64),
        Marker::F64 => Val::Float(f64::from_bits(be(&take(8)?))),
        Marker::F32 => Val::Float(f32::from_bits(be(&take(4)?) as u32) as f64),
        Marker::FixStr(n) => str_val(take(n as usize)?),
        Marker::Str8 => {
            let n = be(&take(1)?) as usize;
            str_val(take(n)?)
        }
        Marker::Str16 => {
            let n = be(&take(2)?) as usize;
            str_val(take(n)?)
        }
        Marker::Str32 => {
            let n = be(&take(4)?) as usize;
            str_val(take(n)?)
        }
        Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
            let w = match m {
                Marker::Bin8 => 1,
                Marker::Bin16 => 2,
                _ => 4,
            };
            let n = be(&take(w)?) as usize;
            Val::Blob(take(n)?)
        }
        Marker::FixArray(n) => list(b, n as usize, depth)?,
        Marker::Array16 => {
            let n = be(&take(2)?) as usize;
            list(b, n, depth)?
        }
        Marker::Array32 => {
            let n = be(&take(4)?) as usize;
            list(b, n, depth)?
        }
        other => {
            return Err(format!(
                "unsupported msgpack marker {other:?} in expression"
            ))
        }
    })
}

fn list(b: &mut &[u8], n: usize, depth: usize) -> Result<Val, String> {
    let mut v = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        v.push(parse(b, depth + 1)?);
    }
    Ok(Val::List(v))
}

/// Strings in expressions carry Aerospike's particle-type prefix byte.
fn str_val(v: Vec<u8>) -> Val {
    match v.split_first() {
        Some((&t, rest)) if t == particle::STRING => Val::Str(rest.to_vec()),
        Some((&t, rest)) if t == particle::BLOB => Val::Blob(rest.to_vec()),
        _ => Val::Str(v),
    }
}

const EQ: i64 = 1;
const NE: i64 = 2;
const GT: i64 = 3;
const GE: i64 = 4;
const LT: i64 = 5;
const LE: i64 = 6;
const AND: i64 = 16;
const OR: i64 = 17;
const NOT: i64 = 18;
const DIGEST_MODULO: i64 = 64;
const LAST_UPDATE: i64 = 66;
const SINCE_UPDATE: i64 = 67;
const VOID_TIME: i64 = 68;
const TTL: i64 = 69;
const SET_NAME: i64 = 70;
const KEY_EXISTS: i64 = 71;
const BIN: i64 = 81;

fn eval(e: &Val, r: &Stored, digest: &[u8; 20]) -> Result<Val, String> {
    let Val::List(items) = e else {
        return Ok(e.clone());
    };
    let Some(Val::Int(op)) = items.first() else {
        return Ok(e.clone()); // a list literal
    };
    let arg = |i: usize| -> Result<Val, String> {
        items
            .get(i)
            .ok_or_else(|| format!("operator {op} needs argument {i}"))
            .and_then(|a| eval(a, r, digest))
    };
    let truth = |v: Val| matches!(v, Val::Bool(true));
    Ok(match *op {
        EQ | NE | GT | GE | LT | LE => {
            let (a, b) = (arg(1)?, arg(2)?);
            let ord = match (&a, &b) {
                (Val::Int(x), Val::Int(y)) => x.partial_cmp(y),
                (Val::Float(x), Val::Float(y)) => x.partial_cmp(y),
                (Val::Str(x), Val::Str(y)) | (Val::Blob(x), Val::Blob(y)) => x.partial_cmp(y),
                (Val::Bool(x), Val::Bool(y)) => x.partial_cmp(y),
                _ => None,
            };
            Val::Bool(match (ord, *op) {
                (None, NE) => true,
                (None, _) => false,
                (Some(o), EQ) => o.is_eq(),
                (Some(o), NE) => o.is_ne(),
                (Some(o), GT) => o.is_gt(),
                (Some(o), GE) => o.is_ge(),
                (Some(o), LT) => o.is_lt(),
                (Some(o), _) => o.is_le(),
            })
        }
        AND => Val::Bool(
            items[1..]
                .iter()
                .map(|a| eval(a, r, digest).map(truth))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .all(|x| x),
        ),
        OR => Val::Bool(
            items[1..]
                .iter()
                .map(|a| eval(a, r, digest).map(truth))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .any(|x| x),
        ),
        NOT => Val::Bool(!truth(arg(1)?)),
        SET_NAME => Val::Str(r.set.clone()),
        LAST_UPDATE => Val::Int(r.lut_ns as i64),
        SINCE_UPDATE => Val::Int((now_ns().saturating_sub(r.lut_ns) / 1_000_000) as i64),
        VOID_TIME => Val::Int(if r.void_time == 0 {
            -1
        } else {
            ((r.void_time as u64 + CITRUSLEAF_EPOCH) * 1_000_000_000) as i64
        }),
        TTL => Val::Int(if r.void_time == 0 {
            -1
        } else {
            (r.void_time as i64 - super::store::now_cl() as i64).max(0)
        }),
        KEY_EXISTS => Val::Bool(r.key.is_some()),
        DIGEST_MODULO => match arg(1)? {
            Val::Int(m) if m > 0 => {
                Val::Int((u32::from_le_bytes(digest[..4].try_into().unwrap()) as i64) % m)
            }
            _ => return Err("digest modulo needs a positive integer".into()),
        },
        BIN => {
            let Val::Str(name) = arg(2)? else {
                return Err("bin name must be a string".into());
            };
            match r.bins.iter().find(|b| b.0 == name) {
                None => Val::Nil,
                Some((_, t, v)) => match *t {
                    particle::INTEGER => Val::Int(i64::from_be_bytes(
                        v.as_slice().try_into().unwrap_or([0; 8]),
                    )),
                    particle::FLOAT => Val::Float(f64::from_be_bytes(
                        v.as_slice().try_into().unwrap_or([0; 8]),
                    )),
                    particle::STRING => Val::Str(v.clone()),
                    particle::BOOL => Val::Bool(v.first() == Some(&1)),
                    _ => Val::Blob(v.clone()),
                },
            }
        }
        other => return Err(format!("unsupported expression operator {other}")),
    })
}

/// Checks that an expression parses and uses only supported operators.
pub fn check(exp: &[u8]) -> Result<(), String> {
    let mut b = exp;
    let e = parse(&mut b, 0)?;
    let probe = Stored {
        key: None,
        set: Vec::new(),
        generation: 1,
        void_time: 0,
        lut_ns: 0,
        bins: Vec::new(),
    };
    eval(&e, &probe, &[0; 20]).map(|_| ())
}

/// Whether a record passes the filter (an expression that does not evaluate to true filters it out).
pub fn matches(exp: &[u8], r: &Stored, digest: &[u8; 20]) -> bool {
    let mut b = exp;
    match parse(&mut b, 0) {
        Ok(e) => matches!(eval(&e, r, digest), Ok(Val::Bool(true))),
        Err(_) => false,
    }
}
