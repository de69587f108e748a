//! One connection to a node: info requests, login, and sending and reading messages, with the
//! socket timeout applied to every read and write.

use super::ClientError;
use crate::wire::{self, info, WireError};
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

pub struct Conn {
    pub addr: SocketAddr,
    out: TcpStream,
    input: BufReader<TcpStream>,
    pub body: Vec<u8>,
}

/// Credentials: the user and the bcrypt hash of the password (what INTERNAL auth sends).
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub credential: String,
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
    /// Hashes the password with the fixed salt every Aerospike client uses.
    pub fn new(user: &str, password: &str) -> Self {
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
        }
    }
}

impl Conn {
    pub fn connect(
        addr: SocketAddr,
        timeout: Duration,
        creds: Option<&Credentials>,
    ) -> Result<Conn, ClientError> {
        let t = timeout.max(Duration::from_millis(1));
        let s = TcpStream::connect_timeout(&addr, t)
            .map_err(|e| ClientError::Connect(addr.to_string(), e))?;
        s.set_nodelay(true).ok();
        s.set_read_timeout(Some(t)).ok();
        s.set_write_timeout(Some(t)).ok();
        let input = BufReader::with_capacity(
            256 << 10,
            s.try_clone()
                .map_err(|e| ClientError::Connect(addr.to_string(), e))?,
        );
        let mut c = Conn {
            addr,
            out: s,
            input,
            body: Vec::new(),
        };
        if let Some(cr) = creds {
            c.login(cr)?;
        }
        Ok(c)
    }

    /// Resolves `host:port` and connects to the first address that answers.
    pub fn connect_host(
        host: &str,
        port: u16,
        timeout: Duration,
        creds: Option<&Credentials>,
    ) -> Result<Conn, ClientError> {
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| ClientError::Connect(format!("{host}:{port}"), e))?
            .collect();
        let mut last = None;
        for a in addrs {
            match Conn::connect(a, timeout, creds) {
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
        self.out.write_all(bytes).map_err(|e| self.io(e))
    }

    fn io(&self, e: std::io::Error) -> ClientError {
        ClientError::Wire(self.addr.to_string(), WireError::Io(e))
    }

    /// Reads the next proto into `self.body`; returns its type.
    pub fn read(&mut self) -> Result<u8, ClientError> {
        wire::read_proto(&mut self.input, &mut self.body)
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

    /// LOGIN with INTERNAL authentication.
    fn login(&mut self, creds: &Credentials) -> Result<(), ClientError> {
        const LOGIN: u8 = 20;
        let mut body = vec![0u8; 16];
        body[2] = LOGIN;
        body[3] = 2; // fields
        for (id, data) in [
            (0u8, creds.user.as_bytes()),
            (3u8, creds.credential.as_bytes()),
        ] {
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
