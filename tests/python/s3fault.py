"""A fault-injecting HTTP proxy in front of an object store (moto, fake-gcs-server, Azurite):

   s3fault.py LISTEN_PORT UPSTREAM_URL [--fail N] [--delay-ms MS] [--die-after N]

--fail N       answer the first N uploads of a part (S3 partNumber, Azure comp=block, a GCS
               resumable chunk) with 500 InternalError
--delay-ms MS  hold every answer MS milliseconds (a slow server)
--die-after N  exit abruptly on the N-th upload of data (PUT): the server dies mid-upload
--cut-gets N --cut-at BYTES
               the first N object reads (GET) send only BYTES of the body, then the connection
               is dropped: a download broken mid-stream

Prints "ready" once listening. Every other request is forwarded unchanged, but for a Location
header naming the upstream (GCS's upload session), which is made to name the proxy."""
import argparse
import http.client
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser()
p.add_argument("port", type=int)
p.add_argument("upstream")
p.add_argument("--fail", type=int, default=0)
p.add_argument("--delay-ms", type=int, default=0)
p.add_argument("--die-after", type=int, default=0)
p.add_argument("--cut-gets", type=int, default=0)
p.add_argument("--cut-at", type=int, default=0)
args = p.parse_args()
up = urllib.parse.urlparse(args.upstream)
lock = threading.Lock()
seen = {"requests": 0, "puts": 0, "failed": 0, "cut": 0}

ERROR = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
         b'<Message>injected</Message></Error>')


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                line = self.rfile.readline()
                n = int(line.split(b";")[0], 16)
                chunk = self.rfile.read(n + 2)[:n]
                if n == 0:
                    # trailers until the blank line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out), True
                out += chunk
        n = int(self.headers.get("Content-Length", 0))
        return self.rfile.read(n), False

    def handle_any(self):
        data, chunked = self.body()
        with lock:
            seen["requests"] += 1
            q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            is_part = self.command == "PUT" and (
                "partNumber" in q or q.get("comp") == ["block"] or "upload_id" in q)
            seen["puts"] += self.command == "PUT"
            puts = seen["puts"]
            fail = is_part and seen["failed"] < args.fail
            if fail:
                seen["failed"] += 1
            # An object read: the SDK's GetObject carries x-id=GetObject; a listing does not.
            reads = "x-id=GetObject" in self.path or "?" not in self.path
            cut = self.command == "GET" and reads and seen["cut"] < args.cut_gets
            if cut:
                seen["cut"] += 1
        if args.die_after and puts >= args.die_after:
            os._exit(0)
        if args.delay_ms:
            time.sleep(args.delay_ms / 1000)
        if fail:
            self.send_response(500)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(ERROR)))
            self.end_headers()
            self.wfile.write(ERROR)
            return
        c = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "transfer-encoding", "content-length")}
        headers["Content-Length"] = str(len(data))
        c.request(self.command, self.path, body=data, headers=headers)
        r = c.getresponse()
        payload = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() == "location":
                v = v.replace(args.upstream.rstrip("/"), f"http://127.0.0.1:{args.port}")
            if k.lower() not in ("transfer-encoding", "content-length", "connection", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if cut and r.status < 300 and len(payload) > args.cut_at:
            self.wfile.write(payload[:args.cut_at])
            self.wfile.flush()
            self.connection.shutdown(2)
            self.close_connection = True
            return
        self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


srv = ThreadingHTTPServer(("127.0.0.1", args.port), Proxy)
print("ready", flush=True)
sys.stdout.close()
srv.serve_forever()
