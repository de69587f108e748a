"""The helpers every Python test uses (the pytest tests and the fault table, scripts/faults):
where the tools are, the bundled test server (as-testd), moto, and the digests of the records
a backup or a server holds. The Rust tests have theirs in tests/support."""
import collections
import os
import shutil
import socket
import tempfile
import subprocess
import sys
import time

import asb

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The built tools: AS_TOOLS_BIN, else the debug build; scripts/faults sets its own.
BIN = os.environ.get("AS_TOOLS_BIN", os.path.join(ROOT, "target", "debug"))
PY = sys.executable


def use_bin(path):
    global BIN
    BIN = os.path.abspath(path)


def tool(name):
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: build the tools first (cargo build)")
    return path


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    """A running as-testd on free ports; stop() kills it."""

    def __init__(self, nodes=2, sample=None, extra=()):
        args = [tool("as-testd"), "--port", "0", "--nodes", str(nodes), *extra]
        if sample:
            args += ["--sample", str(sample)]
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        assert line.startswith("ready "), line
        self.ports = [int(x) for x in line.split()[1].split(",")]
        self.host = f"127.0.0.1:{self.ports[0]}"

    addr = "127.0.0.1"

    def info(self, cmd, node=0):
        s = socket.create_connection((self.addr, self.ports[node]))
        body = (cmd + "\n").encode()
        s.sendall(bytes([2, 1]) + len(body).to_bytes(6, "big") + body)
        h = s.recv(8)
        n = int.from_bytes(h[2:], "big")
        data = b""
        while len(data) < n:
            data += s.recv(n - len(data))
        s.close()
        return data.decode()

    def stop(self):
        self.p.kill()
        self.p.wait()


class ExternalServer(Server):
    """A real server or cluster given by AS_TEST_SERVER=HOST:PORT (a seed on this machine's
    loopback or elsewhere): the Python-client tests then run against it. Its namespace `test` is
    emptied first, and its secondary indexes and UDF modules removed: never one whose data is
    wanted."""

    def __init__(self, hostport):
        host, _, port = hostport.rpartition(":")
        self.addr, self.ports, self.host = host, [int(port)], hostport
        for line in self.info("sindex-list:ns=test").strip().split(";"):
            fields = dict(f.split("=", 1) for f in line.split(":") if "=" in f)
            if "indexname" in fields:
                self.info(f"sindex-delete:ns=test;indexname={fields['indexname']}")
        for module in self.info("udf-list").strip().split(";"):
            fields = dict(f.split("=", 1) for f in module.split(",") if "=" in f)
            if "filename" in fields:
                self.info(f"udf-remove:filename={fields['filename']}")
        assert self.info("truncate-namespace:namespace=test").strip() == "ok"
        # (A write in the truncation's millisecond would be truncated with it.)
        time.sleep(0.1)

    def info(self, cmd, node=0):
        # (The answer starts with the command itself on a real server.)
        return super().info(cmd, 0).split("\t", 1)[-1]

    def stop(self):
        pass


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)


class Store:
    """An object store's server with bucket (Azure: container) `bkt`, and a fault-injecting
    proxy (s3fault.py) in front of it; the subclasses start moto, fake-gcs-server or Azurite.
    util() talks to it with the cloud's own SDK; options() points the tools at it."""
    path = ""  # Azure's endpoint names the account in its path

    def keys(self, prefix):
        return [l.split()[0] for l in self.util("list", "bkt", prefix).decode().splitlines()]

    def proxy(self, *a):
        port = free_port()
        p = subprocess.Popen([PY, os.path.join(ROOT, "tests/python/s3fault.py"), str(port),
                              self.url, *a], stdout=subprocess.PIPE)
        p.stdout.readline()
        return p, f"http://127.0.0.1:{port}"

    def stop(self):
        self.p.kill()
        self.p.wait()


class Moto(Store):
    scheme, name, small = "s3", "S3", ["--s3-min-part-size", "5"]

    def __init__(self):
        self.port = free_port()
        self.p = subprocess.Popen([os.path.join(os.path.dirname(PY), "moto_server"), "-H",
                                   "127.0.0.1", "-p", str(self.port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.util("create", "bkt")

    def util(self, *a):
        return subprocess.run([PY, os.path.join(ROOT, "tests/python/s3util.py"), self.url, *a],
                              capture_output=True, check=True).stdout

    def options(self, endpoint=None):
        return ["--s3-endpoint-override", endpoint or self.url, "--s3-region", "us-east-1"]


AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
               "K1SZFPTOtr/KBHBeksoGMGw==")


class Emulator(Store):
    """fake-gcs-server (GCS, from PyPI) or Azurite (Azure, from npm)."""

    def __init__(self, scheme):
        self.scheme = scheme
        self.name = {"gs": "GCS", "az": "Azure"}[scheme]
        self.small = ["--gcp-chunk-size", "1"] if scheme == "gs" else ["--azure-block-size", "1"]
        self.port = free_port()
        self.tmp = tempfile.mkdtemp()
        if scheme == "gs":
            binary = self.cloudutil("-", "where").decode().strip()
            host = f"127.0.0.1:{self.port}"
            cmd = [binary, "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
                   "-port", str(self.port), "-public-host", host, "-external-url",
                   f"http://{host}", "-log-level", "error"]
            self.url = f"http://{host}"
        else:
            cmd = [os.path.join(ROOT, ".tools/node_modules/.bin/azurite-blob"), "--blobHost",
                   "127.0.0.1", "--blobPort", str(self.port), "--location", self.tmp, "--silent",
                   "--skipApiVersionCheck", "--loose", "--disableTelemetry"]
            self.url, self.path = f"http://127.0.0.1:{self.port}", "/devstoreaccount1"
        self.p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        self.util("create", "bkt")

    def cloudutil(self, endpoint, *a):
        return subprocess.run([PY, os.path.join(ROOT, "tests/python/cloudutil.py"), self.scheme,
                               endpoint, *a], capture_output=True, check=True).stdout

    def util(self, *a):
        return self.cloudutil(self.url + self.path, *a)

    def options(self, endpoint=None):
        e = (endpoint or self.url) + self.path
        if self.scheme == "gs":
            return ["--gcp-endpoint-override", e]
        return ["--azure-endpoint", e, "--azure-account-name", "devstoreaccount1",
                "--azure-account-key", AZURITE_KEY]

    def stop(self):
        super().stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def digests_of(data, into):
    """Counts the records of an ASB file (zstd-compressed or not) into `into`, by digest."""
    if data[:4] == b"\x28\xb5\x2f\xfd":
        data = subprocess.run([tool("as-zstd"), "-d"], input=data, capture_output=True,
                              check=True).stdout
    _, _, records = asb.parse(data)
    for r in records:
        into[r["digest"]] += 1


def dir_digests(d):
    c = collections.Counter()
    for n in sorted(os.listdir(d)):
        if n.endswith(".asb"):
            digests_of(open(os.path.join(d, n), "rb").read(), c)
    return c


def server_digests(srv, scope=("-n", "test")):
    """What the server holds in the scope, as a direct scan sees it."""
    stream = subprocess.run([tool("as-scan"), "-h", srv.host, *scope], capture_output=True,
                            check=True).stdout
    text = subprocess.run([tool("as-encode")], input=stream, capture_output=True,
                          check=True).stdout
    c = collections.Counter()
    digests_of(text, c)
    return c
