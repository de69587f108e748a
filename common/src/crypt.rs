//! asbackup's encryption (`--encrypt aes128|aes256`, docs/asb-format.md#encryption, checked
//! against the official encrypted samples): the AES key is SHA-256 of the private key's
//! traditional DER (or of an environment variable's base64-decoded bytes), cut to 16 bytes for
//! aes128; a file is one block, AES(key, V) for a counter V, then the payload in CTR mode with the
//! 128-bit big-endian counter from V+1. No magic and no MAC: a wrong key shows only as garbage,
//! so a reader checks that the first bytes decrypt to ASB text or a zstd frame.

use crate::stream::read_full;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Aes128,
    Aes256,
}

impl Mode {
    /// As asbackup's --encrypt takes it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Aes128 => "aes128",
            Mode::Aes256 => "aes256",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s.to_ascii_lowercase().as_str() {
            "aes128" => Some(Mode::Aes128),
            "aes256" => Some(Mode::Aes256),
            _ => None,
        }
    }
}

#[derive(Debug, Error)]
pub enum CryptError {
    #[error("{0}")]
    Key(String),
    #[error("does not decrypt to a backup: wrong key, or not encrypted")]
    WrongKey,
    #[error("input is empty: expected an encrypted backup")]
    Empty,
    #[error("encrypted input ends inside its first block ({0} bytes)")]
    Short(usize),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The AES key.
#[derive(Clone)]
pub struct Key {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

const RSA_OID: &str = "1.2.840.113549.1.1.1";
const EC_OID: &str = "1.2.840.10045.2.1";

/// An EC key of a PKCS#8 file in the form OpenSSL's i2d_PrivateKey gives (what asbackup
/// hashes): the SEC1 ECPrivateKey with the curve, taken from the PKCS#8 algorithm, and the
/// public key. PKCS#8 bodies leave the curve out; one without the public key cannot be
/// completed without the curve's arithmetic, so it is refused.
fn ec_traditional(info: &pkcs8::PrivateKeyInfo) -> Result<Vec<u8>, CryptError> {
    use pkcs8::der::{Decode, Encode};
    let bad = |e: &dyn std::fmt::Display| {
        CryptError::Key(format!("the key file's EC key is not readable: {e}"))
    };
    let curve = info.algorithm.parameters_oid().map_err(|e| bad(&e))?;
    let mut key = sec1::EcPrivateKey::from_der(info.private_key).map_err(|e| bad(&e))?;
    if key.public_key.is_none() {
        return Err(CryptError::Key(
            "the key file's EC key lacks its public key: write it with openssl ec -in KEY (as 'EC PRIVATE KEY')".into(),
        ));
    }
    key.parameters = Some(sec1::EcParameters::NamedCurve(curve));
    key.to_der().map_err(|e| bad(&e))
}

impl Key {
    fn from_material(material: &[u8], mode: Mode) -> Key {
        let digest = Sha256::digest(material);
        let n = if mode == Mode::Aes128 { 16 } else { 32 };
        Key {
            bytes: digest[..n].to_vec(),
        }
    }

    /// From a PEM private key, as asbackup's `--encryption-key-file`: SHA-256 of the key's
    /// traditional DER (PKCS#1 for RSA whatever the PEM's wrapping, SEC1 for EC).
    pub fn from_pem(pem: &[u8], mode: Mode) -> Result<Key, CryptError> {
        let text = std::str::from_utf8(pem)
            .map_err(|_| CryptError::Key("the key file is not a PEM private key".into()))?;
        let (label, der) = pkcs8::der::pem::decode_vec(text.trim().as_bytes())
            .map_err(|e| CryptError::Key(format!("the key file is not a PEM private key: {e}")))?;
        let material = match label {
            "RSA PRIVATE KEY" | "EC PRIVATE KEY" => der,
            "PRIVATE KEY" => {
                let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).map_err(|e| {
                    CryptError::Key(format!("the key file holds no readable PKCS#8 key: {e}"))
                })?;
                match info.algorithm.oid.to_string().as_str() {
                    RSA_OID => info.private_key.to_vec(),
                    EC_OID => ec_traditional(&info)?,
                    other => {
                        return Err(CryptError::Key(format!(
                            "the key file holds a key of algorithm {other}, which asbackup does not use (RSA or EC)"
                        )))
                    }
                }
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(CryptError::Key(
                    "the key file is encrypted: give an unencrypted private key".into(),
                ))
            }
            other => {
                return Err(CryptError::Key(format!(
                    "the key file holds a {other:?}, not a private key"
                )))
            }
        };
        Ok(Key::from_material(&material, mode))
    }

    /// From an environment variable's value, as asbackup's `--encryption-key-env`: SHA-256 of
    /// the base64-decoded bytes, whatever they are.
    pub fn from_env_value(value: &str, mode: Mode) -> Result<Key, CryptError> {
        let bytes = base64_simd::STANDARD
            .decode_to_vec(value.trim())
            .map_err(|_| CryptError::Key("the key variable is not base64".into()))?;
        Ok(Key::from_material(&bytes, mode))
    }

    /// The mode the key is for (its length).
    pub fn mode(&self) -> Mode {
        match self.bytes.len() {
            16 => Mode::Aes128,
            _ => Mode::Aes256,
        }
    }

    /// A key for the manifest's HMAC of the stored bytes, derived from the AES key (never the
    /// AES key itself: a MAC key and a cipher key are kept apart).
    pub fn mac_key(&self) -> [u8; 32] {
        self.derive(b"as-tools backup manifest: file HMAC key")
    }

    /// Names the key without revealing it: 16 hex digits derived from it, written in the
    /// manifest, compared before a restore or a check reads a byte.
    pub fn check_value(&self) -> String {
        hex::encode(&self.derive(b"as-tools backup manifest: key check value")[..8])
    }

    /// HMAC-SHA-256 of `label` under the AES key.
    fn derive(&self, label: &[u8]) -> [u8; 32] {
        use hmac::Mac;
        let mut m =
            <hmac::Hmac<Sha256> as Mac>::new_from_slice(&self.bytes).expect("any key length");
        m.update(label);
        m.finalize().into_bytes().into()
    }

    fn ecb(&self, block: &mut [u8; 16], encrypt: bool) {
        let b = aes::Block::from_mut_slice(block);
        match self.bytes.len() {
            16 => {
                let c = aes::Aes128::new_from_slice(&self.bytes).unwrap();
                if encrypt {
                    c.encrypt_block(b)
                } else {
                    c.decrypt_block(b)
                }
            }
            _ => {
                let c = aes::Aes256::new_from_slice(&self.bytes).unwrap();
                if encrypt {
                    c.encrypt_block(b)
                } else {
                    c.decrypt_block(b)
                }
            }
        }
    }

    /// The keystream from counter `start` (CTR mode, 128-bit big-endian).
    fn ctr(&self, start: [u8; 16]) -> Box<dyn StreamCipher + Send> {
        match self.bytes.len() {
            16 => Box::new(
                ctr::Ctr128BE::<aes::Aes128>::new_from_slices(&self.bytes, &start).unwrap(),
            ),
            _ => Box::new(
                ctr::Ctr128BE::<aes::Aes256>::new_from_slices(&self.bytes, &start).unwrap(),
            ),
        }
    }
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Whether the first 8 decrypted bytes begin a backup: ASB text or a zstd frame (neither is
/// shorter than 8 bytes).
fn plausible(first: &[u8]) -> bool {
    first.starts_with(b"Version ") || first.starts_with(&ZSTD_MAGIC)
}

fn plus_one(v: [u8; 16]) -> [u8; 16] {
    u128::from_be_bytes(v).wrapping_add(1).to_be_bytes()
}

/// Writes `inner` encrypted: the IV block first, then the keystream applied to every byte.
pub struct Encryptor<W: Write> {
    inner: W,
    cipher: Box<dyn StreamCipher + Send>,
    buf: Vec<u8>,
}

impl<W: Write> Encryptor<W> {
    /// A new file: a fresh counter (the Unix time in its first 4 bytes, then random bytes, as
    /// asbackup makes it), its block written first.
    pub fn new(mut inner: W, key: &Key) -> io::Result<Self> {
        let mut v = [0u8; 16];
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32);
        v[..4].copy_from_slice(&now.to_be_bytes());
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut v[4..]);
        let mut block = v;
        key.ecb(&mut block, true);
        inner.write_all(&block)?;
        Ok(Encryptor {
            inner,
            cipher: key.ctr(plus_one(v)),
            buf: Vec::new(),
        })
    }

    /// Goes on with the keystream of an encrypted file `len` bytes long whose first bytes
    /// `head` reads: what is written is to be appended to that file, which becomes one
    /// encrypted stream from its one IV block (a resumed single-file backup). The file must
    /// decrypt to a backup with `key`.
    pub fn append(inner: W, key: &Key, mut head: impl Read, len: u64) -> Result<Self, CryptError> {
        let mut block = [0u8; 16];
        let n = read_full(&mut head, &mut block)?;
        if n < 16 {
            return Err(if n == 0 {
                CryptError::Empty
            } else {
                CryptError::Short(n)
            });
        }
        key.ecb(&mut block, false);
        let mut first = [0u8; 8];
        let n = read_full(&mut head, &mut first)?;
        key.ctr(plus_one(block)).apply_keystream(&mut first[..n]);
        if !plausible(&first[..n]) {
            return Err(CryptError::WrongKey);
        }
        // The byte at payload offset `at` is in keystream block `at / 16`, which is
        // AES(V + 1 + at / 16); the first `at % 16` bytes of that block are already used.
        let at = len - 16;
        let start = u128::from_be_bytes(block)
            .wrapping_add(1)
            .wrapping_add(u128::from(at / 16));
        let mut cipher = key.ctr(start.to_be_bytes());
        cipher.apply_keystream(&mut [0u8; 16][..(at % 16) as usize]);
        Ok(Encryptor {
            inner,
            cipher,
            buf: Vec::new(),
        })
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.clear();
        self.buf.extend_from_slice(data);
        self.cipher.apply_keystream(&mut self.buf);
        self.inner.write_all(&self.buf)?;
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads `inner` decrypted. The first bytes are checked before any is returned: they must be
/// ASB text (`Version `) or a zstd frame, else [`CryptError::WrongKey`].
pub struct Decryptor<R: Read> {
    inner: R,
    cipher: Box<dyn StreamCipher + Send>,
    /// Decrypted bytes read ahead for the check, not yet returned.
    ahead: Vec<u8>,
}

impl<R: Read> Decryptor<R> {
    pub fn new(mut inner: R, key: &Key) -> Result<Self, CryptError> {
        let mut block = [0u8; 16];
        let n = read_full(&mut inner, &mut block)?;
        match n {
            0 => return Err(CryptError::Empty),
            1..=15 => return Err(CryptError::Short(n)),
            _ => {}
        }
        key.ecb(&mut block, false);
        let mut cipher = key.ctr(plus_one(block));
        let mut ahead = vec![0u8; 8];
        let n = read_full(&mut inner, &mut ahead)?;
        ahead.truncate(n);
        cipher.apply_keystream(&mut ahead);
        if !plausible(&ahead) {
            return Err(CryptError::WrongKey);
        }
        Ok(Decryptor {
            inner,
            cipher,
            ahead,
        })
    }
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.ahead.is_empty() {
            let n = self.ahead.len().min(out.len());
            out[..n].copy_from_slice(&self.ahead[..n]);
            self.ahead.drain(..n);
            return Ok(n);
        }
        let n = self.inner.read(out)?;
        self.cipher.apply_keystream(&mut out[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Vec<u8> {
        let p = format!(
            "{}/../tests/data/samples/encrypted/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(p).unwrap()
    }

    fn decrypt(file: &str, key: &Key) -> Result<Vec<u8>, CryptError> {
        let data = sample(file);
        let mut d = Decryptor::new(&data[..], key)?;
        let mut out = Vec::new();
        d.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn the_official_samples_decrypt() {
        let pem = sample("key.pem");
        let k128 = Key::from_pem(&pem, Mode::Aes128).unwrap();
        let k256 = Key::from_pem(&pem, Mode::Aes256).unwrap();
        assert!(decrypt("aes128.asb", &k128)
            .unwrap()
            .starts_with(b"Version 3.1\n"));
        assert!(decrypt("aes256.asb", &k256)
            .unwrap()
            .starts_with(b"Version 3.1\n"));
        let z = decrypt("zstd-aes256.asb", &k256).unwrap();
        assert!(z.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]));
        let env = String::from_utf8(sample("env-key.b64")).unwrap();
        let ke = Key::from_env_value(&env, Mode::Aes128).unwrap();
        assert!(decrypt("env-aes128.asb", &ke)
            .unwrap()
            .starts_with(b"Version 3.1\n"));
        // The same length as the plain file, plus the IV block.
        assert_eq!(
            decrypt("aes128.asb", &k128).unwrap().len() + 16,
            sample("aes128.asb").len()
        );
        // Wrong key, or not encrypted at all: refused before anything is returned.
        assert!(matches!(
            decrypt("aes256.asb", &k128),
            Err(CryptError::WrongKey)
        ));
        assert!(matches!(
            decrypt("plain.asb", &k256),
            Err(CryptError::WrongKey)
        ));
        assert!(matches!(
            Decryptor::new(&b""[..], &k256),
            Err(CryptError::Empty)
        ));
        assert!(Key::from_pem(b"not a key", Mode::Aes256).is_err());
    }

    #[test]
    fn encrypted_output_decrypts() {
        let k = Key::from_env_value("c2VjcmV0", Mode::Aes256).unwrap();
        let mut e = Encryptor::new(Vec::new(), &k).unwrap();
        let text = b"Version 3.1\n# namespace test\n".repeat(100);
        for c in text.chunks(7) {
            e.write_all(c).unwrap();
        }
        let out = e.into_inner();
        assert_eq!(out.len(), text.len() + 16);
        let mut back = Vec::new();
        Decryptor::new(&out[..], &k)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn an_appended_part_continues_the_keystream() {
        let k = Key::from_env_value("c2VjcmV0", Mode::Aes128).unwrap();
        let text = b"Version 3.1\n# namespace test\n".repeat(50);
        let mut whole = Encryptor::new(Vec::new(), &k).unwrap();
        whole.write_all(&text).unwrap();
        let whole = whole.into_inner();
        // Cut anywhere (inside a keystream block, or on its edge), then append the rest.
        for cut in [8, 16, 17, 31, 32, 33, 500, text.len()] {
            let mut file = whole[..16 + cut].to_vec();
            let mut e = Encryptor::append(Vec::new(), &k, &file[..], file.len() as u64).unwrap();
            e.write_all(&text[cut..]).unwrap();
            file.extend(e.into_inner());
            assert_eq!(file, whole, "cut at {cut}");
        }
        let other = Key::from_env_value("b3RoZXI=", Mode::Aes128).unwrap();
        assert!(matches!(
            Encryptor::append(Vec::new(), &other, &whole[..], whole.len() as u64),
            Err(CryptError::WrongKey)
        ));
        assert!(matches!(
            Encryptor::append(Vec::new(), &k, &whole[..9], 9),
            Err(CryptError::Short(9))
        ));
    }
}
