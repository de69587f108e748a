"""Fixtures of the Python-client tests: a fresh as-testd per test, and the official client
connected to it (the helpers themselves are in support.py)."""
import pytest

import support
from support import Server


def tool(name):
    try:
        return support.tool(name)
    except FileNotFoundError as e:
        pytest.fail(str(e))


@pytest.fixture
def server():
    # AS_TEST_SERVER=HOST:PORT: a real server instead (support.ExternalServer empties its
    # namespace `test`).
    import os
    real = os.environ.get("AS_TEST_SERVER")
    s = support.ExternalServer(real) if real else Server(nodes=2)
    yield s
    s.stop()


@pytest.fixture
def client(server, tmp_path):
    import aerospike
    # udf_put keeps a copy of each module in the client's Lua path: keep it out of the checkout.
    config = {"hosts": [(server.addr, server.ports[0])], "lua": {"user_path": str(tmp_path)}}
    c = aerospike.client(config).connect()
    yield c
    c.close()
