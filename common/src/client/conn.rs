//! One connection to a node: info requests, login, and sending and reading messages, with the
//! socket timeout applied to every read and write.

use super::ClientError;
use crate::wire::{self, info, WireError};
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// A byte stream to a node: plain TCP or TLS over it.
trait Io: Read + Write + Send {}
impl<T: Read + Write + Send> Io for T {}

pub struct Conn {
    pub addr: SocketAddr,
    io: BufReader<Box<dyn Io>>,
    pub body: Vec<u8>,
}

static TLS_LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How to log in (asbackup's `--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// The bcrypt hash of the password.
    Internal,
    /// The password itself too, for LDAP and the like; over TLS.
    External,
    /// As External, allowed without TLS.
    ExternalInsecure,
    /// The TLS client certificate proves who connects; no password.
    Pki,
}

/// Credentials: the user, the bcrypt hash of the password (what INTERNAL auth sends) and, for
/// external authentication, the password itself.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub credential: String,
    pub clear: Option<String>,
    pub pki: bool,
}

/// Everything needed to open a connection to any node.
#[derive(Clone, Default)]
pub struct ConnSettings {
    pub timeout: Duration,
    pub creds: Option<Credentials>,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// TLS name for nodes that do not announce one (`--tls-name`).
    pub tls_name: Option<String>,
    /// Print the negotiated TLS parameters (once) on stderr.
    pub log_tls_session: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials {{ user: {:?}, credential: <hidden> }}",
            self.user
        )
    }
}

impl Credentials {
    /// PKI: the TLS client certificate logs in.
    pub fn pki() -> Self {
        Credentials {
            user: String::new(),
            credential: String::new(),
            clear: None,
            pki: true,
        }
    }

    /// Hashes the password with the fixed salt every Aerospike client uses.
    pub fn new(user: &str, password: &str, mode: AuthMode) -> Self {
        use base64::alphabet::BCRYPT;
        use base64::engine::{general_purpose::NO_PAD, GeneralPurpose};
        use base64::Engine;
        let salt: [u8; 16] = GeneralPurpose::new(&BCRYPT, NO_PAD)
            .decode("7EqJtq98hPqEX7fNZaFWoO")
            .expect("the fixed salt decodes")
            .try_into()
            .expect("the fixed salt is 16 bytes");
        let credential = bcrypt::hash_with_salt(password, 10, salt)
            .map(|h| h.format_for_version(bcrypt::Version::TwoA))
            .expect("bcrypt of a password");
        Credentials {
            user: user.to_string(),
            credential,
            clear: (mode != AuthMode::Internal).then(|| password.to_string()),
            pki: false,
        }
    }
}

impl Conn {
    /// Connects, with TLS when the settings have it (verifying the node as `tls_name`), and logs in.
    pub fn connect(
        addr: SocketAddr,
        tls_name: Option<&str>,
        s: &ConnSettings,
    ) -> Result<Conn, ClientError> {
        let t = s.timeout.max(Duration::from_millis(1));
        let fail = |e: std::io::Error| ClientError::Connect(addr.to_string(), e);
        let tcp = TcpStream::connect_timeout(&addr, t).map_err(fail)?;
        tcp.set_nodelay(true).ok();
        tcp.set_read_timeout(Some(t)).ok();
        tcp.set_write_timeout(Some(t)).ok();
        let io: Box<dyn Io> = match &s.tls {
            None => Box::new(tcp),
            Some(config) => {
                let name = tls_name
                    .or(s.tls_name.as_deref())
                    .map(str::to_string)
                    .unwrap_or_else(|| addr.ip().to_string());
                let server =
                    rustls::pki_types::ServerName::try_from(name.clone()).map_err(|_| {
                        ClientError::Protocol(
                            addr.to_string(),
                            format!("invalid TLS name {name:?}"),
                        )
                    })?;
                let mut session = rustls::ClientConnection::new(config.clone(), server)
                    .map_err(|e| ClientError::Protocol(addr.to_string(), format!("TLS: {e}")))?;
                let mut tcp = tcp;
                // Handshake now, so that a certificate problem is reported as such.
                while session.is_handshaking() {
                    session
                        .complete_io(&mut tcp)
                        .map_err(|e| ClientError::Tls(addr.to_string(), e.to_string()))?;
                }
                if s.log_tls_session && !TLS_LOGGED.swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    tracing::info!(
                        "TLS with {addr} ({name}): {:?}, {:?}",
                        session.protocol_version(),
                        session.negotiated_cipher_suite().map(|c| c.suite())
                    );
                }
                Box::new(rustls::StreamOwned::new(session, tcp))
            }
        };
        let mut c = Conn {
            addr,
            io: BufReader::with_capacity(256 << 10, io),
            body: Vec::new(),
        };
        if let Some(cr) = &s.creds {
            c.login(cr)?;
        }
        Ok(c)
    }

    /// Resolves `host:port` and connects to the first address that answers.
    pub fn connect_host(
        host: &str,
        port: u16,
        tls_name: Option<&str>,
        s: &ConnSettings,
    ) -> Result<Conn, ClientError> {
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| ClientError::Connect(format!("{host}:{port}"), e))?
            .collect();
        let mut last = None;
        // Without an explicit TLS name, a seed given by name is verified by that name.
        let name = tls_name.or(s.tls_name.as_deref()).or(Some(host));
        for a in addrs {
            match Conn::connect(a, name, s) {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            ClientError::Connect(
                format!("{host}:{port}"),
                std::io::Error::other("no address"),
            )
        }))
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let out = self.io.get_mut();
        out.write_all(bytes)
            .and_then(|_| out.flush())
            .map_err(|e| ClientError::Wire(self.addr.to_string(), WireError::Io(e)))
    }

    /// Reads the next proto into `self.body`; returns its type.
    pub fn read(&mut self) -> Result<u8, ClientError> {
        wire::read_proto(&mut self.io, &mut self.body)
            .map_err(|e| ClientError::Wire(self.addr.to_string(), e))
    }

    /// Sends info requests and returns the values in the order asked (missing ones empty).
    pub fn info(&mut self, names: &[&str]) -> Result<Vec<String>, ClientError> {
        self.send(&info::request(names))?;
        let t = self.read()?;
        if t != wire::TYPE_INFO {
            return Err(ClientError::Protocol(
                self.addr.to_string(),
                format!("info reply of type {t}"),
            ));
        }
        let pairs = info::parse_reply(&self.body);
        Ok(names
            .iter()
            .map(|n| {
                pairs
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
            .collect())
    }

    pub fn info1(&mut self, name: &str) -> Result<String, ClientError> {
        Ok(self.info(&[name])?.remove(0))
    }

    /// LOGIN: user and password hash (INTERNAL), plus the password itself (EXTERNAL), or no
    /// fields at all (PKI: the TLS client certificate speaks).
    fn login(&mut self, creds: &Credentials) -> Result<(), ClientError> {
        const LOGIN: u8 = 20;
        const USER: u8 = 0;
        const CREDENTIAL: u8 = 3;
        const CLEAR_PASSWORD: u8 = 4;
        let mut fields = Vec::new();
        if !creds.pki {
            fields.push((USER, creds.user.as_bytes()));
            fields.push((CREDENTIAL, creds.credential.as_bytes()));
            if let Some(clear) = &creds.clear {
                fields.push((CLEAR_PASSWORD, clear.as_bytes()));
            }
        }
        let mut body = vec![0u8; 16];
        body[2] = LOGIN;
        body[3] = fields.len() as u8;
        for (id, data) in fields {
            body.extend_from_slice(&(data.len() as u32 + 1).to_be_bytes());
            body.push(id);
            body.extend_from_slice(data);
        }
        let mut msg = Vec::with_capacity(8 + body.len());
        wire::put_proto(&mut msg, wire::TYPE_ADMIN, body.len() as u64);
        msg.extend_from_slice(&body);
        self.send(&msg)?;
        self.read()?;
        match self.body.get(1).copied() {
            Some(0) => Ok(()),
            Some(code) => Err(ClientError::Auth {
                addr: self.addr.to_string(),
                code,
            }),
            None => Err(ClientError::Protocol(
                self.addr.to_string(),
                "short login reply".into(),
            )),
        }
    }
}
