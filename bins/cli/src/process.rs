//! Child processes: the one way the tools run a command line (a filter, a sink, a producer).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};

/// `bash -o pipefail -c cmd`, so that any stage of a pipeline failing fails the command, with
/// this program's directory first on PATH so that the sibling tools (as-encode, as-zstd,
/// as-s3put) are found wherever the toolkit is installed.
pub fn shell(cmd: &str) -> Command {
    let mut c = Command::new("bash");
    c.args(["-o", "pipefail", "-c", cmd]);
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![dir];
        dirs.extend(std::env::split_paths(&path));
        if let Ok(joined) = std::env::join_paths(dirs) {
            c.env("PATH", joined);
        }
    }
    c
}

/// [`shell`] in a process group of its own: a Ctrl-C meant for the pipeline does not reach it
/// (a file being finished is not cut), and [`kill_group`] stops all of it.
pub fn detached_shell(cmd: &str) -> Command {
    let mut c = shell(cmd);
    c.process_group(0);
    c
}

/// SIGKILL to the whole process group a [`detached_shell`] child leads.
pub fn kill_group(child: &Child) {
    // SAFETY: kill(2) on a process group this process made (the child's pid is its group id).
    unsafe {
        libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
    }
}
