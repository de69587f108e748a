//! `as-crypt`: encrypt or decrypt a backup as asbackup --encrypt does.

use anyhow::Context;
use as_cli::io::{binary_stdout, open_input, Counted, CHUNK};
use as_common::crypt::{Decryptor, Encryptor};
use clap::Parser;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Encrypt or decrypt a backup, byte-compatible with asbackup --encrypt aes128|aes256.
///
/// Encrypts standard input (or INPUT) to standard output: one 16-byte block, the AES encryption
/// of a new counter (the time, then random bytes), then the data in AES-CTR from the counter
/// plus one. The key is the SHA-256 of the private key in --encryption-key-file (its traditional
/// DER) or of the base64-decoded value of the variable --encryption-key-env names, its first 16
/// bytes for aes128. Put it last in a backup pipeline (`as-encode | as-zstd | as-crypt ...`):
/// asbackup compresses, then encrypts. Constant memory.
///
/// With -d, decrypts; the first decrypted bytes must be ASB text or a zstd frame, else it stops
/// with "does not decrypt to a backup: wrong key, or not encrypted" and writes nothing.
#[derive(Parser, Debug)]
#[command(name = "as-crypt", version, max_term_width = 100, after_long_help = as_cli::EXIT_STATUS_HELP)]
pub struct Args {
    #[command(flatten)]
    pub key: crate::keys::KeyArgs,

    /// Decrypt instead of encrypting.
    #[arg(short, long)]
    pub decrypt: bool,

    /// Continue the encrypted file FILE instead of starting a new one: no IV block, and the
    /// keystream goes on from FILE's end, for output appended to FILE (as-split -o runs each
    /// segment's filter with PARTIAL naming the file: `as-crypt ... --append "$PARTIAL"`). An
    /// empty or missing FILE starts a new file.
    #[arg(long, value_name = "FILE", conflicts_with = "decrypt")]
    pub append: Option<PathBuf>,

    /// Check the options (and read the key) and exit without reading input: 0 when good.
    #[arg(long)]
    pub check_options: bool,

    #[command(flatten)]
    pub summary: as_cli::summary::FilterSummary,

    /// The data to read; standard input when absent or `-`.
    pub input: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let Some(key) = a.key.key()? else {
        return Err(as_cli::Usage("--encrypt aes128|aes256 is required".into()).into());
    };
    if a.check_options {
        return Ok(());
    }
    let mut input = open_input(a.input.as_deref())?;
    let (out, bytes) = Counted::new(binary_stdout("encrypted data")?);
    let mut out = BufWriter::with_capacity(CHUNK, out);
    let result = (|| -> anyhow::Result<()> {
        let mut buf = vec![0u8; CHUNK];
        if a.decrypt {
            let mut d = Decryptor::new(input, &key).context("decrypting")?;
            loop {
                let n = d.read(&mut buf).context("reading the encrypted input")?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n])?;
            }
            out.flush()?;
        } else {
            let mut e = match existing(a.append.as_deref())? {
                Some((f, len)) => Encryptor::append(out, &key, f, len).with_context(|| {
                    format!("cannot continue {}", a.append.as_deref().unwrap().display())
                })?,
                None => Encryptor::new(out, &key)?,
            };
            loop {
                let n = input.read(&mut buf).context("reading the input")?;
                if n == 0 {
                    break;
                }
                e.write_all(&buf[..n])?;
            }
            e.flush()?;
        }
        Ok(())
    })();
    a.summary.write(&bytes, result)
}

/// The file to continue and its length, unless it is missing or empty.
pub(crate) fn existing(path: Option<&Path>) -> anyhow::Result<Option<(std::fs::File, u64)>> {
    let Some(p) = path else { return Ok(None) };
    match std::fs::File::open(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot open {}", p.display())),
        Ok(f) => {
            let len = f.metadata()?.len();
            Ok((len > 0).then_some((f, len)))
        }
    }
}
