//! TLS for cluster connections (rustls), configured from asbackup's `--tls-*` options.

use crate::client::InvalidOption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// CA certificates (PEM) to trust.
    pub cafile: Option<PathBuf>,
    /// A directory of CA certificates (PEM, `*.pem`, `*.crt`); default `/etc/ssl/certs` when no
    /// CA file is given either.
    pub capath: Option<PathBuf>,
    /// Client certificate chain and key (PEM), for mutual TLS and PKI authentication.
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
    /// Password of an encrypted (PKCS#8) key file.
    pub keyfile_password: Option<String>,
    /// asbackup's `--tls-protocols` ("TLSv1.2", "TLSv1.3", "all", with +/- prefixes); None = both.
    pub protocols: Option<String>,
    /// `--tls-cipher-suite`: OpenSSL or IANA names, separated by `:` or `,`.
    pub cipher_suites: Option<String>,
    /// `--tls-crl-check` (the node's certificate) / `--tls-crl-check-all` (the whole chain):
    /// CRLs come from the CA directory.
    pub crl_check: Option<CrlCheck>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlCheck {
    Leaf,
    Chain,
}

/// rustls's suites under their IANA names and the OpenSSL names asbackup users write.
const SUITE_NAMES: &[(&str, &str)] = &[
    ("TLS13_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
    ("TLS13_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
    (
        "TLS13_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ),
];

/// The provider's suites that `spec` names, in the order given.
fn suites(
    spec: &str,
    all: &[rustls::SupportedCipherSuite],
) -> Result<Vec<rustls::SupportedCipherSuite>, String> {
    let mut out = Vec::new();
    for name in spec.split([':', ',', ' ']).filter(|n| !n.is_empty()) {
        let rustls_name = SUITE_NAMES
            .iter()
            .find(|(a, b)| a.eq_ignore_ascii_case(name) || b.eq_ignore_ascii_case(name))
            .map(|(a, _)| *a)
            .ok_or_else(|| {
                let known: Vec<&str> = SUITE_NAMES.iter().map(|(_, b)| *b).collect();
                format!(
                    "unsupported TLS cipher suite {name:?} (available: {})",
                    known.join(", ")
                )
            })?;
        if let Some(s) = all
            .iter()
            .find(|s| format!("{:?}", s.suite()) == rustls_name)
        {
            out.push(*s);
        }
    }
    if out.is_empty() {
        return Err("--tls-cipher-suite names no usable suite".into());
    }
    Ok(out)
}

/// Certificate revocation lists (PEM) found in a directory.
fn crls(dir: &Path) -> Vec<rustls::pki_types::CertificateRevocationListDer<'static>> {
    use rustls::pki_types::CertificateRevocationListDer;
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(iter) = CertificateRevocationListDer::pem_file_iter(e.path()) {
            out.extend(iter.flatten());
        }
    }
    out
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate in {}: {e}", path.display()))
}

/// Reads an encrypted PKCS#8 key (`-----BEGIN ENCRYPTED PRIVATE KEY-----`).
fn decrypt_key(path: &Path, password: &str) -> Result<PrivateKeyDer<'static>, String> {
    let pem =
        std::fs::read(path).map_err(|e| format!("cannot read the key {}: {e}", path.display()))?;
    let not_encrypted =
        |e: String| format!("{} is not an encrypted PKCS#8 key: {e}", path.display());
    let (_label, der) =
        pkcs8::der::pem::decode_vec(&pem).map_err(|e| not_encrypted(e.to_string()))?;
    let enc = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
        .map_err(|e| not_encrypted(e.to_string()))?;
    let doc = enc.decrypt(password).map_err(|_| {
        format!(
            "cannot decrypt the key {}: wrong --tls-keyfile-password?",
            path.display()
        )
    })?;
    Ok(PrivateKeyDer::Pkcs8(doc.as_bytes().to_vec().into()))
}

/// The protocol versions `--tls-protocols` selects (an OpenSSL-style list).
fn versions(spec: Option<&str>) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let (mut v12, mut v13) = (spec.is_none(), spec.is_none());
    for item in spec
        .unwrap_or("")
        .split([' ', ','])
        .filter(|s| !s.is_empty())
    {
        let (on, name) = match item.as_bytes()[0] {
            b'-' => (false, &item[1..]),
            b'+' => (true, &item[1..]),
            _ => (true, item),
        };
        match name.to_ascii_lowercase().as_str() {
            "all" => (v12, v13) = (on, on),
            "tlsv1.2" => v12 = on,
            "tlsv1.3" => v13 = on,
            "sslv3" | "tlsv1" | "tlsv1.1" if !on => {}
            other => {
                return Err(format!(
                    "unsupported TLS protocol {other:?} (TLSv1.2 and TLSv1.3 are available)"
                ))
            }
        }
    }
    let mut out = Vec::new();
    if v13 {
        out.push(&rustls::version::TLS13);
    }
    if v12 {
        out.push(&rustls::version::TLS12);
    }
    if out.is_empty() {
        return Err("--tls-protocols leaves no protocol enabled".into());
    }
    Ok(out)
}

pub fn client_config(o: &TlsOptions) -> Result<Arc<ClientConfig>, InvalidOption> {
    client_config_msg(o).map_err(InvalidOption)
}

fn client_config_msg(o: &TlsOptions) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    if let Some(f) = &o.cafile {
        for c in certs(f)? {
            roots
                .add(c)
                .map_err(|e| format!("bad CA certificate in {}: {e}", f.display()))?;
        }
    }
    let dir = o
        .capath
        .clone()
        .or_else(|| o.cafile.is_none().then(|| PathBuf::from("/etc/ssl/certs")));
    if let Some(dir) = dir {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "pem" || x == "crt") {
                // Unreadable or non-certificate files in a CA directory are skipped, as OpenSSL does.
                for c in certs(&p).unwrap_or_default() {
                    let _ = roots.add(c);
                }
            }
        }
    }
    if roots.is_empty() {
        return Err(
            "no CA certificate to verify the cluster with (use --tls-cafile or --tls-capath)"
                .into(),
        );
    }
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(spec) = &o.cipher_suites {
        provider.cipher_suites = suites(spec, &provider.cipher_suites)?;
    }
    let provider = Arc::new(provider);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(o.protocols.as_deref())?)
        .map_err(|e| format!("TLS setup: {e}"))?;
    let builder = match o.crl_check {
        None => builder.with_root_certificates(roots),
        Some(check) => {
            let dir = o
                .capath
                .as_deref()
                .ok_or("--tls-crl-check needs --tls-capath, the directory holding the CRLs")?;
            let lists = crls(dir);
            if lists.is_empty() {
                return Err(format!(
                    "--tls-crl-check: no certificate revocation list in {}",
                    dir.display()
                ));
            }
            let mut v = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .with_crls(lists);
            if check == CrlCheck::Leaf {
                v = v.only_check_end_entity_revocation();
            }
            builder.with_webpki_verifier(v.build().map_err(|e| format!("TLS setup: {e}"))?)
        }
    };
    let config = match (&o.certfile, &o.keyfile) {
        (Some(c), Some(k)) => {
            let key = match &o.keyfile_password {
                None => PrivateKeyDer::from_pem_file(k)
                    .map_err(|e| format!("cannot read the key {}: {e}", k.display()))?,
                Some(pw) => decrypt_key(k, pw)?,
            };
            builder
                .with_client_auth_cert(certs(c)?, key)
                .map_err(|e| format!("bad client certificate: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("--tls-certfile and --tls-keyfile go together".into()),
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_suite_names() {
        let all = rustls::crypto::ring::default_provider().cipher_suites;
        let s = suites("ECDHE-RSA-AES256-GCM-SHA384:TLS_AES_128_GCM_SHA256", &all).unwrap();
        assert_eq!(s.len(), 2);
        assert!(suites("RC4-MD5", &all)
            .unwrap_err()
            .contains("unsupported TLS cipher suite"));
    }

    #[test]
    fn protocol_lists() {
        assert_eq!(versions(None).unwrap().len(), 2);
        assert_eq!(
            versions(Some("TLSv1.2")).unwrap(),
            vec![&rustls::version::TLS12]
        );
        assert_eq!(
            versions(Some("all -TLSv1.2")).unwrap(),
            vec![&rustls::version::TLS13]
        );
        assert!(versions(Some("SSLv3")).is_err());
        assert!(versions(Some("-all")).is_err());
    }
}
