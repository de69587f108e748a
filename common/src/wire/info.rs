//! Info requests (proto type 1): names separated by LF; the reply is `name\tvalue\n` lines.

use super::{put_proto, TYPE_INFO};

/// A complete info request for these names.
pub fn request(names: &[&str]) -> Vec<u8> {
    let body: usize = names.iter().map(|n| n.len() + 1).sum();
    let mut out = Vec::with_capacity(8 + body);
    put_proto(&mut out, TYPE_INFO, body as u64);
    for n in names {
        out.extend_from_slice(n.as_bytes());
        out.push(b'\n');
    }
    out
}

/// A complete info reply.
pub fn reply(pairs: &[(String, String)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in pairs {
        body.extend_from_slice(k.as_bytes());
        body.push(b'\t');
        body.extend_from_slice(v.as_bytes());
        body.push(b'\n');
    }
    let mut out = Vec::with_capacity(8 + body.len());
    put_proto(&mut out, TYPE_INFO, body.len() as u64);
    out.extend_from_slice(&body);
    out
}

/// The (name, value) pairs of a reply body. A name without a tab has an empty value.
pub fn parse_reply(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('\t') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

/// Splits `k1=v1;k2=v2` (or `:`-separated, as `sindex-list` items are) into pairs.
pub fn kv(s: &str, sep: char) -> Vec<(&str, &str)> {
    s.split(sep)
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_reply_round_trip() {
        let req = request(&["node", "namespace/test"]);
        assert_eq!(&req[8..], b"node\nnamespace/test\n");
        let rep = reply(&[
            ("node".into(), "BB9".into()),
            ("x".into(), "a=1;b=2".into()),
        ]);
        let pairs = parse_reply(&rep[8..]);
        assert_eq!(pairs[0], ("node".to_string(), "BB9".to_string()));
        assert_eq!(kv(&pairs[1].1, ';'), vec![("a", "1"), ("b", "2")]);
    }
}
