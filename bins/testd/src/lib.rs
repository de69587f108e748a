//! `as-testd`: a wire-compatible Aerospike test server on loopback.
//!
//! Several nodes in one process share the data; the 4096 partitions of every namespace are
//! dealt out among the live nodes, each node lists the others as peers, and info commands
//! (`testd-fault`, `testd-kill`, `testd-revive`) inject faults. It speaks enough of the protocol
//! for the official clients to write, read, delete and scan, and for as-scan to back it up.

mod batch;
mod check;
mod exp;
mod info;
mod scan;
pub mod store;
mod write;

use anyhow::Context;
use as_common::wire::{self, flags, result, Msg, MsgHeader, MsgWriter, WireError};
use clap::Parser;
use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use store::{Namespace, PARTITIONS};

/// Run a wire-compatible Aerospike test server on loopback.
///
/// Starts NODES nodes on consecutive ports from PORT (0 picks free ports) that together serve the
/// namespaces given with -n. The official clients and as-scan talk to it as to a real cluster:
/// writes, reads, deletes and partition scans with digest resume, info commands, secondary-index
/// and UDF definitions. When all nodes listen, one line `ready PORT[,PORT...]` is printed on
/// standard output. Data lives in memory only.
///
/// Fault knobs, sent as info commands to any node: `testd-fault:drop-after=K;node=I` (node I
/// drops its scan connection after K more records, once), `testd-fault:unavailable=P-Q;times=T`
/// (partitions P to Q answer "unavailable" to the next T scans), `testd-fault:stall=MS;node=I`
/// (node I stalls MS milliseconds before its next scan reply), `testd-kill:node=I` and
/// `testd-revive:node=I` (take a node away and back; partitions move to the live nodes).
/// Test-only, copying no server behaviour: `testd-fault:alter-bin=DIGEST` (base64) flips the last
/// byte of that record's first bin, keeping its generation and last-update time (a change only
/// `as-verify --cluster --deep` sees).
#[derive(Parser, Debug)]
#[command(name = "as-testd", version, max_term_width = 100, after_long_help = as_cli::EXIT_STATUS_HELP)]
pub struct Args {
    /// First port; 0 lets the system pick free ports.
    #[arg(short, long, default_value_t = 3000)]
    pub port: u16,

    /// Number of nodes.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,

    /// A namespace to serve (repeatable).
    #[arg(short = 'n', long = "namespace", default_values_t = ["test".to_string(), "bar".to_string()])]
    pub namespaces: Vec<String>,

    /// Require this user to log in (with --password).
    #[arg(short = 'U', long, requires = "password")]
    pub user: Option<String>,

    /// The user's password.
    #[arg(short = 'P', long, env = "AS_TESTD_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// Server version to report in the `build` info command.
    #[arg(long, default_value = "8.1.2.0")]
    pub build: String,

    /// Copies of each partition: a master and (N - 1) replicas on the next nodes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8))]
    pub replication_factor: u16,

    /// Rack id of each node, comma-separated (default: all in rack 0).
    #[arg(long, value_delimiter = ',')]
    pub racks: Vec<u32>,

    /// Serve TLS: write a fresh CA (ca.pem), and a client certificate and key for PKI login
    /// (client.pem, client.key), into this directory. Nodes announce the TLS name "testd".
    #[arg(long)]
    pub tls: Option<std::path::PathBuf>,

    /// Send a partition-done message with result OK after each partition a scan finished, as
    /// servers before 8 could; an 8.x server sends one only for a partition it cannot scan.
    #[arg(long)]
    pub legacy_partition_done: bool,

    /// Start with this many generated sample records (as as-gen makes them, seed 1) in the first
    /// namespace, with its secondary indexes and UDF module.
    #[arg(long, default_value_t = 0)]
    pub sample: u64,
}

/// A particle as the server stores it: GeoJSON gets its header (flags, no cells).
fn wire_particle(ptype: u8, data: &[u8]) -> Vec<u8> {
    if ptype == as_common::record::particle::GEOJSON {
        let mut v = vec![0, 0, 0];
        v.extend_from_slice(data);
        v
    } else {
        data.to_vec()
    }
}

/// Fills the first namespace with generated records; digests are computed from the keys as the
/// server does, so clients find the records.
fn load_sample(cluster: &Cluster, n: u64) {
    use as_common::gen::Generator;
    let Some(ns) = cluster.namespaces.first().filter(|_| n > 0) else {
        return;
    };
    let mut g = Generator::new(1, ns.name.as_bytes());
    for s in g.sindexes() {
        ns.sindexes.lock().unwrap().push(store::IndexDef {
            name: String::from_utf8_lossy(&s.name).into_owned(),
            set: s.set.map(|x| String::from_utf8_lossy(&x).into_owned()),
            bin: String::from_utf8_lossy(&s.bin).into_owned(),
            data_type: match s.data_type {
                as_common::record::IndexDataType::Numeric => "numeric",
                as_common::record::IndexDataType::String => "string",
                as_common::record::IndexDataType::Geo => "geo2dsphere",
                as_common::record::IndexDataType::Blob => "blob",
            }
            .into(),
            index_type: match s.index_type {
                as_common::record::IndexType::Default => "default",
                as_common::record::IndexType::List => "list",
                as_common::record::IndexType::MapKeys => "mapkeys",
                as_common::record::IndexType::MapValues => "mapvalues",
            }
            .into(),
            context: s.context.map(|c| String::from_utf8_lossy(&c).into_owned()),
        });
    }
    for u in g.udfs() {
        cluster.udfs.lock().unwrap().push((
            String::from_utf8_lossy(&u.name).into_owned(),
            u.content.into_owned(),
        ));
    }
    let now = store::now_ns();
    for _ in 0..n {
        let r = g.record();
        let set = r.set.as_deref().unwrap_or_default().to_vec();
        let digest = match &r.key {
            Some(k) => as_common::wire::digest(&set, k),
            None => r.digest,
        };
        let stored = store::Stored {
            key: r.key.as_ref().map(|k| (k.ptype, k.data.to_vec())),
            set,
            generation: r.generation,
            // The generator's expiries are absolute; keep them in the future.
            void_time: if r.expiry == 0 {
                0
            } else {
                store::now_cl() + 30 * 86400 + r.expiry % 86400
            },
            lut_ns: now,
            bins: r
                .bins
                .iter()
                .map(|b| {
                    (
                        b.name.to_vec(),
                        b.value.ptype,
                        wire_particle(b.value.ptype, &b.value.data),
                    )
                })
                .collect(),
        };
        ns.parts[store::partition_of(&digest)]
            .lock()
            .unwrap()
            .insert(digest, stored);
    }
}

/// One-shot faults to inject, set by the `testd-fault` info command.
#[derive(Default, Debug)]
pub struct Faults {
    /// (node, records): that node drops its scan connection after this many more records.
    pub drop_after: Option<(usize, u64)>,
    /// Partition → how many more scans it answers "unavailable".
    pub unavailable: BTreeMap<u16, u32>,
    /// (node, milliseconds) to stall before the next scan reply.
    pub stall: Option<(usize, u64)>,
    /// (result code, times): the next writes (single or batch rows) answer this code.
    pub write_error: Option<(u8, u32)>,
    /// Batches: the next this many batch requests have their connection cut unanswered.
    pub cut_batches: u32,
}

pub struct Node {
    pub index: usize,
    pub name: String,
    pub port: u16,
    pub alive: AtomicBool,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    pub namespaces: Vec<Namespace>,
    /// UDF modules by name, in the order they were put (the recorded server lists them so).
    pub udfs: Mutex<Vec<(String, Vec<u8>)>>,
    pub faults: Mutex<Faults>,
    /// Bumped whenever partition ownership changes; 0 on a fresh one-node cluster, as recorded.
    pub generation: AtomicU64,
    /// See [`Args::legacy_partition_done`].
    pub legacy_partition_done: bool,
    pub credentials: Option<(String, String)>,
    pub build: String,
    /// Copies of each partition (master and replicas).
    pub replication: usize,
    /// Rack id of each node.
    pub racks: Vec<u32>,
    /// Whether racks were configured: `rack-ids` is enterprise-only on a CE server, as is TLS.
    pub racks_given: bool,
    /// Records each node has sent in scans, for tests (`testd-stats`).
    pub scanned: Vec<AtomicU64>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// The TLS name the nodes' certificate carries.
pub const TLS_NAME: &str = "testd";

/// Makes a CA, a server certificate for `testd`, `localhost` and 127.0.0.1, and a client
/// certificate; writes the CA and the client's pair into `dir`.
fn tls_setup(dir: &std::path::Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "as-testd CA");
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let node_key = KeyPair::generate()?;
    let node = CertificateParams::new(vec![
        TLS_NAME.into(),
        "localhost".into(),
        "127.0.0.1".into(),
    ])?
    .signed_by(&node_key, &issuer)?;
    let client_key = KeyPair::generate()?;
    let mut client_params = CertificateParams::new(Vec::<String>::new())?;
    client_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "pki-user");
    let client = client_params.signed_by(&client_key, &issuer)?;
    std::fs::write(dir.join("ca.pem"), ca.pem())?;
    // An empty revocation list signed by the CA, for clients that check CRLs.
    let crl = rcgen::CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(2024, 1, 1),
        next_update: rcgen::date_time_ymd(2099, 1, 1),
        crl_number: rcgen::SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: Vec::new(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(&issuer)?;
    std::fs::write(dir.join("ca.crl"), crl.pem()?)?;
    std::fs::write(dir.join("client.pem"), client.pem())?;
    std::fs::write(dir.join("client.key"), client_key.serialize_pem())?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca.der().to_vec()))?;
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(node.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(node_key.serialize_der())),
        )?;
    Ok(Arc::new(config))
}

impl Cluster {
    pub fn namespace(&self, name: &[u8]) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.name.as_bytes() == name)
    }

    pub fn live(&self) -> Vec<usize> {
        self.nodes
            .iter()
            .filter(|n| n.alive.load(Ordering::SeqCst))
            .map(|n| n.index)
            .collect()
    }

    /// The node that masters partition `p`, dealt round-robin over the live nodes.
    pub fn owner(&self, p: usize) -> Option<usize> {
        self.replica(p, 0)
    }

    /// The node holding copy `k` of partition `p` (0 = master): the next live nodes after the
    /// master, while there are enough of them.
    pub fn replica(&self, p: usize, k: usize) -> Option<usize> {
        let live = self.live();
        (k < self.replication.min(live.len())).then(|| live[(p + k) % live.len()])
    }

    /// Whether `node` may serve partition `p` now (consuming an "unavailable" fault).
    pub fn serves(&self, node: usize, p: usize) -> bool {
        let mut f = self.faults.lock().unwrap();
        if let Some(n) = f.unavailable.get_mut(&(p as u16)) {
            *n -= 1;
            if *n == 0 {
                f.unavailable.remove(&(p as u16));
            }
            return false;
        }
        (0..self.replication).any(|k| self.replica(p, k) == Some(node))
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut listeners = Vec::new();
    for i in 0..args.nodes.max(1) {
        let port = if args.port == 0 {
            0
        } else {
            args.port + i as u16
        };
        let l = TcpListener::bind(("127.0.0.1", port))
            .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
        listeners.push(l);
    }
    let nodes = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(Node {
                index: i,
                // 15 hex digits, as the recorded node's BB901000000FC02.
                name: format!("BB9{:012X}", 0x2000 + i),
                port: l.local_addr()?.port(),
                alive: AtomicBool::new(true),
            })
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let cluster = Arc::new(Cluster {
        nodes,
        namespaces: args.namespaces.iter().map(|n| Namespace::new(n)).collect(),
        udfs: Mutex::new(Vec::new()),
        faults: Mutex::new(Faults::default()),
        generation: AtomicU64::new(0),
        legacy_partition_done: args.legacy_partition_done,
        credentials: args.user.zip(args.password),
        build: args.build,
        tls: args.tls.as_deref().map(tls_setup).transpose()?,
        replication: args.replication_factor as usize,
        racks_given: !args.racks.is_empty(),
        racks: (0..args.nodes.max(1))
            .map(|i| args.racks.get(i).copied().unwrap_or(0))
            .collect(),
        scanned: (0..args.nodes.max(1)).map(|_| AtomicU64::new(0)).collect(),
    });
    load_sample(&cluster, args.sample);
    let ports: Vec<String> = cluster.nodes.iter().map(|n| n.port.to_string()).collect();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {}", ports.join(","))?;
    out.flush()?;
    drop(out);

    let mut handles = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let c = cluster.clone();
        handles.push(std::thread::spawn(move || accept_loop(c, i, l)));
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

fn accept_loop(cluster: Arc<Cluster>, node: usize, listener: TcpListener) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        if !cluster.nodes[node].alive.load(Ordering::SeqCst) {
            continue; // a node taken away refuses service: the connection is dropped
        }
        let c = cluster.clone();
        std::thread::spawn(move || {
            let _ = conn.set_nodelay(true);
            if let Err(e) = serve(&c, node, conn) {
                if !matches!(e, WireError::Closed) && std::env::var_os("AS_TESTD_DEBUG").is_some() {
                    eprintln!("as-testd: node {node}: {e}");
                }
            }
        });
    }
}

/// A byte stream to a client: plain TCP or TLS over it.
pub trait Io: Read + Write + Send {}
impl<T: Read + Write + Send> Io for T {}

/// Per-connection state.
pub struct Conn {
    io: BufReader<Box<dyn Io>>,
    /// The socket under `io`, to cut the connection for fault injection.
    tcp: TcpStream,
    pub authenticated: bool,
    /// Whether the client showed a certificate our CA signed (PKI login).
    pub client_cert: bool,
}

impl Conn {
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let out = self.io.get_mut();
        out.write_all(bytes)?;
        out.flush()?;
        Ok(())
    }

    /// Drops the connection abruptly.
    pub fn cut(&mut self) {
        let _ = self.tcp.shutdown(std::net::Shutdown::Both);
    }
}

fn serve(cluster: &Cluster, node: usize, stream: TcpStream) -> Result<(), WireError> {
    let tcp = stream.try_clone()?;
    let (io, client_cert): (Box<dyn Io>, bool) = match &cluster.tls {
        None => (Box::new(stream), false),
        Some(config) => {
            let mut session = rustls::ServerConnection::new(config.clone())
                .map_err(|e| WireError::Io(std::io::Error::other(e)))?;
            let mut stream = stream;
            while session.is_handshaking() {
                session.complete_io(&mut stream)?;
            }
            let cert = session.peer_certificates().is_some_and(|c| !c.is_empty());
            (Box::new(rustls::StreamOwned::new(session, stream)), cert)
        }
    };
    let mut conn = Conn {
        io: BufReader::with_capacity(64 << 10, io),
        tcp,
        authenticated: cluster.credentials.is_none(),
        client_cert,
    };
    let mut body = Vec::new();
    loop {
        let ptype = wire::read_proto(&mut conn.io, &mut body)?;
        if !cluster.nodes[node].alive.load(Ordering::SeqCst) {
            return Err(WireError::Closed);
        }
        match ptype {
            wire::TYPE_INFO => {
                let reply = info::handle(cluster, node, &body, conn.authenticated);
                conn.write(&reply)?;
            }
            wire::TYPE_ADMIN => admin(cluster, &mut conn, &body)?,
            wire::TYPE_MSG => {
                if !conn.authenticated {
                    reply_code(&mut conn, result::NOT_AUTHENTICATED)?;
                    continue;
                }
                let (msg, _) = Msg::parse(&body)?;
                dispatch(cluster, node, &mut conn, &msg)?;
            }
            _ => return Err(WireError::Malformed("unsupported proto type")),
        }
    }
}

fn dispatch(cluster: &Cluster, node: usize, conn: &mut Conn, msg: &Msg) -> Result<(), WireError> {
    let h = &msg.header;
    if h.info1 & BATCH != 0 {
        return batch::batch(cluster, conn, msg);
    }
    let is_scan = h.info1 & flags::INFO1_READ != 0
        && h.info2 & flags::INFO2_WRITE == 0
        && msg.field(wire::field::DIGEST).is_none();
    if is_scan {
        return scan::scan(cluster, node, conn, msg);
    }
    let reply = write::single(cluster, msg);
    conn.write(&reply)
}

/// info1 bit of a batch command (server-behaviours S14).
const BATCH: u8 = 1 << 3;

/// An error reply: one message with the result code and nothing else, not even LAST; the
/// server then waits for the client (server-behaviours S8).
pub fn reply_code(conn: &mut Conn, code: u8) -> Result<(), WireError> {
    let mut w = MsgWriter::new();
    w.begin_proto();
    w.message(&MsgHeader {
        result: code,
        ..Default::default()
    });
    conn.write(w.finish())
}

/// Admin protocol (proto type 2): only LOGIN and AUTHENTICATE. Clients send the bcrypt hash of
/// the password (INTERNAL) or the password itself (EXTERNAL); both are checked.
fn admin(cluster: &Cluster, conn: &mut Conn, body: &[u8]) -> Result<(), WireError> {
    const LOGIN: u8 = 20;
    const AUTHENTICATE: u8 = 0;
    const USER: u8 = 0;
    const CREDENTIAL: u8 = 3;
    const CLEAR_PASSWORD: u8 = 4;
    if body.len() < 16 {
        return Err(WireError::Malformed("short admin message"));
    }
    let command = body[2];
    let n_fields = body[3] as usize;
    let mut rest = &body[16..];
    let (mut user, mut secret) = (Vec::new(), Vec::new());
    for _ in 0..n_fields {
        if rest.len() < 5 {
            return Err(WireError::Malformed("short admin field"));
        }
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        if len == 0 || rest.len() < 4 + len {
            return Err(WireError::Malformed("admin field past the end"));
        }
        let (id, data) = (rest[4], &rest[5..4 + len]);
        match id {
            USER => user = data.to_vec(),
            CREDENTIAL | CLEAR_PASSWORD => secret = data.to_vec(),
            _ => {}
        }
        rest = &rest[4 + len..];
    }
    let code = match &cluster.credentials {
        None => result::OK,
        // PKI: no fields; the verified client certificate is the proof.
        Some(_) if n_fields == 0 && command == LOGIN => {
            if conn.client_cert {
                result::OK
            } else {
                result::INVALID_CREDENTIAL
            }
        }
        Some((u, p)) if command == LOGIN || command == AUTHENTICATE => {
            if u.as_bytes() != user.as_slice() {
                result::INVALID_USER
            } else if secret == p.as_bytes()
                || bcrypt::verify(p, &String::from_utf8_lossy(&secret)).unwrap_or(false)
            {
                result::OK
            } else {
                result::INVALID_CREDENTIAL
            }
        }
        Some(_) => result::OK,
    };
    if code == result::OK {
        conn.authenticated = true;
    }
    let mut reply = Vec::with_capacity(24);
    wire::put_proto(&mut reply, wire::TYPE_ADMIN, 16);
    reply.extend_from_slice(&[0, code]);
    reply.extend_from_slice(&[0; 14]);
    conn.write(&reply)
}

/// The partitions a node masters, as the `replicas` bitmap (bit 0x80 >> (p % 8) of byte p / 8).
pub fn ownership_bitmap(cluster: &Cluster, node: usize, copy: usize) -> Vec<u8> {
    let mut bits = vec![0u8; PARTITIONS / 8];
    for p in 0..PARTITIONS {
        if cluster.replica(p, copy) == Some(node) {
            bits[p >> 3] |= 0x80 >> (p & 7);
        }
    }
    bits
}
