"""The fault table (scripts/faults): each fault is tried against the bundled test server, moto
and the OS, and the backup's records are compared with what the server holds.

A row: the fault, the records the server holds in the scope, the records found in the backup,
how many were lost and how many were written twice (or were not the server's), the exit statuses
of the runs (the last one finishing the backup), and a note. Exits non-zero if any backup lost
or doubled a record, or a run ended with an unexpected status. Rates (--records-per-second,
--nice) are measured and printed, never judged here: timing is for the eye, not for CI."""
import argparse
import base64
import collections
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from support import (Emulator, Moto, Server, dir_digests, digests_of,  # noqa: E402
                     free_port, server_digests, use_bin)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ap = argparse.ArgumentParser()
ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release"))
ap.add_argument("--records", type=int, default=20000)
ap.add_argument("--no-rates", action="store_true")
ap.add_argument("--only", choices=["scan", "replicas", "output", "s3", "gcs", "azure", "restore"],
                help="one group of faults")
opts = ap.parse_args()
BIN = os.path.abspath(opts.bin)
use_bin(BIN)
ENV = dict(os.environ, AS_TOOLS_BIN=BIN, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
           AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/nonexistent",
           AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
ENV.pop("AWS_PROFILE", None)
WRAPPER = os.path.join(ROOT, "scripts", "asbackup")
RESTORE = os.path.join(ROOT, "scripts", "asrestore")
PY = sys.executable
rows = []
bad = []


def backup(args, cwd=None, limit_kib=None):
    pre = f"ulimit -f {limit_kib}; " if limit_kib else ""
    return subprocess.run(["bash", "-c", pre + 'exec "$0" "$@"', WRAPPER, *args], env=ENV,
                          capture_output=True, cwd=cwd)


def spawn(args, cwd=None):
    return subprocess.Popen([WRAPPER, *args], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=cwd)


def child(parent, name):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == parent and comm == name:
            return int(pid)
    return None


def wait_for(path, extra=0.8):
    for _ in range(800):
        if os.path.exists(path):
            break
        time.sleep(0.025)
    time.sleep(extra)


def report(fault, want, got, statuses, expect, note=""):
    """expect: the statuses the runs must end with (the last one finishes the backup)."""
    want = want or {}
    lost = sum(1 for d in want if d not in got) if got is not None else None
    doubled = (sum(n - 1 for n in got.values()) + sum(1 for d in got if d not in want)
               if got is not None else None)
    ok = statuses == expect and (got is None or (lost == 0 and doubled == 0))
    rows.append((fault, len(want) or "-", "-" if got is None else sum(got.values()),
                 "-" if lost is None else lost, "-" if doubled is None else doubled,
                 ",".join(str(s) for s in statuses), note, ok))
    if not ok:
        bad.append(fault)


def failed_stage(stderr):
    m = re.search(r"the backup failed: (.*)", stderr.decode(errors="replace"))
    return m.group(1) if m else "STAGE NOT NAMED"


def scan_faults():
    srv = Server(nodes=3, sample=opts.records)
    want = server_digests(srv)
    cases = [
        ("connection reset after 50 records", "testd-fault:drop-after=50;node=0", []),
        ("partitions 0-300 unavailable twice", "testd-fault:unavailable=0-300;times=2", ["-w", "4"]),
        ("node stalls 3 s, socket timeout 300 ms", "testd-fault:stall=3000;node=1",
         ["--socket-timeout", "300"]),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, knob, extra) in enumerate(cases):
            srv.info(knob)
            f = f"{tmp}/{i}.asb"
            r = backup(["-h", srv.host, "-n", "test", "-o", f, *extra])
            got = collections.Counter()
            if r.returncode == 0:
                digests_of(open(f, "rb").read(), got)
            report(name, want, got, [r.returncode], [0])
        # A node taken away mid-scan (throttled so that it is mid-scan).
        p = spawn(["-h", srv.host, "-n", "test", "-o", f"{tmp}/kill.asb", "-L", "8000"])
        time.sleep(1.0)
        srv.info("testd-kill:node=1", node=2)
        p.wait()
        got = collections.Counter()
        if p.returncode == 0:
            digests_of(open(f"{tmp}/kill.asb", "rb").read(), got)
        report("node taken away mid-scan", want, got, [p.returncode], [0])
        srv.info("testd-revive:node=1")
        # A node away when the backup begins, back mid-scan: found among the peers.
        srv.info("testd-kill:node=2")
        p = spawn(["-h", srv.host, "-n", "test", "-o", f"{tmp}/back.asb", "-L", "8000"])
        time.sleep(1.0)
        srv.info("testd-revive:node=2")
        p.wait()
        got = collections.Counter()
        if p.returncode == 0:
            digests_of(open(f"{tmp}/back.asb", "rb").read(), got)
        report("node away at the start, back mid-scan", want, got, [p.returncode], [0])
        # Unavailable past the retries: the backup stops with a state; --continue finishes it.
        srv.info("testd-fault:unavailable=7-7;times=100")
        d = f"{tmp}/unavail"
        args = ["-h", srv.host, "-n", "test", "-d", d, "-w", "2", "--max-retries", "2"]
        r1 = backup(args)
        srv.info("testd-fault:clear=1")
        r2 = backup(args + ["--continue", f"{d}/test.asb.state"])
        report("partition unavailable past the retries, --continue", want, dir_digests(d),
               [r1.returncode, r2.returncode], [7, 0], failed_stage(r1.stderr))
    srv.stop()
    # Nothing listening: refused at once, no file.
    with tempfile.TemporaryDirectory() as tmp:
        f = f"{tmp}/x.asb"
        r = backup(["-h", f"127.0.0.1:{free_port()}", "-n", "test", "-o", f])
        report("cluster unreachable at start", None, None, [r.returncode], [4],
               "no file" if not os.path.exists(f) else "A FILE WAS LEFT")


def replica_faults():
    """Three nodes, two copies of each partition: a node that fails mid-scan is replaced by the
    copies on the others."""
    srv = Server(nodes=3, sample=opts.records, extra=("--replication-factor", "2"))
    want = server_digests(srv)
    # (name, info commands with their delay in seconds, extra options); throttled so that the
    # faults strike mid-scan.
    cases = [
        ("x2 copies: connection reset after 50 records", [(0, "testd-fault:drop-after=50;node=1")],
         []),
        ("x2 copies: node stalls 3 s, socket timeout 300 ms", [(0, "testd-fault:stall=3000;node=1")],
         ["--socket-timeout", "300"]),
        ("x2 copies: node killed mid-scan", [(0.5, "testd-kill:node=1")], ["-L", "8000"]),
        ("x2 copies: node leaves and comes back mid-scan",
         [(0.4, "testd-kill:node=2"), (1.0, "testd-revive:node=2")], ["-L", "8000", "-w", "4"]),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, steps, extra) in enumerate(cases):
            f = f"{tmp}/{i}.asb"
            for _, cmd in [x for x in steps if x[0] == 0]:
                srv.info(cmd)
            p = spawn(["-h", srv.host, "-n", "test", "-o", f, *extra])
            start = time.monotonic()
            for at, cmd in [x for x in steps if x[0] > 0]:
                time.sleep(max(0, at - (time.monotonic() - start)))
                srv.info(cmd)
            p.wait()
            got = collections.Counter()
            if p.returncode == 0:
                digests_of(open(f, "rb").read(), got)
            report(name, want, got, [p.returncode], [0])
            srv.info("testd-revive:node=1")
            srv.info("testd-revive:node=2")
    srv.stop()


def output_faults():
    srv = Server(nodes=2, sample=opts.records)
    want = server_digests(srv)
    slow = ["--records-per-second", "4000"]
    with tempfile.TemporaryDirectory() as tmp:
        def dir_case(name, extra, stop, expect_first, scope=()):
            want_here = server_digests(srv, ("-n", "test", *scope)) if scope else want
            d = f"{tmp}/{len(rows)}"
            args = ["-h", srv.host, "-n", "test", "-d", d, *extra, *scope]
            state = f"{d}/test.asb.state"
            statuses = []
            for how in stop:
                p = spawn(args + slow + (["--continue", state] if statuses else []))
                wait_for(state)
                if how == "TERM":
                    p.send_signal(signal.SIGTERM)
                else:
                    pid = child(p.pid, how)
                    if pid:
                        os.kill(pid, signal.SIGKILL)
                p.wait()
                statuses.append(p.returncode)
            r = backup(args + ["--continue", state])
            statuses.append(r.returncode)
            report(name, want_here, dir_digests(d), statuses, expect_first + [0])

        dir_case("SIGTERM, --continue (-w 4 -z zstd -F 1)", ["-w", "4", "-z", "zstd", "-F", "1"],
                 ["TERM"], [143])
        dir_case("SIGTERM twice (again while resuming)", ["-w", "2"], ["TERM", "TERM"],
                 [143, 143])
        dir_case("SIGKILL of as-scan, --continue", ["-w", "2", "-F", "1"], ["as-scan"], [137])
        dir_case("SIGKILL of as-split, --continue", ["-w", "2", "-F", "1"], ["as-split"], [137])
        dir_case("partition list, SIGTERM, --continue", ["-w", "3"], ["TERM"], [143],
                 scope=("-X", "0-1000,2000-700"))

        # The disk fills up (a file-size limit): a clear error, then --continue with room.
        d = f"{tmp}/full"
        args = ["-h", srv.host, "-n", "test", "-d", d, "-F", "2"]
        r1 = backup(args, limit_kib=1536)
        r2 = backup(args + ["--continue", f"{d}/test.asb.state"])
        report("disk full (file-size limit), --continue", want, dir_digests(d),
               [r1.returncode, r2.returncode], [1, 0],
               "File too large" if b"File too large" in r1.stderr else "NO CLEAR ERROR")

        # A downstream stage that stops reading early.
        r = subprocess.run(["bash", "-c", f'set -o pipefail; "{WRAPPER}" -h {srv.host} -n test '
                                          f'-o - | head -c 1000 > /dev/null'],
                           env=ENV, capture_output=True)
        report("downstream exits early (-o - | head)", want, None, [r.returncode], [141],
               failed_stage(r.stderr))

        # One file: an upstream stage that dies, then as-split killed while resuming; no
        # finished file until --continue completes it.
        f = f"{tmp}/one.asb"
        args = ["-h", srv.host, "-n", "test", "-o", f, "-z", "zstd"]
        statuses, early = [], False
        for victim in ("as-scan", "as-split"):
            p = spawn(args + slow + (["--continue", f + ".state"] if statuses else []))
            wait_for(f + ".state")
            pid = child(p.pid, victim)
            if pid:
                os.kill(pid, signal.SIGKILL)
            p.wait()
            statuses.append(p.returncode)
            early |= os.path.exists(f)
        r = backup(args + ["--continue", f + ".state"])
        statuses.append(r.returncode)
        got = collections.Counter()
        if r.returncode == 0:
            digests_of(open(f, "rb").read(), got)
        report("-o FILE: SIGKILL of as-scan, of as-split, --continue", want, got, statuses,
               [137, 137, 0], "a finished file appeared early" if early else "")
    srv.stop()


def cloud_faults(store):
    """Failing, slow and dying servers in front of a single-object backup into S3 (moto), GCS
    (fake-gcs-server) or Azure (Azurite), and a directory backup stopped and resumed."""
    e = store()
    name = e.name
    # Enough records for several parts (S3's are 5 MiB at least).
    srv = Server(nodes=2, sample=max(opts.records, 30000))
    want = server_digests(srv)
    base = ["-h", srv.host, "-n", "test"]
    for title, args, key in [
        (f"{name} answers 500 to 3 part uploads", ["--fail", "3"], "e500.asb"),
        (f"{name} slow (300 ms per request)", ["--delay-ms", "300"], "slow.asb"),
    ]:
        px, url = e.proxy(*args)
        r = backup(base + ["-o", f"{e.scheme}://bkt/{key}"] + e.options(url) + e.small)
        px.kill()
        got = collections.Counter()
        if r.returncode == 0:
            digests_of(e.util("get", "bkt", key), got)
        report(title, want, got, [r.returncode], [0])
    px, url = e.proxy("--die-after", "2")
    r = backup(base + ["-o", f"{e.scheme}://bkt/dies.asb"] + e.options(url) + e.small)
    px.kill()
    report(f"{name} dies mid-upload", want, None, [r.returncode], [1],
           "no object" if not e.keys("dies") else "AN OBJECT WAS LEFT")
    # Directory mode into a prefix: SIGTERM, then --continue (the state in the current dir).
    with tempfile.TemporaryDirectory() as cwd:
        args = base + ["-d", f"{e.scheme}://bkt/dir", "-F", "1", "-w", "2"] + e.options()
        p = spawn(args + ["--records-per-second", "4000"], cwd=cwd)
        wait_for(f"{cwd}/test.asb.state")
        p.send_signal(signal.SIGTERM)
        p.wait()
        r = backup(args + ["--continue", f"{cwd}/test.asb.state"], cwd=cwd)
        got = collections.Counter()
        for k in e.keys("dir/"):
            if k.endswith(".asb"):
                digests_of(e.util("get", "bkt", k), got)
        report(f"{name} prefix: SIGTERM, --continue", want, got, [p.returncode, r.returncode],
               [143, 0])
    e.stop()
    srv.stop()


def restore_faults():
    """A backup of the sample data restored into a fresh cluster under each fault: the cluster
    must then hold exactly the backup's records; a restore that cannot finish says so, and one
    stopped by SIGINT holds exactly what it reported as inserted."""
    src = Server(nodes=2, sample=opts.records)
    with tempfile.TemporaryDirectory() as tmp:
        f = f"{tmp}/src.asb"
        r = backup(["-h", src.host, "-n", "test", "-o", f])
        assert r.returncode == 0, r.stderr
        src.stop()
        want = collections.Counter()
        digests_of(open(f, "rb").read(), want)
        # (name, nodes, info commands with their delay in seconds, extra options, statuses)
        cases = [
            ("restore: 3 batch connections reset", 2, [(0, "testd-fault:cut-batches=3")], [], [0]),
            ("restore: 300 writes answer device overload", 2,
             [(0, "testd-fault:write-error=18;times=300")], [], [0]),
            ("restore: 300 single writes time out", 2, [(0, "testd-fault:write-error=9;times=300")],
             ["--disable-batch-writes"], [0]),
            ("restore: node killed mid-restore", 3, [(0.8, "testd-kill:node=2")],
             ["-N", f"100,{max(opts.records // 3, 1)}"], [0]),
            ("restore: retries used up", 1, [(0, "testd-fault:write-error=9;times=1000000")],
             ["--max-retries", "2"], [7]),
            ("restore: SIGINT mid-restore", 2, [(1.0, "SIGINT")],
             ["-N", f"100,{max(opts.records // 4, 1)}"], [130]),
        ]
        for name, nodes, steps, extra, expect in cases:
            dst = Server(nodes=nodes)
            for _, cmd in [x for x in steps if x[0] == 0]:
                dst.info(cmd)
            p = subprocess.Popen([RESTORE, "-h", dst.host, "-i", f, "--retry-scale-factor", "20000",
                                  *extra], env=ENV, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
            start = time.monotonic()
            for at, cmd in [x for x in steps if x[0] > 0]:
                time.sleep(max(0, at - (time.monotonic() - start)))
                if cmd == "SIGINT":
                    p.send_signal(signal.SIGINT)
                else:
                    dst.info(cmd)
            _, err = p.communicate()
            got = server_digests(dst)
            m = re.search(rb"inserted ([0-9]+):", err)
            inserted = int(m.group(1)) if m else -1
            if expect == [0]:
                report(name, want, got, [p.returncode], expect, f"inserted {inserted}")
            else:
                # Not finished: what the cluster holds is what the counts say was inserted.
                held = sum(got.values())
                report(name, None, None, [p.returncode], expect, f"inserted {inserted}, held {held}")
                if inserted != held or inserted == len(want):
                    bad.append(name)
            dst.stop()


def rates():
    srv = Server(nodes=2, sample=opts.records)
    out = []
    for rps in (2000, 8000):
        r = subprocess.run([f"{BIN}/as-scan", "-h", srv.host, "-n", "test", "-w", "4", "-v",
                            "--records-per-second", str(rps)], capture_output=True)
        m = re.search(r"record\(s\).* in ([0-9.]+) s \(([0-9]+) rec/s\)", r.stderr.decode())
        got = float(m.group(2)) if m else 0
        out.append((f"--records-per-second {rps} -w 4", f"{rps} rec/s", f"{got:.0f} rec/s",
                    f"{(got - rps) / rps * 100:+.1f}%"))
    for mib in (1, 4):
        t = time.monotonic()
        r = subprocess.run([f"{BIN}/as-scan", "-h", srv.host, "-n", "test", "-w", "4",
                            "--bandwidth", str(mib)], capture_output=True)
        secs = time.monotonic() - t
        got = len(r.stdout) / secs / (1 << 20)
        out.append((f"--nice {mib} (stream MiB/s) -w 4", f"{mib} MiB/s", f"{got:.2f} MiB/s",
                    f"{(got - mib) / mib * 100:+.1f}%"))
    srv.stop()
    return out


for group, run in (("scan", scan_faults), ("replicas", replica_faults), ("output", output_faults),
                   ("s3", lambda: cloud_faults(Moto)),
                   ("gcs", lambda: cloud_faults(lambda: Emulator("gs"))),
                   ("azure", lambda: cloud_faults(lambda: Emulator("az"))),
                   ("restore", restore_faults)):
    if opts.only in (None, group):
        run()
w = max(len(r[0]) for r in rows)
print(f"{'fault':<{w}}  {'expected':>8}  {'found':>8}  {'lost':>4}  {'doubled':>7}  "
      f"{'exit':<9}  note")
for f, e, g, lost, d, st, note, ok in rows:
    print(f"{f:<{w}}  {e:>8}  {g:>8}  {lost:>4}  {d:>7}  {st:<9}  {note}{'' if ok else '  <== FAILED'}")
if not opts.no_rates:
    print()
    print(f"{'limit':<34}  {'target':>12}  {'measured':>14}  {'off by':>7}")
    for r in rates():
        print(f"{r[0]:<34}  {r[1]:>12}  {r[2]:>14}  {r[3]:>7}")
if bad:
    print(f"\nfaults: {len(bad)} row(s) failed: {', '.join(bad)}", file=sys.stderr)
    sys.exit(1)
