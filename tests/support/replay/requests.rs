//! Requests of our own made from the captures (writes that load recorded records, a scan of
//! some partitions), and a proxy that keeps what a client sends, to compare with the recorded
//! clients' requests.

use super::{exchanges, hex, split_protos, wire_dir, Proto};
use as_common::wire::{field, flags, Msg, MsgHeader, MsgWriter, TYPE_MSG};
use std::io::{Read, Write};
use std::net::TcpStream;

/// The record messages of recorded replies, as write requests that store each as it was read
/// (never expiring; only for data whose void time is 0).
pub fn writes_of(scenario: &str, conn: usize, keep: impl Fn(&[u8; 20]) -> bool) -> Vec<Proto> {
    let path = wire_dir()
        .join(scenario)
        .join(format!("conn-{conn:02}.s2c"));
    let mut out = Vec::new();
    for p in split_protos(&crate::fixture(&path)) {
        if p.ptype != TYPE_MSG {
            continue;
        }
        for m in p.msgs() {
            let Some(d) = m
                .field(field::DIGEST)
                .and_then(|d| <[u8; 20]>::try_from(d).ok())
            else {
                continue;
            };
            if m.header.info3 != 0 || !keep(&d) {
                continue;
            }
            assert_eq!(
                m.header.ttl, 0,
                "writes_of keeps only records that never expire"
            );
            let fields: Vec<_> = m.fields.iter().map(|f| (f.ftype, f.data)).collect();
            let ops: Vec<_> = m.ops.iter().map(|o| (o.name, o.ptype, o.value)).collect();
            out.push(write(&fields, &ops));
        }
    }
    out
}

/// A write of one record that never expires, with a single bin.
pub fn write_of(
    ns: &[u8],
    set: &[u8],
    digest: &[u8; 20],
    bin: &[u8],
    ptype: u8,
    value: &[u8],
) -> Proto {
    write(
        &[
            (field::NAMESPACE, ns),
            (field::SET, set),
            (field::DIGEST, digest),
        ],
        &[(bin, ptype, value)],
    )
}

fn write(fields: &[(u8, &[u8])], ops: &[(&[u8], u8, &[u8])]) -> Proto {
    let mut w = as_common::wire::MsgWriter::new();
    w.begin_proto();
    w.message(&as_common::wire::MsgHeader {
        info2: flags::INFO2_WRITE,
        ttl: u32::MAX,
        ..Default::default()
    });
    for (t, d) in fields {
        w.field(*t, d);
    }
    for (name, ptype, value) in ops {
        w.op(as_common::wire::op::WRITE, *ptype, name, value);
    }
    Proto {
        ptype: TYPE_MSG,
        body: w.finish()[8..].to_vec(),
    }
}

/// A loopback proxy in front of `upstream` that keeps the bytes clients send, to compare our
/// requests with the recorded clients'.
pub struct Recorder {
    pub port: u16,
    sent: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl Recorder {
    pub fn start(upstream: u16) -> Recorder {
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let keep = sent.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                let slot = {
                    let mut s = keep.lock().unwrap();
                    s.push(Vec::new());
                    s.len() - 1
                };
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let keep = keep.clone();
                std::thread::spawn(move || {
                    let mut b = [0u8; 65536];
                    while let Ok(n) = c_in.read(&mut b) {
                        // Recorded before it is passed on: once the server has it, the client
                        // may have its answer and the test look at what was sent.
                        keep.lock().unwrap()[slot].extend_from_slice(&b[..n]);
                        if n == 0 || s_out.write_all(&b[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s_out.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_in, mut c_out) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_in, &mut c_out);
                    let _ = c_out.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Recorder { port, sent }
    }

    /// The msg requests sent so far, connection by connection.
    pub fn msg_requests(&self) -> Vec<Proto> {
        let sent = self.sent.lock().unwrap();
        sent.iter()
            .flat_map(|c| split_protos(c))
            .filter(|p| p.ptype == TYPE_MSG)
            .collect()
    }
}

/// The msg requests of a recorded connection.
pub fn recorded_msg_requests(scenario: &str, conn: usize) -> Vec<Proto> {
    exchanges(scenario, conn)
        .into_iter()
        .map(|x| x.request)
        .filter(|p| p.ptype == TYPE_MSG)
        .collect()
}

/// A scan request reduced to what a server acts on: the header, the fields in order (the
/// transaction id and the socket timeout's value are the client's own) and the ops.
pub fn request_shape(p: &Proto) -> String {
    let (m, _) = Msg::parse(&p.body).expect("a well-formed request");
    let h = m.header;
    let mut out = format!(
        "info={:02x},{:02x},{:02x},{:02x} gen={} ttl={:#x} txn_ttl={}",
        h.info1, h.info2, h.info3, h.info4, h.generation, h.ttl, h.timeout
    );
    for f in &m.fields {
        match f.ftype {
            field::QUERY_ID | field::SOCKET_TIMEOUT => out += &format!(" f{}", f.ftype),
            _ => out += &format!(" f{}={}", f.ftype, hex(f.data)),
        }
    }
    for o in &m.ops {
        out += &format!(
            " op{}/{}:{:?}={}",
            o.op,
            o.ptype,
            String::from_utf8_lossy(o.name),
            hex(o.value)
        );
    }
    out
}

/// A scan of these partitions of `ns`, as the clients send one.
pub fn scan_of(ns: &[u8], pids: impl IntoIterator<Item = u16>) -> Proto {
    let mut w = MsgWriter::new();
    w.begin_proto();
    w.message(&MsgHeader {
        info1: flags::INFO1_READ,
        info3: flags::INFO3_PARTITION_DONE,
        ..Default::default()
    });
    w.field(field::NAMESPACE, ns);
    let pids: Vec<u8> = pids.into_iter().flat_map(u16::to_le_bytes).collect();
    w.field(field::PID_ARRAY, &pids);
    Proto {
        ptype: TYPE_MSG,
        body: w.finish()[8..].to_vec(),
    }
}
