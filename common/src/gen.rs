//! A seedable generator of realistic records (every particle type, keys of every kind, names that
//! need escaping, bytes with NUL and LF, ordered CDTs) for tests and benchmarks. Each is a record
//! a real server takes as it is: an ordered list in order, a HyperLogLog of the size its bits make
//! (what Aerospike 8.1 checks of a write; anything else it refuses and a restore stops there).
//! The same seed gives the same records on every machine (ChaCha8).

use crate::record::{particle, Bin, IndexDataType, IndexType, Record, SIndex, Udf, Value};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::borrow::Cow;

pub struct Generator {
    rng: ChaCha8Rng,
    namespace: Vec<u8>,
    sets: Vec<Vec<u8>>,
}

impl Generator {
    pub fn new(seed: u64, namespace: &[u8]) -> Self {
        Generator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            namespace: namespace.to_vec(),
            sets: vec![b"users".to_vec(), b"events".to_vec(), b"my set".to_vec()],
        }
    }

    /// Index definitions matching the generated bins.
    pub fn sindexes(&self) -> Vec<SIndex> {
        let ns = self.namespace.clone();
        vec![
            SIndex {
                namespace: ns.clone(),
                set: Some(b"users".to_vec()),
                name: b"users_age".to_vec(),
                index_type: IndexType::Default,
                bin: b"age".to_vec(),
                data_type: IndexDataType::Numeric,
                context: None,
                expression: None,
            },
            SIndex {
                namespace: ns.clone(),
                set: None,
                name: b"idx tags".to_vec(),
                index_type: IndexType::List,
                bin: b"tags".to_vec(),
                data_type: IndexDataType::String,
                context: None,
                expression: None,
            },
            SIndex {
                namespace: ns,
                set: Some(b"events".to_vec()),
                name: b"ctx_idx".to_vec(),
                index_type: IndexType::Default,
                bin: b"tags".to_vec(),
                data_type: IndexDataType::String,
                context: Some(b"khAA".to_vec()),
                expression: None,
            },
        ]
    }

    pub fn udfs(&self) -> Vec<Udf<'static>> {
        vec![Udf {
            kind: b'L',
            name: Cow::Borrowed(b"gen.lua"),
            content: Cow::Borrowed(b"-- generated\nfunction count(r)\n  return 1\nend\n"),
        }]
    }

    fn bytes(&mut self, min: usize, max: usize) -> Vec<u8> {
        let n = self.rng.gen_range(min..=max);
        let mut v = vec![0; n];
        self.rng.fill_bytes(&mut v);
        v
    }

    fn text(&mut self, min: usize, max: usize) -> Vec<u8> {
        const WORDS: &[&str] = &[
            "alpha",
            "beta",
            "gamma",
            "über",
            "naïve",
            "line\nfeed",
            "tab\there",
            "space here",
            "东京",
            "x",
        ];
        let n = self.rng.gen_range(min..=max);
        let mut s = Vec::with_capacity(n + 8);
        while s.len() < n {
            if !s.is_empty() {
                s.push(b' ');
            }
            s.extend_from_slice(WORDS[self.rng.gen_range(0..WORDS.len())].as_bytes());
        }
        s
    }

    /// msgpack string as Aerospike stores it inside CDTs (one-byte type prefix).
    fn mp_str(out: &mut Vec<u8>, s: &[u8]) {
        let n = s.len() + 1;
        if n < 32 {
            out.push(0xa0 | n as u8);
        } else {
            out.push(0xd9);
            out.push(n as u8);
        }
        out.push(particle::STRING);
        out.extend_from_slice(s);
    }

    fn mp_int(out: &mut Vec<u8>, v: i64) {
        if (0..128).contains(&v) {
            out.push(v as u8);
        } else {
            out.push(0xd3);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// A list of strings and integers; an ordered one (flag 1) holds them in the server's order,
    /// which it checks on every write (cdt.c): integers before strings, integers by value,
    /// strings by their bytes, a prefix first (`Item`'s derived order).
    fn list(&mut self) -> Vec<u8> {
        #[derive(PartialEq, Eq, PartialOrd, Ord)]
        enum Item {
            Int(i64),
            Str(Vec<u8>),
        }
        let ordered = self.rng.gen_bool(0.3);
        let n = self.rng.gen_range(0..8usize);
        let mut items: Vec<Item> = (0..n)
            .map(|i| match i % 2 {
                0 => Item::Str(self.text(1, 12)),
                _ => Item::Int(self.rng.gen_range(-1000..100000)),
            })
            .collect();
        let mut out = vec![0x90 | (n + ordered as usize) as u8];
        if ordered {
            out.extend_from_slice(&[0xc7, 0x00, 0x01]);
            items.sort_unstable();
        }
        for item in items {
            match item {
                Item::Int(v) => Self::mp_int(&mut out, v),
                Item::Str(s) => Self::mp_str(&mut out, &s),
            }
        }
        out
    }

    /// A HyperLogLog as the server stores it (particle_hll.c): flags 0, index bits 4 to 16,
    /// minhash bits 0 or 4 to 51, an 8-byte cache, and exactly the registers those sizes make.
    /// Anything else, a server refuses (parameter error).
    fn hll(&mut self) -> Vec<u8> {
        let index_bits: u8 = self.rng.gen_range(4..=10);
        let minhash_bits: u8 = if self.rng.gen_bool(0.3) {
            self.rng.gen_range(4..=8)
        } else {
            0
        };
        let registers = ((6 + minhash_bits as usize) << index_bits).div_ceil(8);
        let mut hll = vec![0x00, index_bits, minhash_bits];
        hll.extend_from_slice(&[0; 8]);
        hll.extend(self.bytes(registers, registers));
        hll
    }

    fn map(&mut self) -> Vec<u8> {
        let flags: u8 = [0, 1, 3][self.rng.gen_range(0..3)];
        let n = self.rng.gen_range(0..6usize);
        let mut out = vec![0x80 | (n + (flags != 0) as usize) as u8];
        if flags != 0 {
            out.extend_from_slice(&[0xc7, 0x00, flags, 0xc0]);
        }
        for i in 0..n {
            Self::mp_str(&mut out, format!("k{i}").as_bytes());
            Self::mp_int(&mut out, self.rng.gen_range(0..1 << 40));
        }
        out
    }

    fn bin(name: &'static [u8], value: Value<'static>) -> Bin<'static> {
        Bin {
            name: Cow::Borrowed(name),
            value,
        }
    }

    pub fn record(&mut self) -> Record<'static> {
        let r = &mut self.rng;
        let mut digest = [0u8; 20];
        r.fill_bytes(&mut digest);
        let set = match r.gen_range(0..20) {
            0 => None,
            i => Some(Cow::Owned(self.sets[i % self.sets.len()].clone())),
        };
        let key = match r.gen_range(0..10) {
            0..=5 => {
                let id = r.gen_range(0..10_000_000u32);
                Some(Value::new(
                    particle::STRING,
                    format!("user:{id}").into_bytes(),
                ))
            }
            6 | 7 => Some(Value::int(r.gen())),
            8 => {
                let b = self.bytes(1, 24);
                Some(Value::new(particle::BLOB, b))
            }
            _ => None,
        };
        let r = &mut self.rng;
        let generation = r.gen_range(1..=200);
        let expiry = if r.gen_bool(0.7) {
            0
        } else {
            r.gen_range(400_000_000..600_000_000)
        };
        let age = r.gen_range(0..120);
        let score = r.gen::<f64>() * 1000.0;
        let active = r.gen_bool(0.5);
        let mut bins = vec![
            Self::bin(b"age", Value::int(age)),
            Self::bin(b"score", Value::double(score)),
            Self::bin(b"active", Value::bool(active)),
        ];
        let name = self.text(4, 40);
        bins.push(Self::bin(b"name", Value::new(particle::STRING, name)));
        let payload = self.bytes(0, 160);
        bins.push(Self::bin(b"payload", Value::new(particle::BLOB, payload)));
        let tags = self.list();
        bins.push(Self::bin(b"tags", Value::new(particle::LIST, tags)));
        let attrs = self.map();
        bins.push(Self::bin(b"attrs", Value::new(particle::MAP, attrs)));
        // Rarer types, each in a fraction of the records.
        match self.rng.gen_range(0..12) {
            0 => {
                let (x, y) = (
                    self.rng.gen_range(-180.0..180.0),
                    self.rng.gen_range(-90.0..90.0),
                );
                let geo = format!(r#"{{"type": "Point", "coordinates": [{x:.6}, {y:.6}]}}"#);
                bins.push(Self::bin(
                    b"loc",
                    Value::new(particle::GEOJSON, geo.into_bytes()),
                ));
            }
            1 => {
                let hll = self.hll();
                bins.push(Self::bin(b"visitors", Value::new(particle::HLL, hll)));
            }
            2 => {
                let t = [
                    particle::JAVA_BLOB,
                    particle::CSHARP_BLOB,
                    particle::PYTHON_BLOB,
                    particle::RUBY_BLOB,
                    particle::PHP_BLOB,
                    particle::ERLANG_BLOB,
                ][self.rng.gen_range(0..6)];
                let b = self.bytes(1, 40);
                bins.push(Self::bin(b"obj", Value::new(t, b)));
            }
            3 => bins.push(Self::bin(b"odd name\\", Value::double(f64::NAN))),
            4 => bins.push(Self::bin(
                b"empty",
                Value::new(particle::STRING, Vec::new()),
            )),
            _ => {}
        }
        Record {
            namespace: Cow::Owned(self.namespace.clone()),
            set,
            digest,
            key,
            generation,
            expiry,
            bins,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_records() {
        let mut a = Generator::new(7, b"test");
        let mut b = Generator::new(7, b"test");
        let mut c = Generator::new(8, b"test");
        let ra: Vec<_> = (0..50).map(|_| a.record()).collect();
        let rb: Vec<_> = (0..50).map(|_| b.record()).collect();
        let rc: Vec<_> = (0..50).map(|_| c.record()).collect();
        assert_eq!(ra, rb);
        assert_ne!(ra, rc);
    }

    #[test]
    fn covers_every_particle_type() {
        let mut g = Generator::new(1, b"test");
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            for b in g.record().bins {
                seen.insert(b.value.ptype);
            }
        }
        use particle::*;
        for t in [
            INTEGER,
            FLOAT,
            STRING,
            BLOB,
            JAVA_BLOB,
            CSHARP_BLOB,
            PYTHON_BLOB,
            RUBY_BLOB,
            PHP_BLOB,
            ERLANG_BLOB,
            BOOL,
            HLL,
            MAP,
            LIST,
            GEOJSON,
        ] {
            assert!(seen.contains(&t), "particle type {t} never generated");
        }
    }

    /// What a real server checks of a written particle (particle_hll.c, cdt.c), so that a
    /// server takes every generated record (a write it refuses would stop a restore).
    #[test]
    fn hlls_and_ordered_lists_are_as_a_server_takes_them() {
        // The elements of a generated list (strings and integers): its order flag, and each
        // as (is a string, the integer, the string's bytes), which sorts as the server does.
        fn items(b: &[u8]) -> (bool, Vec<(bool, i64, Vec<u8>)>) {
            let ordered = b.get(1..4) == Some(&[0xc7, 0x00, 0x01][..]);
            let mut at = if ordered { 4 } else { 1 };
            let mut out = Vec::new();
            while at < b.len() {
                let (item, len) = match b[at] {
                    v @ 0..=0x7f => ((false, v as i64, vec![]), 1),
                    0xd3 => {
                        let v = i64::from_be_bytes(b[at + 1..at + 9].try_into().unwrap());
                        ((false, v, vec![]), 9)
                    }
                    // A string's first byte is its particle type.
                    m @ 0xa0..=0xbf => {
                        let n = (m & 0x1f) as usize;
                        ((true, 0, b[at + 2..at + 1 + n].to_vec()), 1 + n)
                    }
                    0xd9 => {
                        let n = b[at + 1] as usize;
                        ((true, 0, b[at + 3..at + 2 + n].to_vec()), 2 + n)
                    }
                    m => panic!("unexpected msgpack byte {m:#x}"),
                };
                out.push(item);
                at += len;
            }
            assert_eq!(out.len() + ordered as usize, (b[0] & 0x0f) as usize);
            (ordered, out)
        }
        let mut g = Generator::new(3, b"test");
        let (mut hlls, mut ordered) = (0, 0);
        for _ in 0..3000 {
            for b in g.record().bins {
                let d = &b.value.data;
                if b.value.ptype == particle::HLL {
                    let (index, minhash) = (d[1] as usize, d[2] as usize);
                    assert_eq!(d[0], 0, "flags");
                    assert!((4..=16).contains(&index));
                    assert!(minhash == 0 || (4..=51).contains(&minhash));
                    assert_eq!(d.len(), 11 + ((6 + minhash) << index).div_ceil(8));
                    hlls += 1;
                }
                if b.value.ptype == particle::LIST {
                    let (is_ordered, items) = items(d);
                    if is_ordered {
                        assert!(items.windows(2).all(|w| w[0] <= w[1]), "{items:?}");
                        ordered += 1;
                    }
                }
            }
        }
        assert!(
            hlls > 100 && ordered > 500,
            "{hlls} HLLs, {ordered} ordered lists"
        );
    }
}
