//! asbackup's encryption options, shared by as-crypt and as-decode: the mode and where the key
//! comes from (a PEM file, or an environment variable holding base64), never the key itself, so
//! it is in no command line.

use as_cli::Usage;
use as_common::crypt::{Key, Mode};
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct KeyArgs {
    /// Encryption: aes128 or aes256 (asbackup's -y/--encrypt); needs a key.
    #[arg(short = 'y', long = "encrypt", value_name = "MODE", value_parser = ["aes128", "aes256"], ignore_case = true)]
    pub encrypt: Option<String>,

    /// The key: a PEM private key (RSA or EC, traditional or PKCS#8); the AES key is the
    /// SHA-256 of its traditional DER (PKCS#1, SEC1), as asbackup makes it.
    #[arg(long, value_name = "PEM", conflicts_with = "encryption_key_env")]
    pub encryption_key_file: Option<PathBuf>,

    /// The key: the name of an environment variable holding it in base64.
    #[arg(long, value_name = "VAR")]
    pub encryption_key_env: Option<String>,
}

impl KeyArgs {
    /// The key, when encryption is asked for; asbackup's rule: a mode needs a key and a key a
    /// mode.
    pub fn key(&self) -> anyhow::Result<Option<Key>> {
        self.key_for(None)
    }

    /// The key of a backup whose manifest says how it is encrypted (`Some(None)`: not
    /// encrypted): the mode then comes from the manifest, and options that disagree with it
    /// are refused.
    pub fn key_for(&self, stored: Option<Option<Mode>>) -> anyhow::Result<Option<Key>> {
        let has_key = self.encryption_key_file.is_some() || self.encryption_key_env.is_some();
        let given = self
            .encrypt
            .as_deref()
            .map(|m| Mode::parse(m).expect("clap checked the mode"));
        let mode = match (given, stored) {
            (Some(g), Some(Some(s))) if g != s => {
                return Err(Usage(format!(
                    "--encrypt {} given, but the backup's manifest says it is encrypted with {}",
                    g.name(),
                    s.name()
                ))
                .into())
            }
            (Some(_), Some(None)) => {
                return Err(Usage(
                    "--encrypt given, but the backup's manifest says it is not encrypted".into(),
                )
                .into())
            }
            (None, Some(None)) if has_key => {
                return Err(Usage(
                    "a key given, but the backup's manifest says it is not encrypted".into(),
                )
                .into())
            }
            (None, Some(Some(s))) if !has_key => {
                return Err(Usage(format!(
                    "the backup is encrypted ({}, its manifest says): give its key with --encryption-key-file or --encryption-key-env",
                    s.name()
                ))
                .into())
            }
            (g, s) => g.or(s.flatten()),
        };
        let Some(mode) = mode else {
            if has_key {
                return Err(Usage("an encryption key needs --encrypt aes128|aes256".into()).into());
            }
            return Ok(None);
        };
        let key = match (&self.encryption_key_file, &self.encryption_key_env) {
            (Some(f), _) => {
                let pem = std::fs::read(f)
                    .map_err(|e| Usage(format!("cannot read the key file {}: {e}", f.display())))?;
                Key::from_pem(&pem, mode).map_err(|e| Usage(format!("{}: {e}", f.display())))?
            }
            (None, Some(var)) => {
                let v = std::env::var(var).map_err(|_| {
                    Usage(format!("the key variable {var} is not set (or not UTF-8)"))
                })?;
                Key::from_env_value(&v, mode).map_err(|e| Usage(format!("{var}: {e}")))?
            }
            (None, None) => {
                return Err(Usage(
                    "--encrypt needs --encryption-key-file or --encryption-key-env".into(),
                )
                .into())
            }
        };
        Ok(Some(key))
    }
}
