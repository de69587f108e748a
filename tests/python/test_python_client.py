"""Data written by the official Python client, backed up by as-scan | as-encode, checked against
what the client reads back (raw CDT bytes included) with an independent ASB reader."""
import math
import struct
import subprocess

import aerospike
from aerospike_helpers import HyperLogLog
import pytest

from asb import parse
from conftest import tool

SEND_KEY = {"key": aerospike.POLICY_KEY_SEND}
# A HyperLogLog as a server takes one (docs/server-behaviours.md S19): flags 0, 4 index bits, no
# minhash bits, an 8-byte cache and (6 * 16 + 7) // 8 = 12 bytes of registers.
HLL = b"\x00\x04\x00" + bytes(8) + bytes(range(1, 13))


def backup(server, *args, compact=False):
    scan = subprocess.run([tool("as-scan"), "-h", server.host, "-n", "test", *args],
                          capture_output=True, check=True)
    enc = subprocess.run([tool("as-encode")] + (["-C"] if compact else []), input=scan.stdout,
                         capture_output=True, check=True)
    check = subprocess.run([tool("as-decode"), "--validate"], input=enc.stdout, capture_output=True)
    assert check.returncode == 0, check.stderr
    return parse(enc.stdout)


def by_key(records):
    return {r["key"]: r for r in records if r["key"] is not None}


@pytest.mark.parametrize("compact", [False, True])
def test_every_type_written_by_the_python_client(server, client, compact):
    geo = aerospike.GeoJSON({"type": "Point", "coordinates": [-122.5, 37.75]})
    bins = {
        "int_max": 2**63 - 1,
        "int_min": -(2**63),
        "dbl": 1.2345,
        "nan": float("nan"),
        "inf": float("-inf"),
        "neg0": -0.0,
        "str": "line\nfeed spaces \\ ünï",
        "empty": "",
        "blob": bytearray(b"\x00\n\xffraw"),
        "yes": True,
        "geo": geo,
        "hll": HyperLogLog(HLL),
        "list": [1, "two", [3.0, b"\x00"], {"k": "v"}],
        "map": {"a": 1, "b": [1, 2]},
        "kom": aerospike.KeyOrderedDict({"z": 1, "a": 2}),
        "bin name": 1,
    }
    client.put(("test", "types", "k1"), bins, policy=SEND_KEY)
    client.put(("test", "types", 7), {"v": 7}, policy=SEND_KEY)
    client.put(("test", "types", bytearray(b"\x01\n\x00")), {"v": 8}, policy=SEND_KEY)
    client.put(("test", None, "nokey"), {"v": 9})  # no set, key not stored
    client.put(("test", "ttl", "t"), {"v": 10}, policy={**SEND_KEY, "ttl": 1000})

    header, globals_, records = backup(server, compact=compact)
    assert header[0] == b"Version 3.1"
    assert b"# first-file" in header
    assert len(records) == 5
    recs = by_key(records)
    assert set(recs) == {"k1", 7, b"\x01\n\x00", "t"}
    r = recs["k1"]
    assert r["set"] == "types"
    _, meta, read = client.get(("test", "types", "k1"))
    assert r["gen"] == meta["gen"]
    b = r["bins"]
    assert b["int_max"] == ("I", str(2**63 - 1).encode())
    assert b["int_min"] == ("I", str(-(2**63)).encode())
    assert b["dbl"] == ("D", b"1.2344999999999999")
    assert b["nan"][0] == "D" and b["nan"][1] in (b"nan", b"-nan")
    assert b["inf"] == ("D", b"-inf")
    assert b["neg0"] == ("D", b"-0")
    assert b["str"] == ("S", "line\nfeed spaces \\ ünï".encode())
    assert b["empty"] == ("S", b"")
    assert b["blob"] == ("B", b"\x00\n\xffraw")
    assert b["yes"] in (("Z", b"T"), ("I", b"1"))
    assert b["geo"] == ("G", geo.dumps().encode())
    assert b["hll"] == ("Y", HLL)
    assert b["bin name"] == ("I", b"1")
    # Lists and maps: exactly the bytes the client reads back raw.
    _, _, raw = client.get(("test", "types", "k1"), policy={"deserialize": False})
    for name in ("list", "map", "kom"):
        letter = "L" if name == "list" else "M"
        assert b[name] == (letter, bytes(raw[name])), name
    # The key-ordered map keeps its order flag: msgpack ext c7 00 01 as first key.
    assert b"\xc7\x00\x01" in b["kom"][1][:4]
    # The values round-trip through the client's own decoding, too.
    assert read["list"] == bins["list"] and read["map"] == bins["map"]
    assert math.isnan(read["nan"])

    assert recs[b"\x01\n\x00"]["bins"]["v"] == ("I", b"8")
    nokey = [x for x in records if x["key"] is None][0]
    assert nokey["set"] is None
    assert nokey["ttl"] == 0
    # An absolute expiry: now + ttl, in seconds since 2010-01-01.
    _, tmeta = client.exists(("test", "ttl", "t"))
    assert 0 < recs["t"]["ttl"]
    assert abs(recs["t"]["ttl"] - (tmeta["ttl"] + int(__import__("time").time()) - 1262304000)) <= 2


def test_indexes_udfs_and_sets_from_the_python_client(server, client, tmp_path):
    for i in range(30):
        client.put(("test", "a" if i % 2 else "b", i), {"n": i, "s": f"v{i}"}, policy=SEND_KEY)
    client.index_single_value_create("test", "a", "n", aerospike.INDEX_NUMERIC, "idx_n")
    client.index_single_value_create("test", "b", "s", aerospike.INDEX_STRING, "idx s")
    lua = tmp_path / "mod.lua"
    lua.write_text("function hello(r)\n  return 'hi'\nend\n")
    client.udf_put(str(lua))

    _, globals_, records = backup(server)
    assert len(records) == 30
    sindexes = sorted(g[1] for g in globals_ if g[0] == "sindex")
    assert sindexes == [b"* i test a idx_n N 1 n N", b"* i test b idx\\ s N 1 s S"]
    udfs = [g for g in globals_ if g[0] == "udf"]
    assert udfs == [("udf", b"mod.lua", b"function hello(r)\n  return 'hi'\nend\n")]

    _, globals_, records = backup(server, "-s", "a")
    assert len(records) == 15 and all(r["set"] == "a" for r in records)
    assert [g[1] for g in globals_ if g[0] == "sindex"] == [b"* i test a idx_n N 1 n N"]

    # The Python client's own scan sees the same records.
    assert len(client.scan("test", "a").results()) == 15
    q = client.query("test", "b")
    assert len(q.results()) == 15


def test_the_python_client_reads_what_was_restored(server, client, tmp_path):
    """Written by the Python client, backed up (as-scan | as-encode), restored by scripts/asrestore
    into another cluster (or the real server it came from, emptied): the client reads every
    record back as it wrote it, key, TTL and key-ordered map included, and the index and module
    are there."""
    import os
    from support import ExternalServer, Server, ROOT
    geo = aerospike.GeoJSON({"type": "Point", "coordinates": [1.5, -2.25]})
    written = [
        (("test", "r", "str"), {"s": "a\nb \\ ü", "blob": bytearray(b"\x00\n\xff"), "geo": geo}),
        (("test", "r", 42), {"i": -(2**63), "d": float("-inf"), "z": -0.0, "t": True}),
        (("test", "r", bytearray(b"\x00k")), {"l": [1, [2.5, "x"], {"m": b"\x01"}],
                                                "kom": aerospike.KeyOrderedDict({"b": 1, "a": 2})}),
        (("test", None, "noset"), {"v": 1}),
    ]
    for key, bins in written:
        client.put(key, bins, policy=SEND_KEY)
    client.put(("test", "r", "ttl"), {"v": 2}, policy={**SEND_KEY, "ttl": 5000})
    client.index_integer_create("test", "r", "i", "idx_i")
    udf = tmp_path / "restored.lua"
    udf.write_text("function f(r)\n  return 1\nend\n")
    client.udf_put(str(udf))
    asb = tmp_path / "b.asb"
    scan = subprocess.run([tool("as-scan"), "-h", server.host, "-n", "test"], capture_output=True,
                          check=True)
    asb.write_bytes(subprocess.run([tool("as-encode")], input=scan.stdout, capture_output=True,
                                   check=True).stdout)

    # Against a real server (AS_TEST_SERVER), the same one, emptied once the backup is written.
    real = os.environ.get("AS_TEST_SERVER")
    target = ExternalServer(real) if real else Server(nodes=3)
    try:
        env = dict(os.environ, AS_TOOLS_BIN=os.path.dirname(tool("as-restore")))
        r = subprocess.run([os.path.join(ROOT, "scripts/asrestore"), "-h", target.host, "-i",
                            str(asb), "-w"], capture_output=True, env=env)
        assert r.returncode == 0, r.stderr
        assert b"inserted 5: failed 0" in r.stderr, r.stderr
        other = aerospike.client({"hosts": [(target.addr, target.ports[0])],
                                  "lua": {"user_path": str(tmp_path)}}).connect()
        try:
            for key, bins in written:
                _, meta, got = other.get(key)
                assert meta["gen"] == 1
                for name, value in bins.items():
                    if isinstance(value, float) and value == 0:
                        assert math.copysign(1, got[name]) == -1
                    if isinstance(value, aerospike.GeoJSON):  # (no __eq__)
                        assert got[name].dumps() == value.dumps()
                    else:
                        assert got[name] == value, name
                    # (the client reads any blob back as bytes)
                    want = bytes if isinstance(value, bytearray) else type(value)
                    assert type(got[name]) is want, name
                (_, _, stored_key, _), _, _ = other.get(key, policy={"key": aerospike.POLICY_KEY_SEND})
                assert stored_key == key[2]
            _, meta, _ = other.get(("test", "r", "ttl"))
            assert 4900 <= meta["ttl"] <= 5000
            assert [u["name"] for u in other.udf_list()] == ["restored.lua"]
            assert "indexname=idx_i" in target.info("sindex-list:ns=test")
        finally:
            other.close()
    finally:
        target.stop()
