//! The man pages under `man/` are generated from the tools' clap definitions; this test fails
//! when they are out of date. Regenerate with `UPDATE_MAN=1 cargo test -p as-tools --test man`.

use clap::CommandFactory;

fn render(cmd: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out).unwrap();
    out
}

#[test]
fn man_pages_match_the_tools() {
    let dir = as_test_support::repo().join("man");
    let mut pages: Vec<(&str, clap::Command)> = as_tools::TOOLS
        .iter()
        .map(|(name, cmd)| (*name, cmd()))
        .collect();
    pages.push(("as-testd", as_testd::Args::command()));
    // A tool of subcommands (as-catalog, as-tools) names a page for each: TOOL-SUB(1).
    let mut subpages: Vec<(String, clap::Command)> = Vec::new();
    for (name, cmd) in &pages {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let full = format!("{name}-{}", sub.get_name());
            // (clap takes names as &'static str: a test may leak them.)
            let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
            let version = leak(cmd.get_version().unwrap_or_default().to_string());
            let page = sub.clone().name(leak(full.clone())).version(version);
            subpages.push((full, page));
        }
    }
    let update = std::env::var_os("UPDATE_MAN").is_some();
    let pages = pages
        .into_iter()
        .map(|(n, c)| (n.to_string(), c))
        .chain(subpages);
    for (name, cmd) in pages {
        let path = dir.join(format!("{name}.1"));
        let want = render(cmd);
        if update {
            std::fs::write(&path, &want).unwrap();
            continue;
        }
        let have = std::fs::read(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is out of date: run UPDATE_MAN=1 cargo test -p as-tools --test man",
            path.display()
        );
    }
}

#[test]
fn the_stream_format_page_documents_the_magic_and_frames() {
    let dir = as_test_support::repo().join("man");
    let page = std::fs::read_to_string(dir.join("as-stream.5")).unwrap();
    assert!(page.contains("89 41 53 52 0D 0A 1A 0A"));
    for kind in [
        "HEADER",
        "SINDEX",
        "UDF",
        "RECORD",
        "PARTITION_DONE",
        "TRAILER",
    ] {
        assert!(page.contains(kind), "as-stream(5) does not document {kind}");
    }
    assert_eq!(as_common::stream::MAGIC, *b"\x89ASR\r\n\x1a\n");
}

/// The test files live beside their fixtures in the top-level tests/, so cargo does not find
/// them by itself: each must be listed in bins/tools/Cargo.toml, and this says which is not.
#[test]
fn every_test_file_is_listed() {
    let root = as_test_support::repo();
    let manifest = std::fs::read_to_string(root.join("bins/tools/Cargo.toml")).unwrap();
    let mut missing = Vec::new();
    for e in std::fs::read_dir(root.join("tests")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") && !manifest.contains(&format!("path = \"../../tests/{name}\"")) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "not run by cargo test: add a [[test]] for each to bins/tools/Cargo.toml: {missing:?}"
    );
}
