//! A seedable generator of realistic records (every particle type, keys of every kind, names that
//! need escaping, bytes with NUL and LF, ordered CDTs) for tests and benchmarks.
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

    fn list(&mut self) -> Vec<u8> {
        let ordered = self.rng.gen_bool(0.3);
        let n = self.rng.gen_range(0..8usize);
        let mut out = vec![0x90 | (n + ordered as usize) as u8];
        if ordered {
            out.extend_from_slice(&[0xc7, 0x00, 0x01]);
        }
        for i in 0..n {
            if i % 2 == 0 {
                let s = self.text(1, 12);
                Self::mp_str(&mut out, &s);
            } else {
                Self::mp_int(&mut out, self.rng.gen_range(-1000..100000));
            }
        }
        out
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
                let mut hll = vec![0x00, 0x0c, 0x00];
                hll.extend(self.bytes(64, 64));
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
}
