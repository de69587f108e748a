//! The scheduling examples under `examples/` (cron, systemd, Kubernetes) run the installed tools:
//! `as-asbackup` and `as-asrestore` (scripts/asbackup and scripts/asrestore as scripts/install
//! names them) and `as-catalog`. Every option they give must be one the tool takes: as-catalog's
//! per subcommand (`as-catalog SUB --help`), the wrappers' in their `--help` or, for the options
//! the wrappers handle themselves, in their man pages. Each example must also hold what it is
//! for (a backup with metrics, a prune, a freshness check), and its shell must parse the way
//! its host reads it (cron's `%`, systemd's `$$` and `%%`, Kubernetes' `$(NAME)`). The commands
//! of docs/catalog.md are held to the same options.

use as_test_support::{asbackup_command, asrestore_command, repo, tool};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

const TOOLS: [&str; 3] = ["as-asbackup", "as-asrestore", "as-catalog"];

/// One invocation of a tool found in an example: the words after the tool's name.
#[derive(Debug)]
struct Call {
    tool: &'static str,
    words: Vec<String>,
}

impl Call {
    /// as-catalog's subcommand: its first word that is not an option.
    fn sub(&self) -> Option<&str> {
        (self.tool == "as-catalog")
            .then(|| self.words.iter().find(|w| !w.starts_with('-')))
            .flatten()
            .map(String::as_str)
    }

    /// The options given (`--opt=value` as `--opt`), not the values (`--keep-last -1`).
    fn options(&self) -> Vec<&str> {
        self.words
            .iter()
            .filter(|w| w.starts_with('-') && w.len() > 1)
            .filter(|w| !w[1..].chars().all(|c| c.is_ascii_digit()))
            .map(|w| w.split('=').next().unwrap())
            .collect()
    }

    fn has(&self, opt: &str) -> bool {
        self.options().contains(&opt)
    }

    fn line(&self) -> String {
        format!("{} {}", self.tool, self.words.join(" "))
    }
}

/// Lines as a shell (and systemd) reads them: a line ending in `\` goes on on the next. A
/// command shown in a comment goes on on the next comment line, without its `#`.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let mut l = line.trim_end();
        if cur.trim_start().starts_with('#') {
            l = l.trim_start().strip_prefix('#').unwrap_or(l);
        }
        match l.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(l);
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The part of a line that may hold commands: all of a line that is not a comment, and of a
/// comment only a command shown indented as code (`#   as-asrestore --catalog ...`); prose
/// that names a tool is not a command.
fn code_of(line: &str) -> Option<&str> {
    let Some(comment) = line.trim_start().strip_prefix('#') else {
        return Some(line);
    };
    let code = comment.strip_prefix("  ")?.trim_start();
    TOOLS.iter().any(|t| code.starts_with(t)).then_some(code)
}

/// The words of a command, as a shell splits them (quotes removed), up to the end of the
/// command: `;`, `|`, `&`, `)`, a redirection, a backquote, a comment, or a quote that closes a
/// string opened before the command (`bash -c '... as-catalog latest X'`).
fn words(s: &str) -> Vec<String> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            if in_word {
                out.push(std::mem::take(&mut cur));
                in_word = false;
            }
            i += 1;
            continue;
        }
        if ";|&)<>`".contains(ch) || (ch == '#' && !in_word) {
            break;
        }
        if ch == '\'' || ch == '"' {
            let Some(n) = c[i + 1..].iter().position(|&x| x == ch) else {
                break;
            };
            cur.extend(&c[i + 1..i + 1 + n]);
            in_word = true;
            i += n + 2;
            continue;
        }
        cur.push(ch);
        in_word = true;
        i += 1;
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Every invocation of the tools in a text (a tool's name as a word of its own, or at the end
/// of a path: `/usr/local/bin/as-catalog`).
fn calls_in(text: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    for line in logical_lines(text) {
        let Some(code) = code_of(&line) else {
            continue;
        };
        for t in TOOLS {
            for (at, _) in code.match_indices(t) {
                let end = at + t.len();
                let before = code[..at].chars().last();
                let after = code[end..].chars().next();
                let starts = before.is_none_or(|c| c.is_whitespace() || "/('\";|&`".contains(c));
                let ends = after.is_none_or(char::is_whitespace);
                if starts && ends {
                    calls.push(Call {
                        tool: t,
                        words: words(&code[end..]),
                    });
                }
            }
        }
    }
    calls
}

/// Whether `text` names `opt` as an option of its own: not as the start of a longer one
/// (`--catalog` in `--catalog-time`), nor inside a word.
fn mentions(text: &str, opt: &str) -> bool {
    let edge = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '-' || c == '_'));
    text.match_indices(opt)
        .any(|(i, _)| edge(text[..i].chars().last()) && edge(text[i + opt.len()..].chars().next()))
}

/// What each tool says it takes, asked once: `as-catalog SUB --help`; a wrapper's `--help`
/// (scripts/asbackup -Z prints its header and as-scan's options) with its man page (where the
/// options it handles itself are described), roff's `\-` read as `-`.
#[derive(Default)]
struct Reference(BTreeMap<String, Result<String, String>>);

impl Reference {
    fn of(&mut self, call: &Call) -> Result<&str, String> {
        let key = match call.sub() {
            Some(sub) => format!("{} {sub}", call.tool),
            None => call.tool.to_string(),
        };
        let text = self.0.entry(key).or_insert_with(|| help(call));
        text.as_deref().map_err(Clone::clone)
    }
}

fn help(call: &Call) -> Result<String, String> {
    let output = |mut c: Command| c.stdin(Stdio::null()).output().unwrap();
    match call.tool {
        "as-catalog" => {
            let sub = call.sub().ok_or("as-catalog without a subcommand")?;
            let o = output({
                let mut c = Command::new(tool("as-catalog"));
                c.args([sub, "--help"]);
                c
            });
            if !o.status.success() {
                return Err(format!(
                    "as-catalog has no subcommand {sub:?}: {}",
                    String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .next()
                        .unwrap_or("")
                ));
            }
            Ok(String::from_utf8_lossy(&o.stdout).into_owned())
        }
        wrapper => {
            let (c, page) = match wrapper {
                "as-asbackup" => (asbackup_command(&["--help"]), "man/asbackup.1"),
                _ => (asrestore_command(&["--help"]), "man/asrestore.1"),
            };
            let o = output(c);
            assert!(o.status.success(), "{wrapper} --help: {o:?}");
            let man = std::fs::read_to_string(repo().join(page)).unwrap();
            Ok(format!(
                "{}\n{}",
                String::from_utf8_lossy(&o.stdout),
                man.replace("\\-", "-")
            ))
        }
    }
}

/// The options of each call that its tool does not take, one line each.
fn unknown_options(file: &str, calls: &[Call], reference: &mut Reference) -> Vec<String> {
    let mut problems = Vec::new();
    for call in calls {
        let text = match reference.of(call) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{file}: `{}`: {e}", call.line()));
                continue;
            }
        };
        for opt in call.options() {
            if !mentions(text, opt) {
                let whose = match call.sub() {
                    Some(sub) => format!("{} {sub}", call.tool),
                    None => call.tool.to_string(),
                };
                problems.push(format!(
                    "{file}: `{}`: {whose} does not take {opt}",
                    call.line()
                ));
            }
        }
    }
    problems
}

/// A file of the checkout (`examples/...`).
fn example(name: &str) -> String {
    let path = repo().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `bash -n`: the script parses.
fn parses(what: &str, script: &str) {
    let o = Command::new("bash")
        .args(["-n", "-c", script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{what} is not valid bash: {}\n{script}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// What every schedule must do: back up into its catalog with a metrics file, incrementals
/// among them, prune, and check the catalog's freshness.
fn does_its_job(file: &str, calls: &[Call]) {
    let found = |tool: &str, sub: Option<&str>, opt: &str| {
        calls
            .iter()
            .any(|c| c.tool == tool && c.sub() == sub && c.has(opt))
    };
    for (tool, sub, opt) in [
        ("as-asbackup", None, "--catalog"),
        ("as-asbackup", None, "--metrics-file"),
        ("as-catalog", Some("prune"), "--prune-incomplete"),
        ("as-catalog", Some("latest"), "--max-age"),
    ] {
        assert!(
            found(tool, sub, opt),
            "{file}: no `{tool} {}... {opt}` in {calls:#?}",
            sub.map(|s| format!("{s} ")).unwrap_or_default()
        );
    }
    assert!(
        calls
            .iter()
            .any(|c| c.tool == "as-asbackup" && c.has("--incremental"))
            || file.contains("service")
            || file.contains("k8s"),
        "{file}: no incremental backup"
    );
}

#[test]
fn the_examples_give_the_tools_only_options_they_take() {
    let mut reference = Reference::default();
    let mut problems = Vec::new();
    let mut total = 0;
    for file in [
        "examples/catalog-crontab",
        "examples/catalog-backup.service",
        "examples/catalog-backup.timer",
        "examples/k8s-catalog-cronjob.yaml",
        "examples/k8s-sharded-backup.yaml",
        "examples/sharded-backup.sh",
        "docs/catalog.md",
    ] {
        let calls = calls_in(&example(file));
        total += calls.len();
        problems.extend(unknown_options(file, &calls, &mut reference));
    }
    assert!(
        total >= 10,
        "only {total} invocations found in the examples"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check above can fail: a misspelt option, an unknown subcommand and a wrapper's option that
/// does not exist are each named.
#[test]
fn a_wrong_option_is_named() {
    let text = "\
# prose that names as-catalog prune is not a command
0 * * * * flock -n /run/lock/x as-catalog prune /c --keep-dayly 7 --keep-last -1 > /dev/null
ExecStart=/bin/bash -c 'as-asbackup -n prod --catalog \"$$C\" --incrementall; exit $$?'
  exec /usr/local/bin/as-catalog lastest s3://b/c --max-age 9h
#   as-asrestore --catalog /c --until 2026-12-06 --delete-absent \\
#       --dry-runn
";
    let calls = calls_in(text);
    assert_eq!(calls.len(), 4, "{calls:#?}");
    let problems = unknown_options("test", &calls, &mut Reference::default());
    let named = |what: &str| problems.iter().any(|p| p.contains(what));
    assert!(
        named("as-catalog prune does not take --keep-dayly"),
        "{problems:#?}"
    );
    assert!(
        named("as-asbackup does not take --incrementall"),
        "{problems:#?}"
    );
    assert!(named("no subcommand \"lastest\""), "{problems:#?}");
    assert!(
        named("as-asrestore does not take --dry-runn"),
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 4, "only those: {problems:#?}");
}

/// cron: five time fields and a command, no `%` (cron turns it into a newline), the shell of
/// each command parses, and the backups and the prune share one lock.
#[test]
fn the_crontab_is_one_cron_reads() {
    let text = example("examples/catalog-crontab");
    let calls = calls_in(&text);
    does_its_job("examples/catalog-crontab", &calls);
    let mut locks = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.split_whitespace().next().unwrap().contains('=')
        {
            continue;
        }
        let fields: Vec<&str> = t.split_whitespace().collect();
        assert!(fields.len() >= 6, "not a cron line: {line}");
        let command = fields[5..].join(" ");
        assert!(!command.contains('%'), "cron cuts a command at %: {line}");
        parses(line, &command);
        if command.contains("as-asbackup") || command.contains("as-catalog prune") {
            let w = words(&command);
            assert_eq!(w[0], "flock", "runs without the lock: {line}");
            let lock = w.iter().skip(1).find(|x| x.starts_with('/')).unwrap();
            locks.push(lock.clone());
        }
    }
    assert!(locks.len() >= 3, "{locks:?}");
    assert!(
        locks.iter().all(|l| *l == locks[0]),
        "one lock for all: {locks:?}"
    );
}

/// systemd: a oneshot service with its timer; in the service's `bash -c` script every `$` is
/// `$$` and every `%` is `%%` (systemd reads both itself), and the script parses once systemd
/// has read it.
#[test]
fn the_systemd_units_are_ones_systemd_reads() {
    let service = example("examples/catalog-backup.service");
    let timer = example("examples/catalog-backup.timer");
    does_its_job("examples/catalog-backup.service", &calls_in(&service));
    for want in ["[Unit]", "[Service]", "Type=oneshot", "ExecStart="] {
        assert!(service.contains(want), "the service has no {want}");
    }
    for want in [
        "[Timer]",
        "OnCalendar=",
        "[Install]",
        "WantedBy=timers.target",
    ] {
        assert!(timer.contains(want), "the timer has no {want}");
    }
    let mut scripts = 0;
    for line in logical_lines(&service) {
        let Some(exec) = line.strip_prefix("ExecStart=") else {
            continue;
        };
        for (i, _) in exec.match_indices('%') {
            let doubled = exec[i..].starts_with("%%") || exec[..i].ends_with('%');
            assert!(doubled, "a % systemd would read as a specifier: {exec}");
        }
        let Some(body) = exec.strip_prefix("/bin/bash -c '") else {
            continue;
        };
        let body = body
            .trim_end()
            .strip_suffix('\'')
            .expect("one quoted script");
        let singles = body.replace("$$", "");
        assert!(!singles.contains('$'), "a $ systemd would expand: {body}");
        parses(
            "the service's script",
            &body.replace("$$", "$").replace("%%", "%"),
        );
        scripts += 1;
    }
    assert_eq!(scripts, 1, "the backup's script");
}

/// Kubernetes: CronJobs that never run two at once, credentials from Secrets, scripts that
/// parse, and no `$(NAME)` or `$$` that Kubernetes would expand before bash sees it.
#[test]
fn the_kubernetes_cronjobs_are_well_formed() {
    let text = example("examples/k8s-catalog-cronjob.yaml");
    does_its_job("examples/k8s-catalog-cronjob.yaml", &calls_in(&text));
    assert!(!text.contains('\t'), "YAML takes no tabs");
    let docs: Vec<&str> = text.split("\n---\n").collect();
    let cronjobs: Vec<&&str> = docs
        .iter()
        .filter(|d| d.contains("\nkind: CronJob"))
        .collect();
    assert!(!cronjobs.is_empty(), "no kind: CronJob");
    for d in &cronjobs {
        for want in [
            "apiVersion: batch/v1",
            "concurrencyPolicy: Forbid",
            "schedule:",
            "restartPolicy:",
        ] {
            assert!(d.contains(want), "a CronJob without {want}:\n{d}");
        }
    }
    assert!(text.contains("secretKeyRef:") && text.contains("kind: Secret"));
    assert!(!text.contains("$$"), "Kubernetes turns $$ into $");
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for (i, _) in line.match_indices("$(") {
            let name: String = line[i + 2..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                name.is_empty() || !line[i + 2 + name.len()..].starts_with(')'),
                "Kubernetes would expand $({name}): {line}"
            );
        }
    }
    // Each `- |` block is a bash script.
    let lines: Vec<&str> = text.lines().collect();
    let mut scripts = 0;
    for (n, line) in lines.iter().enumerate() {
        if line.trim() != "- |" {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let block: Vec<&str> = lines[n + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
            .copied()
            .collect();
        parses(&format!("the script at line {}", n + 2), &block.join("\n"));
        scripts += 1;
    }
    assert_eq!(scripts, cronjobs.len(), "one script per CronJob");
}
