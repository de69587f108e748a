"""Configuring and observing the tools as an operator does: astools.conf (the files' order,
--instance, --no-config-file, --only-config-file, mistakes, a password kept out of ps and the
logs), JSON logs parsed line by line, and metrics files read with Prometheus's own text parser
(prometheus_client), after a success and after a failure."""
import json
import os
import subprocess
import time

from prometheus_client.parser import text_string_to_metric_families
import pytest

import support
from support import Server, ROOT

ASBACKUP = os.path.join(ROOT, "scripts", "asbackup")
ASRESTORE = os.path.join(ROOT, "scripts", "asrestore")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A HOME and a system file of the test's own, so no real astools.conf is read."""
    h = tmp_path / "home"
    (h / ".aerospike").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.setenv("AS_TOOLS_SYSTEM_CONFIG", str(tmp_path / "system.conf"))
    monkeypatch.setenv("AS_TOOLS_BIN", support.BIN)
    for v in ["AS_PASSWORD", "AS_LOG_JSON", "AS_LOG_LEVEL", "AS_LOG_FILE", "AS_CONFIG_FILE",
              "AS_INSTANCE", "AS_ONLY_CONFIG_FILE", "AS_NO_CONFIG_FILE"]:
        monkeypatch.delenv(v, raising=False)
    return h


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def count(*args):
    """as-scan --count: the records the configured cluster holds."""
    return subprocess.run([support.tool("as-scan"), "--count", *args], capture_output=True,
                          text=True, timeout=60)


def test_later_files_win_and_the_command_line_wins_over_them(home, tmp_path):
    s = Server(nodes=1, sample=300)
    try:
        good, bad = s.ports[0], support.free_port()
        system = write(tmp_path / "system.conf",
                       f'[cluster]\nhost = "127.0.0.1"\nport = {bad}\n[as-scan]\nnamespace = "test"\n')
        # The system file alone: its port has no server.
        r = count()
        assert r.returncode != 0
        # The user's file comes after it and wins.
        user = write(home / ".aerospike" / "astools.conf", f"[cluster]\nport = {good}\n")
        r = count()
        assert r.returncode == 0, r.stderr
        assert r.stdout.split()[0] == "300"
        # --config-file comes after both.
        extra = write(tmp_path / "extra.conf", f"[cluster]\nport = {bad}\n")
        assert count("--config-file", extra).returncode != 0
        # The command line wins over every file.
        r = count("--config-file", extra, "-p", str(good))
        assert r.returncode == 0, r.stderr
        # --no-config-file: no file at all (the namespace must be given then).
        r = count("--no-config-file", "-n", "test", "-p", str(good))
        assert r.returncode == 0, r.stderr
        r = count("--no-config-file", "-p", str(good))
        assert r.returncode == 2 and "namespace" in r.stderr
        # --only-config-file: that file and no other (not the user's good port).
        only = write(tmp_path / "only.conf", f'[cluster]\nport = {bad}\n[as-scan]\nnamespace = "test"\n')
        assert count("--only-config-file", only).returncode != 0
        # --instance: [cluster_NAME] instead of [cluster], with no fallback.
        write(home / ".aerospike" / "astools.conf",
              f"[cluster]\nport = {bad}\n[cluster_b]\nport = {good}\n")
        r = count("--instance", "b")
        assert r.returncode == 0, r.stderr
        write(home / ".aerospike" / "astools.conf", f"[cluster]\nport = {good}\n[cluster_c]\n")
        # (So the defaults, 127.0.0.1:3000: nothing there, or a server other than this one.)
        r = count("--instance", "c")
        assert r.returncode != 0 or r.stdout.split()[0] != "300", r.stdout
        del system, user
    finally:
        s.stop()


def test_each_mistake_is_one_line_naming_the_file_section_and_key(home, tmp_path):
    cases = [
        ("[cluster]\nport = true\n", "[cluster] port:"),
        ("[cluster]\nprot = 3000\n", "[cluster] prot: unknown key"),
        ("[as-scan]\nno-bins = \"yes\"\n", "[as-scan] no-bins: needs true or false"),
        ("[cluster\n", "expected"),
    ]
    for text, want in cases:
        f = write(tmp_path / "bad.conf", text)
        r = count("--only-config-file", f, "-n", "test")
        assert r.returncode == 2, (text, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith(f"as-scan: error: {f}"), lines[0]
        assert want in lines[0], (want, lines[0])
    # The wrappers check their own sections the same way.
    f = write(tmp_path / "bad.conf", "[asbackup]\nparallel = \"four\"\n")
    r = subprocess.run([ASBACKUP, "--only-config-file", f, "-o", "-"], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == f"asbackup: error: {f}: [asbackup] parallel: needs an integer"
    # A refused option in a JSON log: the reason is in the line, as in text.
    r = subprocess.run([ASBACKUP, "--no-config-file", "--log-json", "-n", "test", "--auth", "PKI",
                        "-d", str(tmp_path / "never")], capture_output=True, text=True)
    assert r.returncode == 2
    [line] = json_lines(r.stderr)
    assert line["level"] == "error" and "--auth PKI needs --tls-enable" in line["message"], line
    assert not (tmp_path / "never").exists()
    # A broken default file does not stop a wrapper told to read none.
    write(home / ".aerospike" / "astools.conf", "[cluster\n")
    r = subprocess.run([ASBACKUP, "--no-config-file", "-n", "test", "-x", "--bogus"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "bogus" in r.stderr and "astools.conf" not in r.stderr, r.stderr
    (home / ".aerospike" / "astools.conf").unlink()
    f = write(tmp_path / "bad.conf", "[asrestore]\nthreadz = 4\n")
    r = subprocess.run([ASRESTORE, "--only-config-file", f, "-i", "x.asb"], capture_output=True,
                       text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == f"asrestore: error: {f}: [asrestore] threadz: unknown key for asrestore"


def test_a_password_from_a_file_stays_out_of_ps_logs_and_state(home, tmp_path):
    secret = "pw-from-the-file-7781"
    s = Server(nodes=1, sample=3000, extra=["--user", "ops", "--password", secret])
    try:
        write(home / ".aerospike" / "astools.conf",
              f'[cluster]\nhost = "127.0.0.1"\nport = {s.ports[0]}\nuser = "ops"\n'
              f'password = "{secret}"\n[asbackup]\nnamespace = "test"\n')
        out = tmp_path / "bk"
        log = tmp_path / "log.json"
        # Slowed down (-L) so that its processes can be looked at while it runs.
        p = subprocess.Popen([ASBACKUP, "-d", str(out), "-L", "2000", "--log-json",
                              "--log-level", "trace", "--log-file", str(log)],
                             stderr=subprocess.PIPE, text=True)
        seen = []
        while p.poll() is None:
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as f:
                            seen.append(f.read().decode(errors="replace"))
                    except OSError:
                        pass
            time.sleep(0.05)
        err = p.stderr.read()
        assert p.returncode == 0, err
        assert any("as-scan" in c for c in seen), "the backup's processes were never seen"
        # (The test server's own command line holds the password it checks.)
        assert not [c for c in seen if secret in c and "as-testd" not in c]
        assert secret not in err
        assert secret not in log.read_text()
        for f in out.iterdir():
            assert secret.encode() not in f.read_bytes(), f
        # And the backup is whole: restored into a server of no login, it holds every record.
        s2 = Server(nodes=1)
        try:
            r = subprocess.run([ASRESTORE, "--no-config-file", "-h", s2.host, "-d", str(out)],
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            c = count("--no-config-file", "-h", s2.host, "-n", "test")
            assert c.stdout.split()[0] == "3000", c.stdout
        finally:
            s2.stop()
    finally:
        s.stop()


def json_lines(text):
    """Every line parsed as JSON, with the fields every line has."""
    objs = []
    for line in text.splitlines():
        o = json.loads(line)
        for k in ("time", "level", "tool", "message"):
            assert k in o, (k, line)
        objs.append(o)
    return objs


def metrics(path):
    """The file read with Prometheus's text parser: {name: (labels, value)}."""
    out = {}
    for fam in text_string_to_metric_families(open(path).read()):
        for sample in fam.samples:
            out[sample.name] = (sample.labels, sample.value)
    return out


def test_json_logs_and_metrics_of_a_backup_and_a_restore(home, tmp_path):
    s = Server(nodes=2, sample=1000)
    bk, prom = tmp_path / "bk", tmp_path / "backup.prom"
    try:
        # Partitions 0-99 answer "unavailable" to the first scan: the backup retries them.
        s.info("testd-fault:unavailable=0-99;times=1")
        r = subprocess.run([ASBACKUP, "-h", s.host, "-n", "test", "-d", str(bk), "--log-json",
                            "--log-level", "debug", "--metrics-file", str(prom)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        logs = json_lines(r.stderr)
        # The retry is an event with its figures as fields.
        retries = [o for o in logs if o.get("retry") == 1]
        assert retries and retries[0]["partitions"] == 100 and retries[0]["level"] == "debug", logs
        assert {"as-scan", "as-split", "asbackup"} <= {o["tool"] for o in logs}
        done = [o for o in logs if o["tool"] == "asbackup" and o["message"].startswith("Backed up")]
        assert done and done[0]["records"] == 1000
        m = metrics(prom)
        labels, _ = m["astools_records"]
        assert labels == {"tool": "asbackup", "namespace": "test", "destination": "directory"}
        assert m["astools_records"][1] == 1000
        assert m["astools_retries"][1] >= 1
        assert m["astools_files"][1] >= 1
        assert m["astools_bytes"][1] == sum(f.stat().st_size for f in bk.glob("*.asb"))
        assert m["astools_last_run_success"][1] == 1
        assert m["astools_running"][1] == 0
        assert m["astools_failures_total"][1] == 0
        success = m["astools_last_success_timestamp_seconds"][1]
        assert abs(success - time.time()) < 60

        # A failed backup (the directory holds one already): counted, the success kept.
        r = subprocess.run([ASBACKUP, "-h", s.host, "-n", "test", "-d", str(bk), "--log-json",
                            "--metrics-file", str(prom)], capture_output=True, text=True)
        assert r.returncode != 0
        logs = json_lines(r.stderr)
        assert any(o["level"] == "error" for o in logs), r.stderr
        m = metrics(prom)
        assert m["astools_last_run_success"][1] == 0
        assert m["astools_failures_total"][1] == 1
        assert m["astools_last_success_timestamp_seconds"][1] == success

        # The restore: JSON logs from as-restore, its own metrics.
        s2 = Server(nodes=1)
        rprom = tmp_path / "restore.prom"
        try:
            r = subprocess.run([ASRESTORE, "-h", s2.host, "-d", str(bk), "--log-json",
                                "--metrics-file", str(rprom)], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            logs = json_lines(r.stderr)
            assert any(o["tool"] == "as-restore" for o in logs)
            m = metrics(rprom)
            assert m["astools_records"] == (
                {"tool": "asrestore", "namespace": "", "destination": "directory"}, 1000)
            assert m["astools_last_run_success"][1] == 1
        finally:
            s2.stop()
        # A failed restore (no server there): a JSON error line, the failure in the metrics.
        r = subprocess.run([ASRESTORE, "-h", f"127.0.0.1:{support.free_port()}", "-d", str(bk),
                            "--log-json", "--metrics-file", str(rprom)],
                           capture_output=True, text=True)
        assert r.returncode != 0
        logs = json_lines(r.stderr)
        assert logs[-1]["level"] == "error" and logs[-1]["tool"] == "as-restore", logs
        m = metrics(rprom)
        assert m["astools_failures_total"][1] == 1
        assert m["astools_last_run_success"][1] == 0
        assert "astools_last_success_timestamp_seconds" in m
    finally:
        s.stop()


def test_a_live_bar_on_a_terminal_and_lines_elsewhere(home, tmp_path):
    import pty
    s = Server(nodes=1, sample=2000)
    try:
        out = tmp_path / "s.stream"
        # stderr on a terminal: the bar (records of the total, time left), cleared at the end.
        leader, follower = pty.openpty()
        with open(out, "wb") as f:
            p = subprocess.Popen([support.tool("as-scan"), "--no-config-file", "-h", s.host,
                                  "-n", "test", "-L", "2000"], stdout=f, stderr=follower)
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        assert p.wait() == 0
        text = seen.decode(errors="replace")
        assert "/2000 records" in text and "left" in text, text
        assert "\r" in text
        # The data is untouched by it: the stream decodes.
        r = subprocess.run([support.tool("as-encode")], stdin=open(out, "rb"),
                           capture_output=True)
        assert r.returncode == 0, r.stderr
        # stderr a pipe: no bar, asbackup's lines with -v.
        r = subprocess.run([support.tool("as-scan"), "--no-config-file", "-h", s.host, "-n",
                            "test", "-v"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
        assert r.returncode == 0, r.stderr
        assert "2000 record(s)" in r.stderr and "\r" not in r.stderr, r.stderr
    finally:
        s.stop()
