//! TLS for cluster connections (rustls), configured from asbackup's `--tls-*` options.

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
    /// asbackup's `--tls-protocols` ("TLSv1.2", "TLSv1.3", "all", with +/- prefixes); None = both.
    pub protocols: Option<String>,
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate in {}: {e}", path.display()))
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

pub fn client_config(o: &TlsOptions) -> Result<Arc<ClientConfig>, String> {
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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions(o.protocols.as_deref())?)
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots);
    let config = match (&o.certfile, &o.keyfile) {
        (Some(c), Some(k)) => {
            let key = PrivateKeyDer::from_pem_file(k)
                .map_err(|e| format!("cannot read the key {}: {e}", k.display()))?;
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
