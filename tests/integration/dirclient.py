"""Helpers of tests/integration/test_directory.py: a sotto-directory process, an HTTPS client
that checks the server's pin and signs writes (docs/PROTOCOL.md, "Signed writes") with keys
from tests/support/dir-sign, and the two databases (SQLite files, a throw-away PostgreSQL
cluster from tests/support/pg_cluster.sh)."""
import base64
import glob
import hashlib
import http.client
import json
import os
import select
import signal
import ssl
import subprocess
import sys
import threading
import time

DIRSRV, DIRSIGN, PG_CLUSTER = (sys.argv[1:4] + [None] * 3)[:3]
SANITIZER_MARKS = (b"AddressSanitizer", b"LeakSanitizer", b"runtime error:")
_serial = [0]


def unique(prefix="u"):
    _serial[0] += 1
    return f"{prefix}{os.getpid() % 1000}n{_serial[0]}"


def der_item(b, i):
    """(tag, start of content, length) of the DER item at b[i]."""
    tag, n = b[i], b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n, i = int.from_bytes(b[i:i + k], "big"), i + k
    return tag, i, n


def spki_of(cert_der):
    """The DER SubjectPublicKeyInfo of an X.509 certificate (RFC 5280, section 4.1)."""
    _, tbs, _ = der_item(cert_der, 0)
    _, j, _ = der_item(cert_der, tbs)
    tag, c, n = der_item(cert_der, j)
    if tag == 0xA0:                       # [0] version
        j = c + n
    for _ in range(5):                    # serial, signature, issuer, validity, subject
        _, c, n = der_item(cert_der, j)
        j = c + n
    _, c, n = der_item(cert_der, j)
    return cert_der[j:c + n]


class PinMismatch(Exception):
    pass


class Signer:
    """One dir-sign process answering JSON lines."""

    def __init__(self):
        self.proc = subprocess.Popen([DIRSIGN], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.lock = threading.Lock()

    def ask(self, **req):
        with self.lock:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
            out = json.loads(self.proc.stdout.readline())
        assert "error" not in out, (req, out)
        return out

    def keygen(self):
        return self.ask(op="keygen")

    def sign(self, priv, msg: bytes):
        return self.ask(op="sign", priv=priv, msg=base64.b64encode(msg).decode())["sig"]

    def spk(self, key, ident):
        return self.ask(op="spk", pub=key["pub"], priv=key["priv"], id=ident)

    def prekeys(self, start, count):
        return self.ask(op="prekeys", start=start, count=count)["prekeys"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body
        try:
            self.json = json.loads(body)
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Server:
    """A sotto-directory in its own process group, on 127.0.0.1 at a port it chose."""

    def __init__(self, db, *args, workdir):
        self.db, self.args, self.workdir = db, list(args), workdir
        self.log_path = os.path.join(workdir, f"server-{unique('s')}.log")
        self.proc = None

    def start(self, timeout=60):
        cmd = [DIRSRV, "--listen", "127.0.0.1:0", "--db", self.db, *self.args]
        with open(self.log_path, "ab") as log:
            # a PostgreSQL server without --state-dir keeps its certificate in
            # $XDG_DATA_HOME/sotto-directory: the test's own, never the user's
            env = dict(os.environ, XDG_DATA_HOME=os.path.join(self.workdir, "xdg-data"))
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log,
                                         start_new_session=True, env=env)
        self.lines = self._read_start(timeout)
        self.port = int(self.lines["listening on"].rsplit(":", 1)[1])
        self.pin = self.lines["pin"].split("sha256:", 1)[1]
        return self

    def _read_start(self, timeout):
        """The start-up lines, read straight from the pipe (no buffering to hide them)."""
        buf, deadline, fd = b"", time.monotonic() + timeout, self.proc.stdout.fileno()
        while not any(l.startswith(b"workers ") for l in buf.split(b"\n")[:-1]):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            data = os.read(fd, 4096) if ready else b""
            if not data:
                self.kill()
                raise AssertionError(f"server did not start: {self.log()}")
            buf += data
        lines = {}
        for line in buf.decode().splitlines():
            key = next(k for k in ("listening on", "pin", "backend", "workers")
                       if line.startswith(k))
            lines[key] = line[len(key):].strip() if key != "pin" else line.strip()
        return lines

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self):
        """SIGTERM; returns the exit code. Every worker must be gone too."""
        self.signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self.proc.stdout.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                assert "by signal 15" not in self.log(), "a worker died of SIGTERM mid-cleanup"
                return code
            time.sleep(0.05)
        raise AssertionError("workers outlived the parent")

    def kill(self):
        self.signal(signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(timeout=30)
        self.proc.stdout.close()

    def sanitizer_clean(self):
        with open(self.log_path, "rb") as f:
            data = f.read()
        return not any(m in data for m in SANITIZER_MARKS)


class Client:
    """HTTPS to one server, with its pin checked on every connection."""

    def __init__(self, server, signer):
        self.server, self.signer = server, signer
        self.host = f"127.0.0.1:{server.port}"

    def connect(self, source=None, timeout=15):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c = http.client.HTTPSConnection("127.0.0.1", self.server.port, context=ctx,
                                        timeout=timeout,
                                        source_address=(source, 0) if source else None)
        c.connect()
        pin = hashlib.sha256(spki_of(c.sock.getpeercert(binary_form=True))).hexdigest()
        if pin != self.server.pin:
            c.close()
            raise PinMismatch(pin)
        return c

    def call(self, method, path, body=None, headers=None, conn=None, source=None):
        raw = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        h = {"Host": self.host}
        if raw is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        c = conn or self.connect(source)
        try:
            c.request(method, path, body=raw, headers=h)
            r = c.getresponse()
            return Resp(r.status, dict(r.getheaders()), r.read())
        finally:
            if conn is None:
                c.close()

    def sign_headers(self, method, path, raw, key, number=None, ts=None, host=None):
        ts = int(time.time() * 1000) if ts is None else ts
        msg = "\n".join([host or self.host, method, path, hashlib.sha256(raw).hexdigest(),
                         str(ts)]).encode()
        return {"Sotto-Number": number or key["number"], "Sotto-Timestamp": str(ts),
                "Sotto-Signature": self.signer.sign(key["priv"], msg)}

    def signed(self, method, path, body, key, conn=None, source=None, **sign_args):
        raw = b"" if body is None else (body if isinstance(body, bytes)
                                        else json.dumps(body).encode())
        h = self.sign_headers(method, path, raw, key, **sign_args)
        return self.call(method, path, raw if body is not None else None, h, conn, source)

    def account(self, username, n_prekeys=3, addresses=("192.0.2.1:8766",)):
        """A new identity and the body that registers it."""
        key = self.signer.keygen()
        body = {"username": username, "identity_key": key["pub"],
                "registration_id": key["registration_id"],
                "signed_prekey": self.signer.spk(key, 1),
                "prekeys": self.signer.prekeys(1, n_prekeys) if n_prekeys else [],
                "addresses": list(addresses)}
        return key, body

    def register(self, username, **kw):
        key, body = self.account(username, **kw)
        r = self.signed("POST", "/v1/accounts", body, key)
        return key, body, r


class Sqlite:
    kind = "sqlite"

    @staticmethod
    def new_db(workdir, name):
        return f"sqlite:{workdir}/{name}.sqlite"


class Postgres:
    """One throw-away cluster for the whole run (pg_cluster.sh), a database per server."""
    kind = "postgresql"
    uri = datadir = None

    @classmethod
    def available(cls):
        return PG_CLUSTER and (glob.glob("/usr/lib/postgresql/*/bin/initdb")
                               or os.environ.get("PGBIN"))

    @classmethod
    def new_db(cls, workdir, name):
        if cls.uri is None:
            out = subprocess.run(["sh", PG_CLUSTER, "start", "--owner-pid", str(os.getpid())],
                                 capture_output=True, text=True, timeout=120, check=True)
            cls.uri, cls.datadir = out.stdout.split("\n")[:2]
        subprocess.run(["psql", cls.uri, "-qAtc", f"CREATE DATABASE {name}"], check=True,
                       capture_output=True, timeout=60)
        return cls.uri.replace("/postgres?", f"/{name}?")

    @classmethod
    def stop(cls):
        if cls.datadir:
            subprocess.run(["sh", PG_CLUSTER, "stop", cls.datadir], timeout=60)
            cls.uri = cls.datadir = None

