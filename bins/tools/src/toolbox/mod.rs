//! `as-tools`: what the wrappers (and scripts composing the tools by hand) need beside the
//! stages: the `[asbackup]`/`[asrestore]` sections of the configuration files as options, a log
//! line in the tools' format, a metrics file, and the shell completions of every tool.

mod sections;

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "as-tools",
    version,
    about = "The toolkit's helpers: configuration sections as options, log lines, metrics files and shell completions"
)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print the options the configuration files' [asbackup] or [asrestore] section gives, one
    /// per line (`--key=value`, or `--key` for a flag that is true), leaving out those the
    /// command line after `--` already gives. Keys are checked against the official tool's
    /// (name and type); a mistake is one line naming the file, the section and the key (exit 2).
    /// The files are chosen by --config-file, --instance, --no-config-file and
    /// --only-config-file, also when they come after `--`.
    Config {
        #[arg(value_enum)]
        section: sections::Section,
        /// Read the wrapper's command line from standard input, each argument ended by a NUL
        /// byte, instead of after `--` (so that a password on it is on no other command line).
        #[arg(long)]
        stdin: bool,
        /// The wrapper's command line.
        #[arg(last = true, allow_hyphen_values = true)]
        command_line: Vec<String>,
    },
    /// Write one log line as the tools do (to stderr, or --log-file; JSON with --log-json).
    Log {
        /// The tool the line is from (asbackup, asrestore, ...).
        #[arg(long)]
        tool: String,
        #[arg(value_enum)]
        level: LogLevel,
        message: String,
        /// Fields for the JSON log: KEY=VALUE (a number when VALUE is one).
        fields: Vec<String>,
    },
    /// Print what kind of place a backup is in, as the metrics' `destination` label names it:
    /// directory, file, stdout, s3, gcs or azure.
    Destination {
        /// The backup directory or cloud prefix (-d).
        #[arg(short = 'd', long)]
        directory: Option<String>,
        /// The backup file or cloud object (-o; `-` is standard output).
        #[arg(short = 'o', long)]
        output_file: Option<String>,
    },
    /// Write a run's metrics file (Prometheus text format, atomically), keeping the last success
    /// time and the failure count the file holds.
    Metrics {
        #[arg(long, value_name = "PATH")]
        file: PathBuf,
        #[arg(long)]
        tool: String,
        #[arg(long, default_value = "")]
        namespace: String,
        /// file, directory, stdout, stdin, s3, gcs or azure.
        #[arg(long, default_value = "")]
        destination: String,
        #[arg(long, value_enum)]
        outcome: Outcome,
        /// When the run started (Unix seconds); now when not given.
        #[arg(long)]
        started: Option<f64>,
        #[arg(long, default_value_t = 0)]
        records: u64,
        #[arg(long, default_value_t = 0)]
        bytes: u64,
        #[arg(long, default_value_t = 0)]
        files: u64,
        #[arg(long, default_value_t = 0)]
        retries: u64,
    },
    /// Write the shell completions of every tool and both wrappers into DIR (bash: one file per
    /// command; zsh: _NAME; fish: NAME.fish).
    Completions {
        #[arg(value_enum)]
        shell: Shell,
        dir: PathBuf,
        /// The names the wrappers are installed under (asbackup and asrestore, or others).
        #[arg(long, num_args = 2, value_names = ["BACKUP", "RESTORE"], default_values = ["asbackup", "asrestore"])]
        wrappers: Vec<String>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Outcome {
    Running,
    Succeeded,
    Failed,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match a.cmd {
        Cmd::Config {
            section,
            stdin,
            mut command_line,
        } => {
            if stdin {
                let mut all = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut all)?;
                // Each argument ends with a NUL (an empty one included).
                if let Some(body) = all.strip_suffix(&[0]) {
                    command_line.extend(
                        body.split(|b| *b == 0)
                            .map(|a| String::from_utf8_lossy(a).into_owned()),
                    );
                }
            }
            let mut out = std::io::stdout().lock();
            for opt in sections::options(section, &command_line)? {
                writeln!(out, "{opt}")?;
            }
            Ok(())
        }
        Cmd::Log {
            tool,
            level,
            message,
            fields,
        } => {
            let level = match level {
                LogLevel::Error => tracing::Level::ERROR,
                LogLevel::Warn => tracing::Level::WARN,
                LogLevel::Info => tracing::Level::INFO,
                LogLevel::Debug => tracing::Level::DEBUG,
            };
            let fields = fields
                .iter()
                .filter_map(|f| f.split_once('='))
                .map(|(k, v)| {
                    let v = v
                        .parse::<u64>()
                        .map(serde_json::Value::from)
                        .unwrap_or_else(|_| v.into());
                    (k.to_string(), v)
                })
                .collect();
            as_cli::log::write(&tool, level, &message, fields);
            Ok(())
        }
        Cmd::Destination {
            directory,
            output_file,
        } => {
            // asbackup without -d or -o writes to standard output.
            let file = output_file
                .as_deref()
                .or(directory.is_none().then_some("-"));
            let kind = crate::backup::kind(directory.as_deref(), file, "stdout");
            writeln!(std::io::stdout(), "{kind}")?;
            Ok(())
        }
        Cmd::Metrics {
            file,
            tool,
            namespace,
            destination,
            outcome,
            started,
            records,
            bytes,
            files,
            retries,
        } => {
            use as_cli::metrics::{Counts, Labels, Metrics};
            let labels = Labels {
                tool,
                namespace,
                destination,
            };
            let outcome = match outcome {
                Outcome::Running => as_cli::metrics::Outcome::Running,
                Outcome::Succeeded => as_cli::metrics::Outcome::Succeeded,
                Outcome::Failed => as_cli::metrics::Outcome::Failed,
            };
            let counts = Counts {
                records,
                bytes,
                files,
                retries,
            };
            Metrics::new(&file, labels, started)
                .write(counts, outcome)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
        }
        Cmd::Completions {
            shell,
            dir,
            wrappers,
        } => completions(shell, &dir, &wrappers),
    }
}

/// Every command's completions; the wrappers complete as as-scan and as-restore do, whose
/// options they take.
fn completions(shell: Shell, dir: &std::path::Path, wrappers: &[String]) -> anyhow::Result<()> {
    use clap_complete::shells;
    std::fs::create_dir_all(dir)?;
    let mut all: Vec<(String, clap::Command)> = crate::TOOLS
        .iter()
        .map(|(name, cmd)| (name.to_string(), cmd()))
        .collect();
    all.push((wrappers[0].clone(), as_cli::command::<crate::scan::Args>()));
    all.push((
        wrappers[1].clone(),
        as_cli::command::<crate::restore::Args>(),
    ));
    for (name, cmd) in all {
        let cmd = cmd.bin_name(name.clone());
        let (file, mut cmd) = match shell {
            Shell::Bash => (name.clone(), cmd),
            Shell::Zsh => (format!("_{name}"), cmd),
            Shell::Fish => (format!("{name}.fish"), cmd),
        };
        let mut out = std::fs::File::create(dir.join(file))?;
        match shell {
            Shell::Bash => clap_complete::generate(shells::Bash, &mut cmd, &name, &mut out),
            Shell::Zsh => clap_complete::generate(shells::Zsh, &mut cmd, &name, &mut out),
            Shell::Fish => clap_complete::generate(shells::Fish, &mut cmd, &name, &mut out),
        }
    }
    Ok(())
}
