"""Fixtures of the Python-client tests: the built tools and a fresh as-testd per test."""
import os
import subprocess
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("AS_TOOLS_BIN", os.path.join(ROOT, "target", "debug"))


def tool(name):
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: build the tools first (cargo build)")
    return path


class Server:
    def __init__(self, nodes=1):
        self.proc = subprocess.Popen([tool("as-testd"), "--port", "0", "--nodes", str(nodes)],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("ready "), line
        self.ports = [int(p) for p in line.split()[1].split(",")]

    def host(self):
        return f"127.0.0.1:{self.ports[0]}"

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def server():
    s = Server(nodes=2)
    yield s
    s.stop()


@pytest.fixture
def client(server, tmp_path):
    import aerospike
    # udf_put keeps a copy of each module in the client's Lua path: keep it out of the checkout.
    config = {"hosts": [("127.0.0.1", server.ports[0])], "lua": {"user_path": str(tmp_path)}}
    c = aerospike.client(config).connect()
    yield c
    c.close()
