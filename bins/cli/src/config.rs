//! The Aerospike tools' configuration files (`astools.conf`, TOML), read as asbackup and asrestore
//! read them: `/etc/aerospike/astools.conf`, then `~/.aerospike/astools.conf`, then
//! `--config-file PATH`, later files winning; `--only-config-file PATH` reads that file alone and
//! `--no-config-file` none. `--instance NAME` reads `[cluster_NAME]` instead of `[cluster]` (no
//! fallback, as the official tools do) and `[TOOL_NAME]` instead of `[TOOL]` when the file has it.
//! An `[include]` section (`file`, `directory`) reads more files after the one naming it.
//!
//! A file's keys are long option names. They become options put in front of the command line
//! (in this process only, so a password from a file never shows in `ps`), leaving out every key
//! that the command line or the option's environment variable already gives: the command line
//! wins over the files. See docs/operations.md.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, Command};

/// A mistake in a configuration file: one line naming the file, the section and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {why}")]
    File { file: String, why: String },
    #[error("{file}: [{section}] {key}: {why}")]
    Key {
        file: String,
        section: String,
        key: String,
        why: String,
    },
    #[error("{0}")]
    Usage(String),
}

/// Which files to read and which instance: from the command line's `--config-file`,
/// `--instance`, `--no-config-file` and `--only-config-file`.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    /// The files in reading order, each with whether it must exist (the user named it).
    pub files: Vec<(PathBuf, bool)>,
    pub instance: Option<String>,
}

/// The four options that choose the files, each taking a value but `--no-config-file`.
pub const SELECTION_OPTIONS: [&str; 4] = [
    "--config-file",
    "--instance",
    "--only-config-file",
    "--no-config-file",
];

impl Selection {
    /// The files and instance a command line chooses (`args` without the program's name).
    pub fn from_args(args: &[OsString]) -> Result<Selection, ConfigError> {
        let (mut extra, mut instance, mut only, mut none) = (None, None, None, false);
        let mut i = 0;
        while i < args.len() {
            let a = args[i].to_string_lossy();
            if a == "--" {
                break;
            }
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (a.to_string(), None),
            };
            if name == "--no-config-file" {
                none = true;
            } else if SELECTION_OPTIONS[..3].contains(&name.as_str()) {
                let value = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        args.get(i)
                            .map(|v| v.to_string_lossy().into_owned())
                            .ok_or_else(|| ConfigError::Usage(format!("{name} needs a value")))?
                    }
                };
                match name.as_str() {
                    "--config-file" => extra = Some(PathBuf::from(value)),
                    "--instance" => instance = Some(value),
                    _ => only = Some(PathBuf::from(value)),
                }
            }
            i += 1;
        }
        // A wrapper passes the choice to its stages through the environment (see `args`).
        let var = |v: &str| {
            std::env::var_os(v)
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        };
        extra = extra.or_else(|| var("AS_CONFIG_FILE"));
        only = only.or_else(|| var("AS_ONLY_CONFIG_FILE"));
        instance =
            instance.or_else(|| var("AS_INSTANCE").map(|p| p.to_string_lossy().into_owned()));
        none = none || var("AS_NO_CONFIG_FILE").is_some_and(|v| truthy(v.as_os_str()));
        let files = if none {
            vec![]
        } else if let Some(only) = only {
            vec![(only, true)]
        } else {
            // AS_TOOLS_SYSTEM_CONFIG moves the system file (a test's, or an unusual layout's).
            let system = var("AS_TOOLS_SYSTEM_CONFIG")
                .unwrap_or_else(|| PathBuf::from("/etc/aerospike/astools.conf"));
            let mut v = vec![(system, false)];
            if let Some(home) = std::env::var_os("HOME") {
                v.push((Path::new(&home).join(".aerospike/astools.conf"), false));
            }
            v.extend(extra.map(|f| (f, true)));
            v
        };
        Ok(Selection { files, instance })
    }

    /// Every key of `sections` in the chosen files, later files winning.
    pub fn read(&self, sections: &[&str]) -> Result<Vec<Entry>, ConfigError> {
        let mut found = BTreeMap::new();
        for (file, required) in &self.files {
            self.read_file(file, *required, sections, 0, &mut found)?;
        }
        let mut entries: Vec<Entry> = found.into_values().collect();
        entries.sort_by_key(|e| e.order);
        Ok(entries)
    }

    fn read_file(
        &self,
        file: &Path,
        required: bool,
        sections: &[&str],
        depth: usize,
        found: &mut BTreeMap<String, Entry>,
    ) -> Result<(), ConfigError> {
        let name = file.display().to_string();
        let fail = |why: String| ConfigError::File {
            file: name.clone(),
            why,
        };
        if depth > 8 {
            return Err(fail("includes nest more than 8 deep".into()));
        }
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            // A default file that is absent or unreadable (a 0600 system file for another user)
            // is skipped, as the official tools skip it; a file the user named must be read.
            Err(_) if !required => return Ok(()),
            Err(e) => return Err(fail(format!("cannot read it: {e}"))),
        };
        let doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| fail(e.message().to_string()))?;
        for &section in sections {
            let Some((title, table)) = self.section(&doc, section) else {
                continue;
            };
            let table = table.as_table().ok_or_else(|| ConfigError::Key {
                file: name.clone(),
                section: title.clone(),
                key: String::new(),
                why: "not a section".into(),
            })?;
            for (key, value) in table {
                let order = found.len();
                found.insert(
                    key.to_ascii_lowercase(),
                    Entry {
                        file: name.clone(),
                        section: title.clone(),
                        key: key.to_ascii_lowercase(),
                        value: value.clone(),
                        order,
                    },
                );
            }
        }
        // An include is read after the file naming it, so its values win.
        if let Some(inc) = doc.get("include").and_then(|v| v.as_table()) {
            for (key, value) in inc {
                let bad = |why: &str| ConfigError::Key {
                    file: name.clone(),
                    section: "include".into(),
                    key: key.clone(),
                    why: why.into(),
                };
                let path = value.as_str().ok_or_else(|| bad("not a string"))?;
                match key.to_ascii_lowercase().as_str() {
                    "file" => {
                        self.read_file(Path::new(path), true, sections, depth + 1, found)?;
                    }
                    "directory" => {
                        let mut names: Vec<PathBuf> = std::fs::read_dir(path)
                            .map_err(|e| bad(&format!("cannot read {path}: {e}")))?
                            .filter_map(|e| e.ok().map(|e| e.path()))
                            .filter(|p| p.is_file())
                            .collect();
                        names.sort();
                        for p in names {
                            self.read_file(&p, true, sections, depth + 1, found)?;
                        }
                    }
                    _ => return Err(bad("unknown key (file or directory)")),
                }
            }
        }
        Ok(())
    }

    /// The section a tool reads for `base`: `[cluster_NAME]` alone for the cluster with an
    /// instance; `[base_NAME]` when the file has it, else `[base]`, for the others.
    fn section<'d>(&self, doc: &'d toml::Table, base: &str) -> Option<(String, &'d toml::Value)> {
        let find = |title: String| doc.get(&title).map(|t| (title, t));
        match &self.instance {
            Some(i) if base == "cluster" => find(format!("cluster_{i}")),
            Some(i) => find(format!("{base}_{i}")).or_else(|| find(base.to_string())),
            None => find(base.to_string()),
        }
    }
}

/// A flag's environment value as clap's `FalseyValueParser` reads it.
fn truthy(v: &std::ffi::OsStr) -> bool {
    let v = v.to_string_lossy().to_ascii_lowercase();
    !matches!(v.as_str(), "" | "0" | "false" | "no" | "n" | "off" | "f")
}

/// One key of a configuration file.
#[derive(Debug, Clone)]
pub struct Entry {
    pub file: String,
    pub section: String,
    pub key: String,
    pub value: toml::Value,
    order: usize,
}

impl Entry {
    fn error(&self, why: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            file: self.file.clone(),
            section: self.section.clone(),
            key: self.key.clone(),
            why: why.into(),
        }
    }

    /// The value as an option's text: strings as they are, numbers written out; `None` for a
    /// boolean, a table or an array.
    fn text(&self) -> Option<String> {
        match &self.value {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Float(f) => Some(f.to_string()),
            _ => None,
        }
    }
}

/// The sections a tool reads: `[cluster]` when it connects to one (it has `--host`), then its
/// own (`[as-scan]`, ...).
fn sections_of<'a>(tool: &'a str, cmd: &Command) -> Vec<&'a str> {
    let connects = cmd.get_arguments().any(|a| a.get_long() == Some("host"));
    let mut v = Vec::new();
    if connects {
        v.push("cluster");
    }
    v.push(tool);
    v
}

/// The command line with the files' options put in front of it (`argv` includes the program's
/// name). Without a file to read, `argv` unchanged.
pub fn resolve(
    tool: &str,
    cmd: &Command,
    argv: Vec<OsString>,
) -> Result<Vec<OsString>, ConfigError> {
    let selection = Selection::from_args(&argv[1.min(argv.len())..])?;
    let entries = selection.read(&sections_of(tool, cmd))?;
    if entries.is_empty() {
        return Ok(argv);
    }
    // What the command line (or an option's variable) sets, as the tool's own parser reads it
    // (short clusters, values that look like options). It fails only to show the help or the
    // version, which no file changes.
    let Ok(given) = cmd.clone().ignore_errors(true).try_get_matches_from(&argv) else {
        return Ok(argv);
    };
    let mut front = Vec::new();
    for e in &entries {
        let arg =
            find_arg(cmd, &e.key).ok_or_else(|| e.error(format!("unknown key for {tool}")))?;
        if matches!(
            given.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        front.extend(as_options(cmd, arg, e)?);
    }
    if front.is_empty() {
        return Ok(argv);
    }
    let mut out = Vec::with_capacity(argv.len() + front.len());
    let mut rest = argv.into_iter();
    out.extend(rest.next());
    out.extend(front);
    out.extend(rest);
    Ok(out)
}

/// The argument whose long name (or one of its aliases) is `key`, ignoring case.
fn find_arg<'c>(cmd: &'c Command, key: &str) -> Option<&'c Arg> {
    cmd.get_arguments()
        .filter(|a| !a.is_positional())
        .find(|a| {
            a.get_long().is_some_and(|l| l.eq_ignore_ascii_case(key))
                || a.get_all_aliases()
                    .is_some_and(|v| v.iter().any(|l| l.eq_ignore_ascii_case(key)))
        })
}

/// The options a key stands for, its value checked as the command line's would be.
fn as_options(cmd: &Command, arg: &Arg, e: &Entry) -> Result<Vec<OsString>, ConfigError> {
    let long = arg.get_long().unwrap_or_default();
    if !arg.get_action().takes_values() {
        let on = e
            .value
            .as_bool()
            .ok_or_else(|| e.error("needs true or false"))?;
        return Ok(match on {
            true => vec![format!("--{long}").into()],
            false => vec![],
        });
    }
    let text = e
        .text()
        .ok_or_else(|| e.error("needs a string or a number"))?;
    let option: OsString = format!("--{long}={text}").into();
    // The value checked by the command itself: only a complaint about this value counts here
    // (an option the command line has not given yet is not this file's mistake).
    let name = cmd.get_name().to_string();
    if let Err(err) = cmd
        .clone()
        .try_get_matches_from([OsString::from(name), option.clone()])
    {
        use clap::error::{ContextKind, ErrorKind::*};
        // Only a complaint about this option (not, say, a bad AS_LOG_LEVEL in the environment).
        let about_this = err
            .get(ContextKind::InvalidArg)
            .is_some_and(|a| a.to_string().starts_with(&format!("--{long}")));
        let bad_value = matches!(
            err.kind(),
            InvalidValue | ValueValidation | WrongNumberOfValues
        );
        if about_this && bad_value {
            return Err(e.error(first_line(&err.to_string())));
        }
    }
    Ok(vec![option])
}

fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or_default();
    l.strip_prefix("error: ").unwrap_or(l).to_string()
}

/// The four selection options, for every tool's command (help and checking). Each has an
/// environment variable too, so that a wrapper's choice reaches every stage it runs.
pub fn args(cmd: Command) -> Command {
    cmd.next_help_heading("Configuration files")
        .arg(
            Arg::new("config-file")
                .long("config-file")
                .env("AS_CONFIG_FILE")
                .value_name("PATH")
                .global(true)
                .help("Also read this configuration file, after /etc/aerospike/astools.conf and ~/.aerospike/astools.conf"),
        )
        .arg(
            Arg::new("instance")
                .long("instance")
                .env("AS_INSTANCE")
                .value_name("NAME")
                .global(true)
                .help("Read the files' [cluster_NAME] and [TOOL_NAME] sections"),
        )
        .arg(
            Arg::new("no-config-file")
                .long("no-config-file")
                .env("AS_NO_CONFIG_FILE")
                .action(ArgAction::SetTrue)
                .value_parser(clap::builder::FalseyValueParser::new())
                .global(true)
                .help("Read no configuration file"),
        )
        .arg(
            Arg::new("only-config-file")
                .long("only-config-file")
                .env("AS_ONLY_CONFIG_FILE")
                .value_name("PATH")
                .global(true)
                .help("Read this configuration file and no other"),
        )
        .next_help_heading(None::<&str>)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(args: &[&str]) -> Selection {
        let v: Vec<OsString> = args.iter().map(OsString::from).collect();
        Selection::from_args(&v).unwrap()
    }

    #[test]
    fn selection_follows_the_official_order() {
        let s = sel(&["--config-file", "/x.conf", "--instance=a"]);
        assert_eq!(s.files.len(), 3);
        assert_eq!(s.files[0].0, PathBuf::from("/etc/aerospike/astools.conf"));
        assert_eq!(s.files[2], (PathBuf::from("/x.conf"), true));
        assert_eq!(s.instance.as_deref(), Some("a"));
        assert_eq!(
            sel(&["--only-config-file=/o"]).files,
            vec![(PathBuf::from("/o"), true)]
        );
        assert!(sel(&["--no-config-file", "--config-file", "/x"])
            .files
            .is_empty());
    }

    #[test]
    fn keys_become_options_the_command_line_wins() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.conf");
        std::fs::write(
            &f,
            "[cluster]\nhost = \"h1\"\nport = 3100\n[cluster_b]\nhost = \"hb\"\n[t]\nverbose = true\nname = \"n\"\n",
        )
        .unwrap();
        let cmd = args(Command::new("t"))
            .arg(Arg::new("host").long("host").short('H'))
            .arg(
                Arg::new("port")
                    .long("port")
                    .value_parser(clap::value_parser!(u16)),
            )
            .arg(
                Arg::new("verbose")
                    .long("verbose")
                    .action(ArgAction::SetTrue),
            )
            .arg(Arg::new("name").long("name").short('n'));
        let only = format!("--only-config-file={}", f.display());
        let run = |extra: &[&str]| -> Result<Vec<String>, ConfigError> {
            let mut argv: Vec<OsString> = vec!["t".into(), only.clone().into()];
            argv.extend(extra.iter().map(OsString::from));
            Ok(resolve("t", &cmd, argv)?
                .into_iter()
                .map(|s| s.into_string().unwrap())
                .collect())
        };
        let got = run(&["-n", "cli"]).unwrap();
        assert_eq!(got[1..4], ["--host=h1", "--port=3100", "--verbose"]);
        assert!(!got.iter().any(|a| a == "--name=n"), "{got:?}");
        let got = run(&["--instance", "b"]).unwrap();
        assert_eq!(got[1], "--host=hb");
        assert!(!got.iter().any(|a| a.starts_with("--port")), "{got:?}");

        std::fs::write(&f, "[cluster]\nport = \"x\"\n").unwrap();
        let e = run(&[]).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: [cluster] port: ", f.display())),
            "{e}"
        );
        std::fs::write(&f, "[t]\nverbose = 1\n").unwrap();
        let e = run(&[]).unwrap_err().to_string();
        assert!(e.ends_with("[t] verbose: needs true or false"), "{e}");
        std::fs::write(&f, "[t]\nnope = 1\n").unwrap();
        let e = run(&[]).unwrap_err().to_string();
        assert!(e.ends_with("[t] nope: unknown key for t"), "{e}");
        std::fs::write(&f, "[t\n").unwrap();
        assert!(run(&[])
            .unwrap_err()
            .to_string()
            .starts_with(&f.display().to_string()));
    }
}
