//! Logs, through `tracing`: every tool's messages go to stderr (or `--log-file`), as lines a
//! person reads (`as-scan: warning: ...`, the form the tools always had) or, with `--log-json`,
//! one JSON object per line (`time`, `level`, `tool`, `message`, then the event's fields) for a
//! log pipeline. `--log-level` sets how much. stdout is never written here.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;

use clap::{Arg, ArgAction, ArgMatches, Command};
use std::sync::atomic::{AtomicU8, Ordering};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

static JSON: OnceLock<bool> = OnceLock::new();
static FILE: OnceLock<PathBuf> = OnceLock::new();
/// The most verbose level logged: 0 error, 1 warn, 2 info, 3 debug, 4 trace.
static LEVEL: AtomicU8 = AtomicU8::new(2);

fn rank(l: Level) -> u8 {
    match l {
        Level::ERROR => 0,
        Level::WARN => 1,
        Level::INFO => 2,
        Level::DEBUG => 3,
        Level::TRACE => 4,
    }
}

/// Whether an event is logged: the toolkit's own (targets `as_*`) up to the level; the
/// libraries' (the clouds' SDKs, which report each retry as info) only their errors, unless the
/// level is debug or trace.
fn wanted(meta: &tracing::Metadata<'_>) -> bool {
    let max = LEVEL.load(Ordering::Relaxed);
    let level = rank(*meta.level());
    if meta.target().starts_with("as_") || max >= 3 {
        level <= max
    } else {
        level == 0
    }
}

/// Whether logs are JSON lines (then progress goes through the log too, as events).
pub fn json() -> bool {
    JSON.get().copied().unwrap_or(false)
}

/// Lets more through than `--log-level` asked (a tool's `-vv` is `debug`); never less.
pub fn raise(to: Level) {
    LEVEL.fetch_max(rank(to), Ordering::Relaxed);
    tracing::callsite::rebuild_interest_cache();
}

/// `--log-level`, `--log-json` and `--log-file`, for every tool's command.
pub fn args(cmd: Command) -> Command {
    cmd.next_help_heading("Logging")
        .arg(
            Arg::new("log-level")
                .long("log-level")
                .env("AS_LOG_LEVEL")
                .value_name("LEVEL")
                .value_parser(["error", "warn", "info", "debug", "trace"])
                .ignore_case(true)
                .global(true)
                .help("How much to log: error, warn, info (default), debug or trace"),
        )
        .arg(
            Arg::new("log-json")
                .long("log-json")
                .env("AS_LOG_JSON")
                .action(ArgAction::SetTrue)
                .value_parser(clap::builder::FalseyValueParser::new())
                .global(true)
                .help("Log one JSON object per line: time, level, tool, message and the event's fields"),
        )
        .arg(
            Arg::new("log-file")
                .long("log-file")
                .env("AS_LOG_FILE")
                .value_name("PATH")
                .value_parser(clap::value_parser!(PathBuf))
                .global(true)
                .help("Append the log to this file instead of stderr"),
        )
        .next_help_heading(None::<&str>)
}

/// Starts logging as the command line says. Call once, before the tool runs.
pub fn init(tool: &'static str, m: &ArgMatches) -> std::io::Result<()> {
    let level = match m
        .get_one::<String>("log-level")
        .map(|s| s.to_ascii_lowercase())
    {
        Some(l) if l == "error" => Level::ERROR,
        Some(l) if l == "warn" => Level::WARN,
        Some(l) if l == "debug" => Level::DEBUG,
        Some(l) if l == "trace" => Level::TRACE,
        _ => Level::INFO,
    };
    let json = m.get_flag("log-json");
    let _ = JSON.set(json);
    let writer = match m.get_one::<PathBuf>("log-file") {
        Some(p) => {
            let _ = FILE.set(p.clone());
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::sync::Mutex::new(f))
        }
        None => tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr),
    };
    LEVEL.store(rank(level), Ordering::Relaxed);
    let filter = filter_fn(wanted);
    let fmt = tracing_subscriber::fmt::layer()
        .event_format(Line { tool, json })
        .with_writer(writer);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init();
    Ok(())
}

/// A line of the log, for a person or as JSON.
struct Line {
    tool: &'static str,
    json: bool,
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = *event.metadata().level();
        w.write_str(&line(
            self.tool,
            level,
            &fields.message,
            fields.rest,
            self.json,
        ))
    }
}

/// One line of the log (with its newline): `TOOL: [level: ]MESSAGE` for a person, or a JSON
/// object with the time, the level, the tool, the message and the fields.
pub fn line(
    tool: &str,
    level: Level,
    message: &str,
    fields: Vec<(String, serde_json::Value)>,
    json: bool,
) -> String {
    if json {
        let mut o = serde_json::Map::new();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        o.insert("time".into(), now.into());
        o.insert("level".into(), level.as_str().to_ascii_lowercase().into());
        o.insert("tool".into(), tool.into());
        o.insert("message".into(), message.into());
        for (k, v) in fields {
            o.insert(k, v);
        }
        format!("{}\n", serde_json::Value::Object(o))
    } else {
        let prefix = match level {
            Level::ERROR => "error: ",
            Level::WARN => "warning: ",
            Level::INFO => "",
            Level::DEBUG => "debug: ",
            Level::TRACE => "trace: ",
        };
        // The message says it all for a person; the fields are for the JSON log.
        format!("{tool}: {prefix}{message}\n")
    }
}

/// An event's message and other fields, as JSON values.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(String, serde_json::Value)>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = match value {
                serde_json::Value::String(s) => s,
                v => v.to_string(),
            };
        } else {
            self.rest.push((field.name().to_string(), value));
        }
    }
}

/// A progress line: written as it is on stderr for a person, or as an info event with the
/// counts so far in a JSON log.
pub fn progress(line: &str, records: u64, bytes: u64) {
    if json() || FILE.get().is_some() {
        tracing::info!(kind = "progress", records, bytes, "{line}");
    } else {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// Writes one line where the log goes (stderr, or `--log-file`), in its format: for a wrapper's
/// own messages (`as-tools log`), which come from no event of this process.
pub fn write(tool: &str, level: Level, message: &str, fields: Vec<(String, serde_json::Value)>) {
    if rank(level) > LEVEL.load(Ordering::Relaxed) {
        return;
    }
    let text = line(tool, level, message, fields, json());
    match FILE.get() {
        Some(p) => {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
            {
                let _ = f.write_all(text.as_bytes());
            }
        }
        None => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
}
