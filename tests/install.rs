//! scripts/install and scripts/package-deb: what they install works from where it lands, with
//! nothing of the checkout on PATH (no AS_TOOLS_BIN): the wrappers back up and restore, the man
//! pages render, the bash completions load; --official-names and its PATH warnings; the Debian
//! package holds what scripts/install stages, and its wrappers work once extracted.
//!
//! The tools come from this build's target/debug (`--bin`), stripped as installed (`--strip`)
//! so that each install copies tens of megabytes rather than gigabytes.

use as_test_support as support;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{assert_same, server_records, TestServer};

/// The system directories the installed commands get on PATH besides their own.
const SYSTEM_PATH: &str = "/usr/bin:/bin";

fn script(name: &str) -> PathBuf {
    support::repo().join("scripts").join(name)
}

/// Every tool scripts/install puts in PREFIX/bin (the wrappers aside).
fn tools() -> Vec<&'static str> {
    as_tools::TOOLS.iter().map(|(name, _)| *name).collect()
}

fn ok(what: &str, o: &Output) -> String {
    let err = support::stderr(o);
    assert!(o.status.success(), "{what}: {:?}: {err}", o.status);
    err
}

/// scripts/install of this build's tools into `prefix`, with PATH set to `path`.
fn install(prefix: &Path, extra: &[&str], path: &str) -> Output {
    Command::new(script("install"))
        .arg("--prefix")
        .arg(prefix)
        .arg("--bin")
        .arg(support::tools_bin())
        .arg("--strip")
        .args(extra)
        .env("PATH", path)
        .env_remove("AS_TOOLS_BIN")
        .output()
        .unwrap()
}

/// An installed command run as a user runs it: PATH is its own directory and the system's, and
/// AS_TOOLS_BIN is not set, so it can only use the tools installed beside it.
fn installed(bin: &Path, name: &str, args: &[&str]) -> Output {
    Command::new(bin.join(name))
        .args(args)
        .env("PATH", format!("{}:{SYSTEM_PATH}", bin.display()))
        .env_remove("AS_TOOLS_BIN")
        .current_dir(bin)
        .output()
        .unwrap()
}

/// The number in `line` after `before` (e.g. "Backed up " in "Backed up 1000 record(s)").
fn count_after(text: &str, before: &str) -> usize {
    let at = text
        .find(before)
        .unwrap_or_else(|| panic!("no {before:?} in: {text}"));
    text[at + before.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no count after {before:?} in: {text}"))
}

/// A backup of a 1000-record server with the installed `backup` wrapper (its `out` arguments:
/// `-d DIR` or `-o FILE`), restored with the installed `restore` wrapper (`inp`: `-d DIR` or
/// `-i FILE`) into an empty server, which then holds what the source holds.
fn back_up_and_restore(
    bin: &Path,
    (backup, out): (&str, &[&str]),
    (restore, inp): (&str, &[&str]),
) {
    let src = TestServer::start(1, &["--sample", "1000"]);
    let want = server_records(&src, "test").len();
    assert_eq!(want, 1000);
    let h = src.host();
    let mut args = vec!["-h", &h[..], "-n", "test"];
    args.extend_from_slice(out);
    let err = ok(backup, &installed(bin, backup, &args));
    assert_eq!(count_after(&err, "Backed up "), want, "{err}");

    let dst = TestServer::start(1, &[]);
    let dh = dst.host();
    let mut args = vec!["-h", &dh[..]];
    args.extend_from_slice(inp);
    let err = ok(restore, &installed(bin, restore, &args));
    assert_eq!(count_after(&err, "inserted "), want, "{err}");
    assert!(err.contains(&format!("inserted {want}: failed 0")), "{err}");
    assert_same(&src, &dst);
}

fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn set(names: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    names.into_iter().collect()
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The man pages: the tools', the wrappers' under the names given, as-stream(5), and no other
/// (as-testd's is not installed); each renders without a warning, and `man -M` finds them by name.
fn check_man_pages(prefix: &Path, backup: &str, restore: &str) {
    let man = prefix.join("share/man");
    let mut want = set(tools().iter().map(|t| format!("{t}.1")));
    // The pages of a tool's subcommands (as-catalog-prune.1).
    let repo_man = names_in(&as_test_support::repo().join("man"));
    want.extend(repo_man.into_iter().filter(|p| {
        tools()
            .iter()
            .any(|t| p.starts_with(&format!("{t}-")) && p.ends_with(".1"))
    }));
    want.extend([format!("{backup}.1"), format!("{restore}.1")]);
    assert_eq!(names_in(&man.join("man1")), want);
    assert_eq!(names_in(&man.join("man5")), set(["as-stream.5".into()]));
    if !have("man") {
        eprintln!("SKIPPED: rendering the man pages: `man` is not installed (package man-db)");
        return;
    }
    let pages = want
        .iter()
        .map(|p| man.join("man1").join(p))
        .chain([man.join("man5/as-stream.5")]);
    for page in pages {
        let o = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .output()
            .unwrap();
        let err = ok(&format!("man -l {}", page.display()), &o);
        assert!(err.is_empty(), "{}: {err}", page.display());
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("NAME"), "{}: {text}", page.display());
    }
    for (section, name, file) in [
        ("1", backup, format!("man1/{backup}.1")),
        ("1", "as-scan", "man1/as-scan.1".into()),
        ("5", "as-stream", "man5/as-stream.5".into()),
    ] {
        let o = Command::new("man")
            .arg("-M")
            .arg(&man)
            .args(["-w", section, name])
            .output()
            .unwrap();
        ok(&format!("man -w {section} {name}"), &o);
        let found = String::from_utf8_lossy(&o.stdout);
        assert_eq!(Path::new(found.trim()), man.join(&file), "man -w {name}");
    }
}

/// The completions of every tool and both wrappers, for the three shells; bash loads each file
/// and then completes the command it is named after.
fn check_completions(prefix: &Path, backup: &str, restore: &str) {
    let mut commands: Vec<String> = tools().iter().map(|t| t.to_string()).collect();
    commands.extend([backup.to_string(), restore.to_string()]);
    let share = prefix.join("share");
    let bash = share.join("bash-completion/completions");
    let zsh = share.join("zsh/site-functions");
    let fish = share.join("fish/vendor_completions.d");
    assert_eq!(names_in(&bash), set(commands.iter().cloned()));
    assert_eq!(
        names_in(&zsh),
        set(commands.iter().map(|c| format!("_{c}")))
    );
    assert_eq!(
        names_in(&fish),
        set(commands.iter().map(|c| format!("{c}.fish")))
    );
    for c in &commands {
        let o = Command::new("bash")
            .args(["-c", "source \"$1\" && complete -p \"$2\"", "-"])
            .arg(bash.join(c))
            .arg(c)
            .output()
            .unwrap();
        let err = ok(&format!("bash completion of {c}"), &o);
        assert!(err.is_empty(), "{c}: {err}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.trim_end().ends_with(&format!(" {c}")), "{c}: {out}");
    }
    if have("zsh") {
        for c in &commands {
            let o = Command::new("zsh")
                .arg("-n")
                .arg(zsh.join(format!("_{c}")))
                .output()
                .unwrap();
            ok(&format!("zsh -n _{c}"), &o);
        }
    }
    if have("fish") {
        for c in &commands {
            let o = Command::new("fish")
                .arg("--no-execute")
                .arg(fish.join(format!("{c}.fish")))
                .output()
                .unwrap();
            ok(&format!("fish --no-execute {c}.fish"), &o);
        }
    }
}

#[test]
fn the_installed_wrappers_back_up_and_restore_with_only_the_prefix_on_path() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix");
    let bin = prefix.join("bin");
    let err = ok("scripts/install", &install(&prefix, &[], SYSTEM_PATH));
    assert!(
        err.contains("wrappers are installed as as-asbackup and as-asrestore"),
        "the names used are said: {err}"
    );
    assert!(
        err.contains(&format!("installed into {}", prefix.display())),
        "{err}"
    );

    // PREFIX/bin: the tools and the wrappers under their own names, executable; not as-testd.
    let mut want = set(tools().iter().map(|t| t.to_string()));
    want.extend(["as-asbackup".into(), "as-asrestore".into()]);
    assert_eq!(names_in(&bin), want);
    for name in &want {
        let mode = std::fs::metadata(bin.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "{name}");
    }
    let doc = prefix.join("share/doc/aerospike-backup-tools");
    assert_eq!(
        std::fs::read(doc.join("README.md")).unwrap(),
        std::fs::read(support::repo().join("README.md")).unwrap()
    );
    let docs: BTreeSet<String> = names_in(&support::repo().join("docs"))
        .into_iter()
        .filter(|n| n.ends_with(".md"))
        .collect();
    assert!(!docs.is_empty());
    assert_eq!(names_in(&doc.join("docs")), docs);

    let backup = dir.path().join("backup");
    let bs = backup.to_str().unwrap();
    back_up_and_restore(
        &bin,
        ("as-asbackup", &["-d", bs]),
        ("as-asrestore", &["-d", bs]),
    );
    check_man_pages(&prefix, "as-asbackup", "as-asrestore");
    check_completions(&prefix, "as-asbackup", "as-asrestore");
}

/// A directory on PATH holding another asbackup and asrestore (as aerospike-tools installs).
fn other_asbackup(dir: &Path) -> PathBuf {
    let other = dir.join("aerospike-tools");
    std::fs::create_dir(&other).unwrap();
    for name in ["asbackup", "asrestore"] {
        let p = other.join(name);
        std::fs::write(&p, "#!/bin/sh\necho the other one\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    other
}

#[test]
fn official_names_install_asbackup_and_asrestore_and_warn_about_shadowing() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix");
    let bin = prefix.join("bin");
    let other = other_asbackup(dir.path());

    // The other asbackup first in PATH: it shadows ours.
    let path = format!("{}:{}:{SYSTEM_PATH}", other.display(), bin.display());
    let err = ok(
        "scripts/install --official-names",
        &install(&prefix, &["--official-names"], &path),
    );
    assert!(
        err.contains("wrappers are installed as asbackup and asrestore (--official-names)"),
        "{err}"
    );
    for name in ["asbackup", "asrestore"] {
        let theirs = other.join(name);
        assert!(
            err.contains(&format!(
                "warning: {} shadows the {name} just installed",
                theirs.display()
            )),
            "{err}"
        );
    }
    let names = names_in(&bin);
    assert!(names.contains("asbackup") && names.contains("asrestore"));
    assert!(!names.contains("as-asbackup") && !names.contains("as-asrestore"));
    check_man_pages(&prefix, "asbackup", "asrestore");
    check_completions(&prefix, "asbackup", "asrestore");
    // The wrapper finds the tools installed beside it.
    let o = installed(&bin, "asbackup", &["--version"]);
    ok("asbackup --version", &o);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("asbackup (as-tools)"),
        "{o:?}"
    );

    // Installed again with ours first in PATH: ours shadows the other.
    let path = format!("{}:{}:{SYSTEM_PATH}", bin.display(), other.display());
    let err = ok(
        "scripts/install --official-names",
        &install(&prefix, &["--official-names"], &path),
    );
    for name in ["asbackup", "asrestore"] {
        assert!(
            err.contains(&format!(
                "warning: {name} now runs {}, which shadows {}",
                bin.join(name).display(),
                other.join(name).display()
            )),
            "{err}"
        );
    }
    assert!(!err.contains("shadows the"), "{err}");
}

#[test]
fn install_refuses_a_bin_directory_without_the_tools() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = Command::new(script("install"))
        .arg("--prefix")
        .arg(&prefix)
        .arg("--bin")
        .arg(&empty)
        .output()
        .unwrap();
    let err = support::stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("as-scan is missing"), "{err}");
    assert!(!prefix.join("bin").exists(), "nothing installed");
    let o = Command::new(script("install"))
        .args(["--prefix", "relative"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(support::stderr(&o).contains("absolute"));
}

/// The workspace's version, `[workspace.package] version` in Cargo.toml.
fn workspace_version() -> String {
    let toml = std::fs::read_to_string(support::repo().join("Cargo.toml")).unwrap();
    let section = &toml[toml.find("[workspace.package]").unwrap()..];
    let line = section
        .lines()
        .find(|l| l.trim_start().starts_with("version"))
        .unwrap();
    line.split('"').nth(1).unwrap().to_string()
}

fn stdout_of(program: &str, args: &[&str]) -> String {
    let o = Command::new(program).args(args).output().unwrap();
    ok(&format!("{program} {args:?}"), &o);
    String::from_utf8(o.stdout).unwrap()
}

/// An entry of a file tree: a directory, or a file with its size; with its permission bits.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    Dir(u32),
    File(u32, u64),
}

/// `ls -l`-style permissions ("-rwxr-xr-x") as mode bits.
fn mode_of(perms: &str) -> u32 {
    perms[1..10]
        .chars()
        .fold(0, |m, c| (m << 1) | u32::from(c != '-'))
}

/// What `dpkg-deb -c` lists, by path (without the leading "./"; the root left out).
fn deb_contents(deb: &Path) -> BTreeMap<String, Entry> {
    let list = stdout_of("dpkg-deb", &["-c", deb.to_str().unwrap()]);
    let mut m = BTreeMap::new();
    for line in list.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 6, "{line}");
        assert_eq!(f[1], "root/root", "{line}");
        let path = f[5].trim_start_matches("./").trim_end_matches('/');
        if path.is_empty() {
            continue;
        }
        let entry = match f[0].as_bytes()[0] {
            b'd' => Entry::Dir(mode_of(f[0])),
            b'-' => Entry::File(mode_of(f[0]), f[2].parse().unwrap()),
            _ => panic!("not a file or directory: {line}"),
        };
        m.insert(path.to_string(), entry);
    }
    m
}

/// The same for a staged tree.
fn tree(root: &Path) -> BTreeMap<String, Entry> {
    fn walk(root: &Path, dir: &Path, m: &mut BTreeMap<String, Entry>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                m.insert(rel, Entry::Dir(mode));
                walk(root, &p, m);
            } else {
                assert!(meta.is_file(), "{rel}: not a file or directory");
                m.insert(rel, Entry::File(mode, meta.len()));
            }
        }
    }
    let mut m = BTreeMap::new();
    walk(root, root, &mut m);
    m
}

#[test]
fn the_debian_package_holds_what_install_stages_and_works_extracted() {
    if !have("dpkg-deb") {
        eprintln!("SKIPPED: the Debian package: dpkg-deb is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = Command::new(script("package-deb"))
        .arg("--bin")
        .arg(support::tools_bin())
        .arg("--out")
        .arg(&out)
        // The contents of a debug build are large: spare the test xz's minutes.
        .args(["--compress", "none"])
        .env_remove("AS_TOOLS_BIN")
        .output()
        .unwrap();
    ok("scripts/package-deb", &o);
    let version = workspace_version();
    let arch = stdout_of("dpkg", &["--print-architecture"]);
    let arch = arch.trim();
    let deb = out.join(format!("aerospike-backup-tools_{version}_{arch}.deb"));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().last(),
        Some(deb.to_str().unwrap()),
        "the package's path is the last line"
    );
    let ds = deb.to_str().unwrap();

    let info = stdout_of("dpkg-deb", &["-I", ds]);
    for field in [
        "Package: aerospike-backup-tools".to_string(),
        format!("Version: {version}"),
        format!("Architecture: {arch}"),
        "Maintainer: ".into(),
        "Depends: ".into(),
        "Description: ".into(),
    ] {
        assert!(
            info.lines().any(|l| l.trim_start().starts_with(&field)),
            "dpkg-deb -I has no {field:?}: {info}"
        );
    }
    let depends = stdout_of("dpkg-deb", &["-f", ds, "Depends"]);
    assert!(depends.starts_with("libc6 (>= "), "{depends}");

    // The same files, modes and sizes as scripts/install stages for /usr.
    let stage = dir.path().join("stage");
    let o = Command::new(script("install"))
        .args(["--prefix", "/usr", "--destdir"])
        .arg(&stage)
        .arg("--bin")
        .arg(support::tools_bin())
        .arg("--strip")
        .output()
        .unwrap();
    ok("scripts/install --destdir", &o);
    assert!(
        support::stderr(&o).contains(&format!("staged under {}", stage.display())),
        "{o:?}"
    );
    let staged = tree(&stage);
    assert!(staged.contains_key("usr/bin/as-asbackup"), "{staged:?}");
    let packaged = deb_contents(&deb);
    let differ: Vec<_> = packaged
        .keys()
        .chain(staged.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| packaged.get(*k) != staged.get(*k))
        .map(|k| {
            format!(
                "{k}: packaged {:?}, staged {:?}",
                packaged.get(k),
                staged.get(k)
            )
        })
        .collect();
    assert!(
        differ.is_empty(),
        "the package differs from what scripts/install stages:\n{}",
        differ.join("\n")
    );

    // Extracted, its wrappers back up and restore with the tools beside them.
    let root = dir.path().join("root");
    ok(
        "dpkg-deb -x",
        &Command::new("dpkg-deb")
            .args(["-x", ds])
            .arg(&root)
            .output()
            .unwrap(),
    );
    let backup = dir.path().join("backup.asb");
    let bs = backup.to_str().unwrap();
    back_up_and_restore(
        &root.join("usr/bin"),
        ("as-asbackup", &["-o", bs]),
        ("as-asrestore", &["-i", bs]),
    );
}
