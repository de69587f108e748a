//! `as-crypt`: encrypt or decrypt a backup as asbackup --encrypt does.

use anyhow::Context;
use as_cli::io::{binary_stdout, open_input, CHUNK};
use as_common::crypt::{Decryptor, Encryptor};
use clap::Parser;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;

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

    /// Check the options (and read the key) and exit without reading input: 0 when good.
    #[arg(long)]
    pub check_options: bool,

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
    let mut out = BufWriter::with_capacity(CHUNK, binary_stdout("encrypted data")?);
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
        let mut e = Encryptor::new(out, &key)?;
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
}
