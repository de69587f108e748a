//! The options that reach a cluster, shared by as-scan and as-restore (asbackup's and
//! asrestore's names and letters): seeds, login, TLS; and the settings made of them.

use as_cli::secret::secret_or_ask;
use as_cli::Usage;
use as_common::client::cluster::{parse_seeds, Seed};
use as_common::client::conn::{AuthMode, ConnSettings, Credentials};
use as_common::client::tls::{self, TlsOptions};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct ConnArgs {
    /// Seed hosts: host[:tlsname][:port], IPv6 in brackets, comma-separated.
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    pub host: String,

    /// Default port of the seed hosts.
    #[arg(
        short = 'p',
        long,
        default_value_t = 3000,
        allow_negative_numbers = true
    )]
    pub port: u16,

    /// User name, for clusters with security enabled.
    #[arg(short = 'U', long)]
    pub user: Option<String>,

    /// Password: the password itself, env:VAR, env-b64:VAR, b64:BASE64 or file:PATH. Without a
    /// value (-P alone) it is asked for on the terminal; it may also come from the environment
    /// variable AS_PASSWORD, which keeps it out of process listings.
    #[arg(short = 'P', long, num_args = 0..=1, default_missing_value = "", require_equals = true,
          env = "AS_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// Authentication mode: INTERNAL (a password hash), EXTERNAL (the password too, over TLS),
    /// EXTERNAL_INSECURE (the password without TLS), PKI (the TLS client certificate).
    #[arg(short = 'A', long, default_value = "INTERNAL", value_parser = ["INTERNAL", "EXTERNAL", "EXTERNAL_INSECURE", "PKI"], ignore_case = true)]
    pub auth: String,

    /// Connect with TLS.
    #[arg(long, alias = "tlsEnable")]
    pub tls_enable: bool,

    /// Default TLS name of the nodes (a seed's own host:tlsname:port wins).
    #[arg(long, alias = "tlsName")]
    pub tls_name: Option<String>,

    /// CA certificates (PEM) to verify the nodes with.
    #[arg(long, alias = "tlsCaFile")]
    pub tls_cafile: Option<PathBuf>,

    /// A directory of CA certificates (default /etc/ssl/certs when no CA file is given).
    #[arg(long, alias = "tlsCaPath")]
    pub tls_capath: Option<PathBuf>,

    /// TLS protocols, e.g. "TLSv1.2", "TLSv1.3", "all -TLSv1.2" (default: both).
    #[arg(long, alias = "tlsProtocols")]
    pub tls_protocols: Option<String>,

    /// Client certificate chain (PEM), for mutual TLS and --auth PKI.
    #[arg(long, alias = "tlsCertFile")]
    pub tls_certfile: Option<PathBuf>,

    /// Client private key (PEM, unencrypted).
    #[arg(long, alias = "tlsKeyFile")]
    pub tls_keyfile: Option<PathBuf>,

    /// Print the negotiated TLS protocol and cipher suite of the first connection on stderr.
    #[arg(long, alias = "tlsLogSessionInfo")]
    pub tls_log_session_info: bool,

    /// Password of an encrypted client key: env:VAR, env-b64:VAR, b64:BASE64, file:PATH, the
    /// password itself, or nothing to be asked on the terminal; also from the environment
    /// variable AS_TLS_KEYFILE_PASSWORD.
    #[arg(long, alias = "tlsKeyFilePassword", num_args = 0..=1, default_missing_value = "", require_equals = true,
          env = "AS_TLS_KEYFILE_PASSWORD", hide_env_values = true)]
    pub tls_keyfile_password: Option<String>,

    /// Allowed cipher suites, OpenSSL or IANA names separated by ':' (default: rustls's safe set).
    #[arg(long, alias = "tlsCipherSuite")]
    pub tls_cipher_suite: Option<String>,

    /// Check the nodes' certificates against the revocation lists in --tls-capath.
    #[arg(long, alias = "tlsCrlCheck")]
    pub tls_crl_check: bool,

    /// Check the whole certificate chain against the revocation lists in --tls-capath.
    #[arg(long, alias = "tlsCrlCheckAll")]
    pub tls_crl_check_all: bool,

    /// Not supported (deprecated in asbackup too).
    #[arg(long, alias = "tlsCertBlackList", hide = true)]
    pub tls_cert_blacklist: Option<String>,

    /// Use the nodes' alternate access addresses.
    #[arg(short = 'S', long, alias = "use-services-alternate")]
    pub services_alternate: bool,
}

impl ConnArgs {
    /// The rules asbackup and asrestore apply to these options (ranges are clap's).
    pub fn validate(&self) -> Result<(), Usage> {
        let auth = self.auth.to_ascii_uppercase();
        if (auth == "EXTERNAL" || auth == "PKI") && !self.tls_enable {
            return Err(Usage(format!("--auth {auth} needs --tls-enable")));
        }
        if auth == "PKI" && (self.tls_certfile.is_none() || self.tls_keyfile.is_none()) {
            return Err(Usage(
                "--auth PKI needs --tls-certfile and --tls-keyfile".into(),
            ));
        }
        if self.tls_cert_blacklist.is_some() {
            return Err(Usage("--tls-cert-blacklist is not supported (it is deprecated in asbackup too): use --tls-crl-check".into()));
        }
        Ok(())
    }

    pub fn seeds(&self) -> anyhow::Result<Vec<Seed>> {
        Ok(parse_seeds(&self.host, self.port)?)
    }

    /// The connection settings: TLS and credentials (which may ask for a password on the
    /// terminal, so only once the options are known to be good).
    pub fn settings(&self, timeout: Duration) -> anyhow::Result<ConnSettings> {
        let a = self;
        let tls = if a.tls_enable {
            let o = TlsOptions {
                cafile: a.tls_cafile.clone(),
                capath: a.tls_capath.clone(),
                certfile: a.tls_certfile.clone(),
                keyfile: a.tls_keyfile.clone(),
                protocols: a.tls_protocols.clone(),
                keyfile_password: a
                    .tls_keyfile_password
                    .as_deref()
                    .map(|p| secret_or_ask(p, "TLS key password: "))
                    .transpose()?,
                cipher_suites: a.tls_cipher_suite.clone(),
                crl_check: match (a.tls_crl_check_all, a.tls_crl_check) {
                    (true, _) => Some(tls::CrlCheck::Chain),
                    (false, true) => Some(tls::CrlCheck::Leaf),
                    _ => None,
                },
            };
            Some(tls::client_config(&o)?)
        } else {
            None
        };
        Ok(ConnSettings {
            timeout,
            creds: self.credentials()?,
            tls,
            tls_name: a.tls_name.clone(),
            log_tls_session: a.tls_log_session_info,
        })
    }

    fn credentials(&self) -> anyhow::Result<Option<Credentials>> {
        let mode = match self.auth.to_ascii_uppercase().as_str() {
            "PKI" => return Ok(Some(Credentials::pki())),
            "EXTERNAL" => AuthMode::External,
            "EXTERNAL_INSECURE" => AuthMode::ExternalInsecure,
            _ => AuthMode::Internal,
        };
        let Some(user) = &self.user else {
            return Ok(None);
        };
        let prompt = format!("Password for {user}: ");
        let password = secret_or_ask(self.password.as_deref().unwrap_or_default(), &prompt)?;
        Ok(Some(Credentials::new(user, &password, mode)))
    }
}
