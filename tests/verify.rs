//! Backups that prove themselves: every backup as-split writes carries a manifest, and every
//! kind of damage to a backup, in each way it can be stored (plain, zstd, encrypted, both; a
//! directory or one file), is found by as-verify and named, and fails a restore naming the file
//! (none restores without the failure); --verify-first writes nothing at all.

use as_test_support as support;

use std::path::{Path, PathBuf};
use support::{run, tool, TestServer};

/// How a backup's files are stored, as as-split's options say.
const STORAGES: &[(&str, &[&str])] = &[
    ("plain", &[]),
    ("zstd", &["-z", "zstd"]),
    (
        "aes",
        &["--encrypt", "aes256", "--encryption-key-file", "KEY"],
    ),
    (
        "zstd-aes",
        &[
            "-z",
            "zstd",
            "--encrypt",
            "aes128",
            "--encryption-key-file",
            "KEY",
        ],
    ),
];

fn key() -> String {
    support::samples()
        .join("encrypted/key.pem")
        .to_string_lossy()
        .into_owned()
}

/// A generated record stream of `n` records (seed `seed`) in namespace test.
fn stream(n: u32, seed: u32) -> Vec<u8> {
    let (code, out, err) = run(
        tool("as-gen"),
        &[
            "--count",
            &n.to_string(),
            "--seed",
            &seed.to_string(),
            "--namespace",
            "test",
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    out
}

/// Writes a backup of `input` stored as `opts` into `dest` (a directory, or with `-o` one file).
fn backup(input: &[u8], opts: &[&str], dest: &[&str]) {
    let key = key();
    let opts: Vec<&str> = opts
        .iter()
        .map(|o| if *o == "KEY" { key.as_str() } else { o })
        .collect();
    let args = [dest, &opts[..]].concat();
    let (code, _, err) = run(tool("as-split"), &args, input);
    assert_eq!(code, 0, "{err}");
}

/// Whether the backup's manifest says it is encrypted.
fn encrypted(backup: &Path) -> bool {
    std::fs::read(manifest_of(backup))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| !v["stored"]["encryption"].is_null())
}

/// as-verify's (status, stdout + stderr), with the key when the backup is encrypted.
fn verify(target: &Path, extra: &[&str]) -> (i32, String) {
    let key = key();
    let mut args = vec![target.to_str().unwrap()];
    if encrypted(target) {
        args.extend(["--encryption-key-file", key.as_str()]);
    }
    args.extend_from_slice(extra);
    let (code, out, err) = run(tool("as-verify"), &args, b"");
    (code, format!("{}{err}", String::from_utf8_lossy(&out)))
}

/// Flips one bit in the middle of a file's stored bytes; in a plain file, in the base64 of a
/// record's digest (a lower-case letter to another: still base64, so only its digest tells).
fn flip_bit(path: &Path, plain: bool) {
    let mut b = std::fs::read(path).unwrap();
    let at = if plain {
        let start = b.len() / 2;
        let line = start + find(&b[start..], b"\n+ d ").unwrap() + 5;
        line + b[line..]
            .iter()
            .position(|c| (b'a'..=b'x').contains(c))
            .unwrap()
    } else {
        b.len() / 2
    };
    b[at] ^= 0x02;
    std::fs::write(path, b).unwrap();
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn edit_manifest(path: &Path, f: impl Fn(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// One kind of damage: its name, what it does to a backup (the backup's path, its first data
/// file, another backup of the same namespace stored the same way), and what as-verify must
/// say (a part of its output).
type Damage = (&'static str, fn(&Path, &Path, &Path, bool) -> String);

fn damages() -> Vec<Damage> {
    vec![
        ("bit", |_, file, _, plain| {
            flip_bit(file, plain);
            format!("{}: damaged", file.display())
        }),
        ("truncated", |_, file, _, _| {
            let b = std::fs::read(file).unwrap();
            std::fs::write(file, &b[..b.len() / 2]).unwrap();
            "(truncated or replaced)".into()
        }),
        ("swapped", |_, file, other, _| {
            std::fs::copy(other, file).unwrap();
            format!("{}", file.file_name().unwrap().to_string_lossy())
        }),
        ("digest-edited", |backup, file, _, _| {
            edit_manifest(&manifest_of(backup), |v| {
                entry_of(v, file)["sha256"] = "00".repeat(32).into();
            });
            format!("{}: damaged", file.display())
        }),
        ("count-edited", |backup, file, _, _| {
            // Consistently: the file's count, the totals and one partition's, so only reading
            // the file tells.
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            edit_manifest(&manifest_of(backup), |v| {
                let f = entry_of(v, file);
                f["records"] = (f["records"].as_u64().unwrap() + 1).into();
                v["totals"]["records"] = (v["totals"]["records"].as_u64().unwrap() + 1).into();
                let p = v["partitions"].as_str().unwrap().to_string();
                let (first, rest) = p.split_once(' ').unwrap();
                let first = match first.split_once('*') {
                    Some((c, n)) => format!(
                        "{} {c}*{}",
                        c.parse::<u64>().unwrap() + 1,
                        n.parse::<u64>().unwrap() - 1
                    ),
                    None => (first.parse::<u64>().unwrap() + 1).to_string(),
                };
                v["partitions"] = format!("{first} {rest}").into();
            });
            format!("{name}: ")
        }),
    ]
}

/// The manifest's entry of `file` (of a one-file backup: its one entry, whatever its name).
fn entry_of<'a>(v: &'a mut serde_json::Value, file: &Path) -> &'a mut serde_json::Value {
    let name = file.file_name().unwrap().to_string_lossy();
    let files = v["files"].as_array_mut().unwrap();
    let at = match files.len() {
        1 => 0,
        _ => files.iter().position(|f| f["name"] == *name).unwrap(),
    };
    &mut files[at]
}

/// The manifest of a backup directory or file.
fn manifest_of(backup: &Path) -> PathBuf {
    if backup.is_dir() {
        backup.join("test.manifest")
    } else {
        PathBuf::from(format!("{}.manifest", backup.display()))
    }
}

#[test]
fn every_damage_is_found_named_and_fails_the_restore() {
    let server = TestServer::start(1, &[]);
    let host = server.host();
    let tmp = tempfile::tempdir().unwrap();
    let (input, other_input) = (stream(6000, 1), stream(6000, 2));
    for (storage, opts) in STORAGES {
        let plain = *storage == "plain";
        for single in [false, true] {
            let base = tmp.path().join(format!("{storage}-{single}"));
            let other = tmp.path().join(format!("{storage}-{single}-other"));
            let dest = |p: &Path| -> Vec<String> {
                let p = p.to_string_lossy().into_owned();
                match single {
                    true => vec!["-o".into(), format!("{p}.asb")],
                    false => vec![
                        "-d".into(),
                        p,
                        "-F".into(),
                        "1".into(),
                        "-w".into(),
                        "2".into(),
                    ],
                }
            };
            let (d1, d2) = (dest(&base), dest(&other));
            backup(
                &input,
                opts,
                &d1.iter().map(String::as_str).collect::<Vec<_>>(),
            );
            backup(
                &other_input,
                opts,
                &d2.iter().map(String::as_str).collect::<Vec<_>>(),
            );
            let (base, other) = match single {
                true => (base.with_extension("asb"), other.with_extension("asb")),
                false => (base, other),
            };
            let first = |b: &Path| match single {
                true => b.to_path_buf(),
                false => b.join("test_00000.asb"),
            };
            let (code, said) = verify(&base, &[]);
            assert_eq!(code, 0, "{storage} single={single}: {said}");
            assert!(said.contains("verified: "), "{said}");

            for (what, damage) in damages() {
                let case = format!("{storage} single={single} {what}");
                let copy = tmp.path().join(format!("case-{storage}-{single}-{what}"));
                let target = match single {
                    true => {
                        let t = copy.with_extension("asb");
                        std::fs::copy(&base, &t).unwrap();
                        std::fs::copy(manifest_of(&base), manifest_of(&t)).unwrap();
                        t
                    }
                    false => {
                        copy_dir(&base, &copy);
                        copy.clone()
                    }
                };
                let want = damage(&target, &first(&target), &first(&other), plain);
                let (code, said) = verify(&target, &["-t", "2"]);
                assert_eq!(code, 3, "{case}: {said}");
                assert!(said.contains(&want), "{case}: wanted {want:?} in {said}");
                assert_restore_fails(&host, &target, single, &case, &first(&target));
            }
        }
    }
}

/// A restore of a damaged backup fails (exit 3) naming the file, or (--verify-first) before
/// it writes a record.
fn assert_restore_fails(host: &str, target: &Path, single: bool, case: &str, file: &Path) {
    let key = key();
    let t = target.to_str().unwrap();
    let mut args = vec!["-h", host, if single { "-i" } else { "-d" }, t];
    if encrypted(target) {
        args.extend(["--encryption-key-file", key.as_str()]);
    }
    let before = count(host);
    let (code, _, err) = run(
        tool("as-restore"),
        &[&args[..], &["--verify-first"]].concat(),
        b"",
    );
    assert_eq!(code, 3, "{case} --verify-first: {err}");
    assert_eq!(
        count(host),
        before,
        "{case}: --verify-first wrote records: {err}"
    );
    let (code, _, err) = run(tool("as-restore"), &args, b"");
    assert_eq!(code, 3, "{case}: {err}");
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(err.contains(&name), "{case}: {name} not named in {err}");
}

fn count(host: &str) -> usize {
    let (code, out, err) = run(
        tool("as-scan"),
        &["-h", host, "-n", "test", "--no-bins"],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let mut r = as_common::stream::StreamReader::new(&out[..]).unwrap();
    let mut n = 0;
    while let Some(f) = r.next_frame().unwrap() {
        n += matches!(f, as_common::stream::Frame::Record(_)) as usize;
    }
    n
}

#[test]
fn missing_extra_and_unlisted_files_and_a_missing_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    backup(
        &stream(6000, 3),
        &["-z", "zstd"],
        &["-d", d.to_str().unwrap(), "-F", "1", "-w", "2"],
    );
    let names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"test.manifest".to_string()), "{names:?}");

    let missing = tmp.path().join("missing");
    copy_dir(&d, &missing);
    std::fs::remove_file(missing.join("test_00001.asb")).unwrap();
    let (code, said) = verify(&missing, &[]);
    assert_eq!(code, 3, "{said}");
    assert!(
        said.contains("test_00001.asb is missing (listed in test.manifest)"),
        "{said}"
    );

    let extra = tmp.path().join("extra");
    copy_dir(&d, &extra);
    std::fs::copy(extra.join("test_00000.asb"), extra.join("test_00099.asb")).unwrap();
    let (code, said) = verify(&extra, &[]);
    assert_eq!(code, 3, "{said}");
    assert!(said.contains("test_00099.asb is in no manifest"), "{said}");

    let bare = tmp.path().join("bare");
    copy_dir(&d, &bare);
    std::fs::remove_file(bare.join("test.manifest")).unwrap();
    let (code, said) = verify(&bare, &["-z", "zstd"]);
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains("no manifest: the files are parsed, their integrity is not checked"),
        "{said}"
    );
    let (code, said) = verify(&bare, &["--strict"]);
    assert_eq!(code, 3, "{said}");
}

#[test]
fn a_tampered_encrypted_file_is_told_from_a_damaged_one() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("b.asb");
    let fs = f.to_str().unwrap().to_string();
    backup(
        &stream(500, 4),
        &["--encrypt", "aes256", "--encryption-key-file", "KEY"],
        &["-o", &fs],
    );
    // The file changed, and its manifest's size and SHA-256 with it: only the HMAC tells.
    flip_bit(&f, false);
    let digest = as_common::manifest::Digester::of(std::fs::File::open(&f).unwrap(), None).unwrap();
    edit_manifest(&manifest_of(&f), |v| {
        v["files"][0]["sha256"] = digest.sha256.clone().into()
    });
    let (code, said) = verify(&f, &[]);
    assert_eq!(code, 3, "{said}");
    assert!(said.contains("b.asb: tampered"), "{said}");
    // Nor can the HMAC be taken away.
    edit_manifest(&manifest_of(&f), |v| {
        v["files"][0]["hmac"] = serde_json::Value::Null
    });
    let (code, said) = verify(&f, &[]);
    assert_eq!(code, 3, "{said}");
    assert!(
        said.contains("b.asb: tampered: its manifest entry has no HMAC"),
        "{said}"
    );
    // Without the key: what needs none is checked, and it says so.
    let (code, out, err) = run(tool("as-verify"), &[&fs], b"");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no key is given"), "{err}");
    assert!(String::from_utf8_lossy(&out).contains("sizes and SHA-256 match"));
    // The wrong key is refused by the manifest's key check value.
    let other = support::samples().join("encrypted/env-key.b64");
    let k = std::fs::read_to_string(other).unwrap();
    let o = support::run_command(
        std::process::Command::new(tool("as-verify"))
            .args([fs.as_str(), "--encryption-key-env", "K"])
            .env("K", k.trim()),
        b"",
    );
    let (code, err) = (o.status.code().unwrap_or(-1), support::stderr(&o));
    assert!(err.contains("the key given is not the backup's"), "{err}");
    assert_eq!(code, 2, "{err}");
}
