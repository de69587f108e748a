//! The digests of a file's stored bytes: SHA-256, and for an encrypted backup an HMAC-SHA-256
//! keyed from the encryption key, computed in one pass as the bytes go by.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// What a file's bytes hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub size: u64,
    pub sha256: String,
    pub hmac: Option<String>,
}

impl FileDigest {
    /// A file's size alone, its bytes not hashed (a backup without a manifest); a manifest
    /// written later hashes them then (an empty `sha256` says so).
    pub fn unhashed(size: u64) -> FileDigest {
        FileDigest {
            size,
            sha256: String::new(),
            hmac: None,
        }
    }
}

/// Hashes bytes as they are written or read.
#[derive(Clone)]
pub struct Digester {
    sha: Sha256,
    mac: Option<Hmac<Sha256>>,
    size: u64,
}

impl Digester {
    /// `mac_key`: [`crate::crypt::Key::mac_key`] for an encrypted backup.
    pub fn new(mac_key: Option<&[u8; 32]>) -> Digester {
        Digester {
            sha: Sha256::new(),
            mac: mac_key
                .map(|k| Hmac::<Sha256>::new_from_slice(k).expect("HMAC takes any key length")),
            size: 0,
        }
    }

    pub fn update(&mut self, b: &[u8]) {
        self.sha.update(b);
        if let Some(m) = &mut self.mac {
            m.update(b);
        }
        self.size += b.len() as u64;
    }

    pub fn finish(self) -> FileDigest {
        FileDigest {
            size: self.size,
            sha256: hex::encode(self.sha.finalize()),
            hmac: self.mac.map(|m| hex::encode(m.finalize().into_bytes())),
        }
    }

    /// The digest of everything `r` holds.
    pub fn of(
        mut r: impl std::io::Read,
        mac_key: Option<&[u8; 32]>,
    ) -> std::io::Result<FileDigest> {
        let mut d = Digester::new(mac_key);
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(d.finish()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            d.update(&buf[..n]);
        }
    }
}

/// What is written is hashed (`io::copy` into a digest).
impl std::io::Write for Digester {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.update(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Wraps a reader, hashing what is read through it.
pub struct HashingReader<R> {
    pub inner: R,
    pub digester: Digester,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digester.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        let d = Digester::of(&b"abc"[..], None).unwrap();
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!((d.size, d.hmac), (3, None));
        // RFC 4231 test case 2 has a 4-byte key; a 32-byte key is checked against itself.
        let k = [7u8; 32];
        let a = Digester::of(&b"abc"[..], Some(&k)).unwrap();
        let mut b = Digester::new(Some(&k));
        b.update(b"a");
        b.update(b"bc");
        assert_eq!(a, b.finish());
        assert_ne!(a.hmac, Digester::of(&b"abd"[..], Some(&k)).unwrap().hmac);
    }
}
