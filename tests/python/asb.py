"""A small, independent reader of the ASB text format, to check what as-encode wrote."""
import base64


class Reader:
    def __init__(self, data: bytes):
        self.d = data
        self.i = 0

    def line_token(self, stops=b" \n", unescape=True):
        out = bytearray()
        while self.d[self.i:self.i + 1] not in [bytes([c]) for c in stops]:
            c = self.d[self.i]
            if unescape and c == 0x5C:
                self.i += 1
                c = self.d[self.i]
            out.append(c)
            self.i += 1
        return bytes(out)

    def expect(self, s: bytes):
        assert self.d[self.i:self.i + len(s)] == s, (self.d[self.i:self.i + 40], s)
        self.i += len(s)

    def sized(self):
        n = int(self.line_token(b" "))
        self.expect(b" ")
        v = self.d[self.i:self.i + n]
        self.i += n
        return v


def parse(data: bytes):
    """Returns (header lines, globals, records); a record is a dict with 'key', 'set', 'digest',
    'gen', 'ttl' and 'bins' {name: (type letter, value)}."""
    r = Reader(data)
    header = []
    while r.d[r.i:r.i + 1] in (b"V", b"#"):
        header.append(r.line_token(b"\n", unescape=False))
        r.expect(b"\n")
    globals_, records = [], []
    while r.i < len(r.d):
        c = r.d[r.i:r.i + 1]
        if c == b"*":
            kind = r.d[r.i + 2:r.i + 3]
            if kind == b"u":
                r.expect(b"* u L ")
                name = r.line_token()
                r.expect(b" ")
                globals_.append(("udf", name, r.sized()))
            else:
                globals_.append(("sindex", r.line_token(b"\n", unescape=False)))
            r.expect(b"\n")
            continue
        rec = {"key": None, "set": None, "bins": {}}
        while r.d[r.i:r.i + 1] == b"+":
            r.expect(b"+ ")
            letter = r.d[r.i:r.i + 1]
            r.i += 2
            if letter == b"k":
                t = r.line_token(b" ", unescape=False)
                r.expect(b" ")
                if t == b"I":
                    rec["key"] = int(r.line_token(b"\n"))
                elif t == b"S":
                    rec["key"] = r.sized().decode()
                elif t == b"B":
                    rec["key"] = base64.b64decode(r.sized())
                elif t == b"B!":
                    rec["key"] = r.sized()
            elif letter == b"n":
                rec["ns"] = r.line_token(b"\n")
            elif letter == b"d":
                rec["digest"] = base64.b64decode(r.line_token(b"\n"))
            elif letter == b"s":
                rec["set"] = r.line_token(b"\n").decode()
            elif letter == b"g":
                rec["gen"] = int(r.line_token(b"\n"))
            elif letter == b"t":
                rec["ttl"] = int(r.line_token(b"\n"))
            elif letter == b"b":
                n = int(r.line_token(b"\n"))
                r.expect(b"\n")
                for _ in range(n):
                    r.expect(b"- ")
                    t = r.line_token(b" ", unescape=False)
                    r.expect(b" ")
                    name = r.line_token().decode()
                    if t == b"N":
                        rec["bins"][name] = ("N", None)
                        r.expect(b"\n")
                        continue
                    r.expect(b" ")
                    if t in (b"I", b"D", b"Z"):
                        v = r.line_token(b"\n")
                    elif t in (b"S", b"G") or t.endswith(b"!"):
                        v = r.sized()
                    else:
                        v = base64.b64decode(r.sized())
                    rec["bins"][name] = (t.decode().rstrip("!"), v)
                    r.expect(b"\n")
                break
            r.expect(b"\n")
        records.append(rec)
    return header, globals_, records
