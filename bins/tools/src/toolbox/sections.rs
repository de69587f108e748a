//! The `[asbackup]` and `[asrestore]` sections of the Aerospike tools' configuration files, as
//! the official asbackup and asrestore 4.5 read them (their keys and types: the key tables of
//! aerospike-tools-backup's `src/conf.c`), turned into the wrappers' options.

use std::ffi::OsString;

use as_cli::config::{ConfigError, Selection};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Section {
    Asbackup,
    Asrestore,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Str,
    Int,
    Bool,
}
use Kind::*;

/// asbackup's keys: (long name, short option, type).
const ASBACKUP: &[(&str, Option<char>, Kind)] = &[
    ("namespace", Some('n'), Str),
    ("set", Some('s'), Str),
    ("continue", Some('c'), Str),
    ("state-file-dst", None, Str),
    ("remove-files", Some('r'), Bool),
    ("remove-artifacts", None, Bool),
    ("directory", Some('d'), Str),
    ("output-file-prefix", Some('q'), Str),
    ("no-ttl-only", None, Bool),
    ("max-records", Some('M'), Int),
    ("output-file", Some('o'), Str),
    ("file-limit", Some('F'), Int),
    ("records-per-second", Some('L'), Int),
    ("no-bins", Some('x'), Bool),
    ("compact", Some('C'), Bool),
    ("parallel", Some('w'), Int),
    ("compress", Some('z'), Str),
    ("compression-level", None, Int),
    ("encrypt", Some('y'), Str),
    ("encryption-key-file", None, Str),
    ("encryption-key-env", None, Str),
    ("bin-list", Some('B'), Str),
    ("node-list", Some('l'), Str),
    ("partition-list", Some('X'), Str),
    ("after-digest", Some('D'), Str),
    ("filter-exp", Some('f'), Str),
    ("modified-after", Some('a'), Str),
    ("modified-before", Some('b'), Str),
    ("machine", Some('m'), Str),
    ("estimate", Some('e'), Bool),
    ("estimate-samples", None, Int),
    ("verbose", Some('v'), Bool),
    ("nice", Some('N'), Int),
    ("no-records", Some('R'), Bool),
    ("no-indexes", Some('I'), Bool),
    ("no-udfs", Some('u'), Bool),
    ("socket-timeout", None, Int),
    ("total-timeout", None, Int),
    ("max-retries", None, Int),
    ("retry-delay", None, Int),
    ("sleep-between-retries", None, Int),
    ("s3-region", None, Str),
    ("s3-profile", None, Str),
    ("s3-endpoint-override", None, Str),
    ("s3-min-part-size", None, Int),
    ("s3-max-async-downloads", None, Int),
    ("s3-max-async-uploads", None, Int),
    ("s3-connect-timeout", None, Int),
    ("s3-log-level", None, Str),
];

/// asrestore's keys.
const ASRESTORE: &[(&str, Option<char>, Kind)] = &[
    ("namespace", Some('n'), Str),
    ("directory", Some('d'), Str),
    ("directory-list", None, Str),
    ("parent-directory", None, Str),
    ("input-file", Some('i'), Str),
    ("compress", Some('z'), Str),
    ("encrypt", Some('y'), Str),
    ("encryption-key-file", None, Str),
    ("encryption-key-env", None, Str),
    ("parallel", None, Int),
    ("threads", Some('t'), Int),
    ("machine", Some('m'), Str),
    ("verbose", Some('v'), Bool),
    ("bin-list", Some('B'), Str),
    ("set-list", Some('s'), Str),
    ("unique", Some('u'), Bool),
    ("ignore-record-error", Some('K'), Bool),
    ("replace", Some('r'), Bool),
    ("no-generation", Some('g'), Bool),
    ("extra-ttl", Some('l'), Int),
    ("bandwidth", None, Int),
    ("tps", None, Int),
    ("nice", Some('N'), Str),
    ("no-records", Some('R'), Bool),
    ("validate", None, Bool),
    ("no-indexes", Some('I'), Bool),
    ("indexes-last", Some('L'), Bool),
    ("no-udfs", Some('F'), Bool),
    ("wait", Some('w'), Bool),
    ("timeout", None, Int),
    ("socket-timeout", None, Int),
    ("total-timeout", None, Int),
    ("max-retries", None, Int),
    ("sleep-between-retries", None, Int),
    ("retry-delay", None, Int),
    ("batch-size", None, Int),
    ("event-loops", None, Int),
    ("max-async-batches", None, Int),
    ("retry-scale-factor", None, Int),
    ("disable-batch-writes", None, Bool),
    ("s3-region", None, Str),
    ("s3-profile", None, Str),
    ("s3-endpoint-override", None, Str),
    ("s3-connect-timeout", None, Int),
    ("s3-max-async-downloads", None, Int),
    ("s3-log-level", None, Str),
];

/// The section's keys as options, without those `command_line` gives.
pub fn options(section: Section, command_line: &[String]) -> Result<Vec<String>, ConfigError> {
    let (name, table) = match section {
        Section::Asbackup => ("asbackup", ASBACKUP),
        Section::Asrestore => ("asrestore", ASRESTORE),
    };
    let args: Vec<OsString> = command_line.iter().map(OsString::from).collect();
    let entries = Selection::from_args(&args)?.read(&[name])?;
    let mut out = Vec::new();
    for e in entries {
        let bad = |why: &str| ConfigError::Key {
            file: e.file.clone(),
            section: e.section.clone(),
            key: e.key.clone(),
            why: why.into(),
        };
        let Some(&(long, short, kind)) = table.iter().find(|(k, _, _)| *k == e.key) else {
            return Err(bad(&format!("unknown key for {name}")));
        };
        let text = match (kind, &e.value) {
            (Bool, toml::Value::Boolean(b)) => b.then(|| format!("--{long}")),
            (Int, toml::Value::Integer(i)) => Some(format!("--{long}={i}")),
            (Str, toml::Value::String(s)) if !s.contains('\n') => Some(format!("--{long}={s}")),
            (Bool, _) => return Err(bad("needs true or false")),
            (Int, _) => return Err(bad("needs an integer")),
            (Str, _) => return Err(bad("needs a string (of one line)")),
        };
        if text.is_some() && !given(table, command_line, long, short) {
            out.extend(text);
        }
    }
    Ok(out)
}

/// Whether the command line gives the option: `--long[=V]`, or `-s` alone or in a cluster
/// (`-xs b`); the value of an option of the table that takes one is not read as options.
fn given(
    table: &[(&str, Option<char>, Kind)],
    args: &[String],
    long: &str,
    short: Option<char>,
) -> bool {
    let valued_long = |l: &str| table.iter().any(|(k, _, kind)| *k == l && *kind != Bool);
    let valued_short = |c: char| {
        table
            .iter()
            .any(|(_, s, kind)| *s == Some(c) && *kind != Bool)
    };
    let mut value_next = false;
    for a in args {
        if std::mem::take(&mut value_next) {
            continue;
        }
        if a == "--" {
            break;
        }
        if let Some(l) = a.strip_prefix("--") {
            let (name, has_value) = match l.split_once('=') {
                Some((n, _)) => (n, true),
                None => (l, false),
            };
            if name == long {
                return true;
            }
            value_next = !has_value && valued_long(name);
        } else if let Some(cluster) = a.strip_prefix('-') {
            for (i, c) in cluster.char_indices() {
                if Some(c) == short {
                    return true;
                }
                if valued_short(c) {
                    value_next = i + c.len_utf8() == cluster.len();
                    break;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_becomes_options_and_the_command_line_wins() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("astools.conf");
        std::fs::write(
            &f,
            "[asbackup]\nnamespace = \"a\"\nparallel = 4\ncompact = true\nno-bins = false\n\
             [asbackup_x]\nnamespace = \"x\"\n",
        )
        .unwrap();
        let only = format!("--only-config-file={}", f.display());
        let got = options(Section::Asbackup, &[only.clone(), "-w".into(), "2".into()]).unwrap();
        assert_eq!(got, ["--compact", "--namespace=a"]);
        // A short option in a cluster is given; a value that looks like one is not.
        let got = options(Section::Asbackup, &[only.clone(), "-Rn".into(), "b".into()]).unwrap();
        assert_eq!(got, ["--compact", "--parallel=4"]);
        let got = options(Section::Asbackup, &[only.clone(), "-s".into(), "-C".into()]).unwrap();
        assert_eq!(got, ["--compact", "--namespace=a", "--parallel=4"]);
        let got = options(Section::Asbackup, &[only.clone(), "--instance=x".into()]).unwrap();
        assert_eq!(got, ["--namespace=x"]);
        std::fs::write(&f, "[asbackup]\nparallel = \"4\"\n").unwrap();
        let e = options(Section::Asbackup, std::slice::from_ref(&only))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!("{}: [asbackup] parallel: needs an integer", f.display())
        );
        std::fs::write(&f, "[asrestore]\nthreads = 2\nbogus = 1\n").unwrap();
        let e = options(Section::Asrestore, &[only])
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("[asrestore] bogus: unknown key for asrestore"),
            "{e}"
        );
    }
}
