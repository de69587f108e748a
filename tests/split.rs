//! as-split: directory mode with file limits, parallel workers, per-file filters and sinks.

use as_test_support as support;

use as_common::asb::{AsbItem, AsbReader};
use std::collections::BTreeSet;
use std::path::Path;
use support::run;

fn generated(n: u64) -> Vec<u8> {
    let (code, out, err) = run(
        support::tool("as-gen"),
        &["-n", &n.to_string(), "--seed", "5"],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    out
}

/// Digests of the records of an ASB file, and whether it has `# first-file`, index or UDF lines.
fn contents(asb: &[u8]) -> (Vec<[u8; 20]>, bool, usize) {
    let mut r = AsbReader::new(asb).expect("a valid file");
    let first = r.header().first_file;
    let (mut digests, mut globals) = (Vec::new(), 0);
    while let Some(item) = r.next_item().expect("a valid file") {
        match item {
            AsbItem::Record(rec) => digests.push(rec.digest),
            _ => globals += 1,
        }
    }
    (digests, first, globals)
}

/// What a directory holds but the backup's manifest.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|x| x != "manifest"))
        .collect();
    v.sort();
    v
}

#[test]
fn directory_of_limited_compressed_files_equals_one_file() {
    let stream = generated(40000);
    let (_, single, _) = run(support::tool("as-encode"), &[], &stream);
    let (all, first, globals) = contents(&single);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backup");
    let d = dir.to_str().unwrap();
    let (code, _, err) = run(
        support::tool("as-split"),
        &[
            "-d",
            d,
            "-F",
            "1",
            "-w",
            "2",
            "--filter",
            "as-encode | as-zstd",
        ],
        &stream,
    );
    assert_eq!(code, 0, "{err}");
    let names: Vec<String> = files(&dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.len() > 4, "several files per worker: {names:?}");
    assert!(
        names.iter().all(|n| n.starts_with("test_")
            && n.ends_with(".asb")
            && n.len() == "test_00000.asb".len()),
        "{names:?}"
    );
    assert_eq!(names[0], "test_00000.asb");

    let mut union = BTreeSet::new();
    let mut firsts = Vec::new();
    let mut over = Vec::new();
    for p in files(&dir) {
        let bytes = std::fs::read(&p).unwrap();
        // Within the limit: a worker's first file by what its filter held in flight (its
        // pipes and buffers), later ones (sized at the rate of the files before) by a batch.
        assert!(
            bytes.len() < 4 << 20,
            "{} has {} bytes",
            p.display(),
            bytes.len()
        );
        if bytes.len() > (1 << 20) + (128 << 10) {
            over.push((p.clone(), bytes.len()));
        }
        let (code, plain, err) = run(support::tool("as-zstd"), &["-d"], &bytes);
        assert_eq!(code, 0, "{}: {err}", p.display());
        let (code, _, err) = run(support::tool("as-decode"), &["--validate"], &plain);
        assert_eq!(code, 0, "{} does not validate alone: {err}", p.display());
        let (digests, is_first, g) = contents(&plain);
        if is_first {
            firsts.push((p.clone(), g));
        } else {
            assert_eq!(g, 0, "only the first file has index and UDF lines");
        }
        for d in digests {
            assert!(union.insert(d), "a record in two files");
        }
    }
    assert!(
        over.len() <= 2,
        "only a worker's first file is over: {over:?}"
    );
    assert!(first);
    assert_eq!(
        firsts.len(),
        1,
        "exactly one file has # first-file: {firsts:?}"
    );
    assert!(firsts[0].0.ends_with("test_00000.asb"));
    assert_eq!(firsts[0].1, globals);
    assert_eq!(union, all.into_iter().collect::<BTreeSet<_>>());
    // The whole directory validates as one backup.
    let (code, out, err) = run(
        support::tool("as-decode"),
        &["--validate", "-z", "zstd", d],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert!(String::from_utf8_lossy(&out)
        .contains("valid: 40000 record(s), 3 secondary index(es), 1 UDF file(s)"));
}

#[test]
fn partitions_stay_with_their_worker_and_prefix_applies() {
    let stream = generated(5000);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let (code, _, err) = run(
        support::tool("as-split"),
        &["-d", d, "-w", "3", "-q", "nightly"],
        &stream,
    );
    assert_eq!(code, 0, "{err}");
    let names = files(tmp.path());
    assert_eq!(
        names.len(),
        3,
        "one file per worker under the limit: {names:?}"
    );
    for (i, p) in names.iter().enumerate() {
        assert!(
            p.ends_with(format!("nightly_{i:05}.asb")),
            "{}",
            p.display()
        );
        let (digests, _, _) = contents(&std::fs::read(p).unwrap());
        let workers: BTreeSet<usize> = digests
            .iter()
            .map(|d| as_common::record::partition_of(d) as usize % 3)
            .collect();
        assert!(
            workers.len() <= 1,
            "a file mixes partitions of several workers"
        );
    }
}

#[test]
fn used_directories_remove_files_and_artifacts() {
    let stream = generated(100);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    let d = dir.to_str().unwrap();
    assert_eq!(run(support::tool("as-split"), &["-d", d], &stream).0, 0);
    let (code, _, err) = run(support::tool("as-split"), &["-d", d], &stream);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("seems to contain an existing backup; use -r"),
        "{err}"
    );
    std::fs::write(dir.join("notes.txt"), "keep").unwrap();
    assert_eq!(
        run(support::tool("as-split"), &["-d", d, "-r"], &stream).0,
        0
    );
    assert_eq!(files(&dir).len(), 2);
    let (code, _, err) = run(
        support::tool("as-split"),
        &["-d", d, "--remove-artifacts"],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        files(&dir),
        vec![dir.join("notes.txt")],
        "only backup files are removed"
    );
    std::fs::remove_file(dir.join("notes.txt")).unwrap();
    assert_eq!(
        run(support::tool("as-split"), &["-d", d, "-r"], &stream).0,
        0
    );
    assert_eq!(
        run(
            support::tool("as-split"),
            &["-d", d, "--remove-artifacts"],
            b""
        )
        .0,
        0
    );
    assert!(!dir.exists(), "an empty directory goes too");
}

/// A directory holds a backup when the readers would take what is in it for one
/// (common::backup): a hidden partial file does not count; a stray shard manifest does, and -r
/// clears it, so that the new backup validates.
#[test]
fn what_counts_as_a_backup_is_what_the_readers_see() {
    let stream = generated(100);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    let d = dir.to_str().unwrap();
    std::fs::create_dir(&dir).unwrap();
    let hidden = dir.join(".other_00000.asb.partial");
    std::fs::write(&hidden, "x").unwrap();
    assert_eq!(run(support::tool("as-split"), &["-d", d], &stream).0, 0);
    assert!(
        hidden.exists(),
        "another backup's partial file is left alone"
    );

    let dir = tmp.path().join("c");
    let d = dir.to_str().unwrap();
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("old.manifest"), "{}").unwrap();
    let (code, _, err) = run(support::tool("as-split"), &["-d", d], &stream);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("seems to contain an existing backup"), "{err}");
    assert_eq!(
        run(support::tool("as-split"), &["-d", d, "-r"], &stream).0,
        0
    );
    assert!(!dir.join("old.manifest").exists());
    let (code, _, err) = run(support::tool("as-decode"), &["--validate", d], b"");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_broken_input_or_filter_leaves_no_good_looking_backup() {
    let stream = generated(20000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cut");
    let d = dir.to_str().unwrap();
    let (code, _, err) = run(
        support::tool("as-split"),
        &["-d", d, "-F", "1", "-w", "2"],
        &stream[..stream.len() / 2],
    );
    assert_eq!(code, 3, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("truncated"), "{err}");
    let names = files(&dir);
    assert!(
        names
            .iter()
            .all(|p| !p.to_string_lossy().ends_with(".partial")),
        "{names:?}"
    );
    assert!(dir.join("test.asb.incomplete").exists());
    let (code, _, err) = run(support::tool("as-decode"), &["--validate", d], b"");
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("holds an unfinished backup"), "{err}");

    let dir2 = tmp.path().join("badfilter");
    let d2 = dir2.to_str().unwrap();
    let (code, _, err) = run(
        support::tool("as-split"),
        &["-d", d2, "--filter", "as-encode | exit 3"],
        &stream,
    );
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("the filter") && err.contains("failed"),
        "{err}"
    );
    assert!(
        files(&dir2)
            .iter()
            .all(|p| !p.to_string_lossy().ends_with(".asb")),
        "no finished file"
    );
}

#[test]
fn sink_commands_receive_each_file() {
    let stream = generated(3000);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sunk");
    std::fs::create_dir(&out).unwrap();
    let sink = format!("cat > {}/$FILE", out.display());
    let (code, _, err) = run(
        support::tool("as-split"),
        &["--sink", &sink, "-w", "2", "-F", "1"],
        &stream,
    );
    assert_eq!(code, 0, "{err}");
    let names = files(&out);
    assert_eq!(names.len(), 2);
    let (code, o, err) = run(
        support::tool("as-decode"),
        &["--validate", out.to_str().unwrap()],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert!(String::from_utf8_lossy(&o).contains("valid: 3000 record(s)"));
    let (code, _, err) = run(
        support::tool("as-split"),
        &["--sink", "cat > /dev/null; exit 1"],
        &stream,
    );
    assert_ne!(code, 0);
    assert!(err.contains("the sink") && err.contains("failed"), "{err}");
}

/// A sink that can delete (`--sink-remove`) keeps `PREFIX.asb.incomplete` as a directory does:
/// there while the backup runs, gone once it is complete, the reason in it when it failed, and
/// a marker that cannot be deleted fails the backup.
#[test]
fn a_sink_with_a_remove_command_keeps_the_incomplete_marker() {
    let stream = generated(3000);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sunk");
    std::fs::create_dir(&out).unwrap();
    let sink = format!("cat > {}/$FILE", out.display());
    // What the marker held when it was deleted, kept aside.
    let seen = tmp.path().join("seen");
    let remove = format!(
        "cp {0}/$FILE {1} && rm {0}/$FILE",
        out.display(),
        seen.display()
    );
    let split = |args: &[&str], input: &[u8]| {
        let all = [&["--sink", &sink, "--sink-remove", &remove][..], args].concat();
        run(support::tool("as-split"), &all, input)
    };
    let (code, _, err) = split(&["-w", "2", "-F", "1"], &stream);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        "backup in progress\n"
    );
    let names: Vec<_> = files(&out)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["test_00000.asb", "test_00001.asb"],
        "no marker left"
    );

    // A cut input: the marker stays, saying why.
    std::fs::remove_file(&seen).unwrap();
    let (code, _, err) = split(&[], &stream[..stream.len() / 2]);
    assert_eq!(code, 3, "{err}");
    let why = std::fs::read_to_string(out.join("test.asb.incomplete")).unwrap();
    assert!(why.contains("truncated") && why.ends_with('\n'), "{why}");
    assert_eq!(why.lines().count(), 1, "{why}");
    assert!(!seen.exists(), "not deleted");

    // A marker that cannot be deleted: the backup fails, one line.
    let (code, _, err) = run(
        support::tool("as-split"),
        &["--sink", &sink, "--sink-remove", "exit 1"],
        &stream,
    );
    assert_ne!(code, 0, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("test.asb.incomplete could not be removed"),
        "{err}"
    );
    assert!(out.join("test.asb.incomplete").exists());

    // Only with a sink.
    let (code, _, err) = run(
        support::tool("as-split"),
        &["-d", out.to_str().unwrap(), "--sink-remove", "true"],
        &stream,
    );
    assert_eq!(code, 2, "{err}");
}

/// `--summary` gives the wrapper the counts it reports, complete or not; `--check-options`
/// checks without reading the input or creating anything.
#[test]
fn summary_file_and_option_checks() {
    let stream = generated(3000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    let sum = tmp.path().join("sum");
    let (d, s) = (dir.to_str().unwrap(), sum.to_str().unwrap());
    let (code, _, err) = run(
        support::tool("as-split"),
        &["-d", d, "-F", "1", "--summary", s, "-v"],
        &stream,
    );
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&sum).unwrap();
    let get = |k: &str| {
        as_cli::summary::Summary::get(&text, k)
            .unwrap_or_else(|| panic!("no {k} in {text:?}"))
            .to_string()
    };
    assert_eq!(get("records"), "3000");
    assert_eq!(get("complete"), "true");
    let on_disk: u64 = files(&dir)
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(get("bytes"), on_disk.to_string());
    assert_eq!(get("files"), files(&dir).len().to_string());
    assert!(err.contains(&format!(
        "{} file(s), {on_disk} byte(s), 3000 record(s)",
        get("files")
    )));

    // A filter that fails: not complete, and the summary names the state to resume from.
    let dir2 = tmp.path().join("c");
    let (code, _, _) = run(
        support::tool("as-split"),
        &[
            "-d",
            dir2.to_str().unwrap(),
            "--filter",
            "false",
            "--summary",
            s,
        ],
        &stream,
    );
    assert_ne!(code, 0);
    let text = std::fs::read_to_string(&sum).unwrap();
    assert!(text.contains("complete=false\n"), "{text}");
    assert!(
        text.contains("state=") && text.contains("test.asb.state"),
        "{text}"
    );

    let nowhere = tmp.path().join("never");
    let n = nowhere.to_str().unwrap();
    for (args, code, says) in [
        (vec!["-d", n, "-q", "a/b"], 2, "invalid file prefix"),
        (vec!["-d", n, "-F", "0"], 2, "--file-limit"),
        (vec!["-d", n, "-w", "101"], 2, "--parallel"),
        (vec!["-d", n, "-q", "ok", "-F", "5"], 0, ""),
    ] {
        let all = [&["--check-options"][..], &args].concat();
        let (got, _, err) = run(support::tool("as-split"), &all, b"not a stream");
        assert_eq!(got, code, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert!(!nowhere.exists(), "checking options creates nothing");
    let (code, _, err) = run(
        support::tool("as-zstd"),
        &["--check-options", "-l", "99"],
        b"",
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        run(
            support::tool("as-zstd"),
            &["--check-options", "-l", "19"],
            b""
        )
        .0,
        0
    );
    let s3 = support::tool("as-s3put");
    let (code, _, err) = run(s3, &["--check-options", "--eof-completes", "x/y"], b"");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("s3://bucket/key"), "{err}");
    let (code, _, err) = run(
        s3,
        &[
            "--check-options",
            "--eof-completes",
            "--s3-min-part-size=4",
            "s3://b/k",
        ],
        b"",
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        run(s3, &["--check-options", "--eof-completes", "s3://b/k"], b"").0,
        0
    );
}

/// --remove-artifacts with one file: the file, what a run left of it and its state go; nothing
/// else does.
#[test]
fn remove_artifacts_of_one_file() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("one.asb");
    let others = ["one.asb.partial", "one.asb.state"].map(|n| tmp.path().join(n));
    let keep = tmp.path().join("one.asb.notes");
    for p in others.iter().chain([&f, &keep]) {
        std::fs::write(p, "x").unwrap();
    }
    let (code, _, err) = run(
        support::tool("as-split"),
        &["-o", f.to_str().unwrap(), "--remove-artifacts"],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert!(!f.exists() && others.iter().all(|p| !p.exists()));
    assert!(keep.exists());
    // Nothing there to remove is not an error.
    let (code, _, err) = run(
        support::tool("as-split"),
        &["-o", f.to_str().unwrap(), "--remove-artifacts"],
        b"",
    );
    assert_eq!(code, 0, "{err}");
}

/// The files as-split makes of `stream` stored so (`store`), with the filter processes or
/// `--in-process` (`how`), into `at` (a directory, -w 2; else one file of one segment, so that
/// the files are cut in the same places either way): each file's name and bytes.
fn split_into(
    at: &Path,
    stream: &[u8],
    store: &[&str],
    how: &[&str],
    dir: bool,
) -> Vec<(String, Vec<u8>)> {
    let a = at.to_str().unwrap();
    let dest: &[&str] = match dir {
        true => &["-d", a, "-w", "2"],
        false => &["-o", a, "--checkpoint", "1000"],
    };
    let (code, _, err) = run(
        support::tool("as-split"),
        &[dest, store, how].concat(),
        stream,
    );
    assert_eq!(code, 0, "{store:?} {how:?}: {err}");
    let files = match dir {
        true => files(at),
        false => vec![at.to_path_buf()],
    };
    files
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(p).unwrap())
        })
        .collect()
}

/// --in-process runs as-encode's and as-zstd's code on as-split's own threads: the files are
/// byte for byte those of the filter processes, for every way of storing them.
#[test]
fn in_process_files_are_the_filter_processes_files() {
    let stream = generated(20000);
    let stores: [&[&str]; 4] = [
        &[],
        &["--compact"],
        &["-z", "zstd"],
        &["-z", "zstd", "--compression-level", "9", "--compact"],
    ];
    for store in stores {
        for dir in [true, false] {
            let tmp = tempfile::tempdir().unwrap();
            let procs = split_into(&tmp.path().join("p"), &stream, store, &[], dir);
            let threads = split_into(
                &tmp.path().join("t"),
                &stream,
                store,
                &["--in-process"],
                dir,
            );
            assert_eq!(procs.len(), if dir { 2 } else { 1 }, "{store:?}");
            assert_eq!(procs.len(), threads.len());
            for ((a, x), (b, y)) in procs.iter().zip(&threads) {
                if dir {
                    assert_eq!(a, b);
                }
                assert!(
                    x == y,
                    "{store:?} {a}: {} and {} bytes differ",
                    x.len(),
                    y.len()
                );
            }
            if !dir {
                // Without a manifest the one file is not hashed: the same bytes, no manifest.
                let at = tmp.path().join("n");
                let bare = split_into(&at, &stream, store, &["--in-process", "--no-manifest"], dir);
                assert!(bare[0].1 == threads[0].1, "{store:?} --no-manifest");
                assert!(!tmp.path().join("n.manifest").exists());
                assert!(tmp.path().join("t.manifest").exists());
            }
        }
    }
}

/// Encrypted, each file's IV is random: the files of --in-process decrypt to the bytes of the
/// filter processes' files, and the backup verifies against its manifest (the HMACs).
#[test]
fn in_process_encrypted_files_decrypt_to_the_filter_processes_bytes() {
    let stream = generated(20000);
    let key = support::samples().join("encrypted/key.pem");
    let key = key.to_str().unwrap();
    let crypt = ["-y", "aes256", "--encryption-key-file", key];
    let store = [&["-z", "zstd"][..], &crypt].concat();
    for dir in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let procs = split_into(&tmp.path().join("p"), &stream, &store, &[], dir);
        let at = tmp.path().join("t");
        let threads = split_into(&at, &stream, &store, &["--in-process"], dir);
        assert_eq!(procs.len(), threads.len());
        let plain = |b: &[u8]| {
            let (code, out, err) = run(
                support::tool("as-crypt"),
                &[&["-d"][..], &crypt].concat(),
                b,
            );
            assert_eq!(code, 0, "{err}");
            out
        };
        for ((a, x), (_, y)) in procs.iter().zip(&threads) {
            assert!(x != y, "{a}: a new IV each time");
            assert!(plain(x) == plain(y), "{a}: the plaintexts differ");
        }
        let verify = [&[at.to_str().unwrap()][..], &store].concat();
        let (code, _, err) = run(support::tool("as-verify"), &verify, b"");
        assert_eq!(code, 0, "{err}");
    }
}
