"""Tools of test_delivery.py: reading a profile's messages, sending through the `sotto`
commands, reading what tests/support/wsprobe prints, a stream of sends that survives its node
being killed, and a TCP relay that replays, alters or holds back TLS records."""
import concurrent.futures
import json
import os
import re
import socket
import sqlite3
import threading
import time

from test_node import wait_for

EXIT_NODAEMON = 18
HISTORY_WINDOW = 1000  # every message of a stream: one history answer holds them (~156 bytes each)
DELIVERY_DEADLINE = 120


def api_pid(p):
    try:
        with open(os.path.join(p.home, "api.json")) as f:
            return json.load(f).get("pid")
    except (OSError, ValueError):
        return None


def restart(p):
    """Starts p's node again after a kill -9: its stale api.json names a dead process, so wait
    until the new node has written its own."""
    p.start()
    wait_for(f"{p.name}'s node to serve again", lambda: api_pid(p) == p.daemon.pid)


def db_rows(p, direction):
    """(message id, state) of p's messages rows, oldest first: direction 1 outgoing, 0 incoming
    (store/profile.c schema 3; states 0 received .. 3 delivered)."""
    path = os.path.join(p.home, "profile.db")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return [(i.lower(), s) for i, s in con.execute(
            "SELECT hex(msg_id), state FROM messages WHERE direction = ? ORDER BY id",
            (direction,))]
    finally:
        con.close()


def history(p, contact, limit=HISTORY_WINDOW):
    r = p.run("history", contact, "--limit", str(limit), "--json", timeout=90)
    return json.loads(r.stdout)["messages"]


def send_json(p, contact, text, timeout=60):
    r = p.run("send", contact, text, "--json", check=False, timeout=timeout)
    if r.returncode == 0:
        return r.returncode, json.loads(r.stdout)["id"]
    return r.returncode, None


def frames(out):
    """The messages a probe printed ("recv HEX"), decoded as (type, payload)."""
    got = []
    for line in out.splitlines():
        if line.startswith("recv "):
            b = bytes.fromhex(line[5:])
            got.append((b[1], b[6:]) if len(b) >= 6 else (None, b))
    return got


def probe_end(out):
    m = re.search(r"^end (.*)$", out, re.M)
    return m.group(1) if m else None


def summary(out):
    m = re.search(r"^summary (.*)$", out, re.M)
    if m is None:
        return None
    return dict(kv.split("=") for kv in m.group(1).split())


class Stream:
    """Sends texts with `sotto send --json` from `workers` threads, as a user retrying would: a
    send that finds no node (exit 18: nothing was stored) is tried again once the node is back;
    any other failure is uncertain (the node may have stored it before it died) and is settled
    later from the sender's history. `done` counts the sends that finished."""

    def __init__(self, sender, contact, texts, workers=4):
        self.sender, self.contact, self.texts = sender, contact, texts
        self.ids, self.uncertain, self.failed = {}, [], []
        self.done, self.lock, self.workers = 0, threading.Lock(), workers
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _one(self, text):
        deadline = time.monotonic() + DELIVERY_DEADLINE
        while True:
            code, mid = send_json(self.sender, self.contact, text)
            if code != EXIT_NODAEMON or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        with self.lock:
            self.done += 1
            if code == 0:
                self.ids[text] = mid
            else:
                self.uncertain.append((text, code))

    def _run(self):
        with concurrent.futures.ThreadPoolExecutor(self.workers) as ex:
            list(ex.map(self._one, self.texts))

    def start(self):
        self.thread.start()
        return self

    def running(self):
        return self.thread.is_alive()

    def join(self):
        self.thread.join(timeout=600)

    def settle(self, visible):
        """Settles uncertain sends against `visible`, {text: id} of the sender's history: found
        means stored; the others are sent again."""
        with self.lock:
            pending, self.uncertain = self.uncertain, []
        for text, code in pending:
            if text in visible:
                self.ids[text] = visible[text]
            else:
                self.failed.append((text, code))


class TamperProxy:
    """A TCP relay on its own port to a node's peer port. Each TLS record is passed on whole;
    when armed, the next application-data record in the chosen direction ("c2s" or "s2c") is
    sent twice (replay) or with one bit flipped (flip). hold[d] set: bytes in direction d are
    kept back until it is cleared. Counts bytes per direction."""

    def __init__(self, target_port):
        self.target = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.armed = None  # (direction, "replay" | "flip")
        self.fired = threading.Event()
        self.tampered_closed = threading.Event()
        self.hold = {"c2s": threading.Event(), "s2c": threading.Event()}
        self.bytes = {"c2s": 0, "s2c": 0}
        self.conns = []
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, direction, how):
        with self.lock:
            self.armed, self.fired, self.tampered_closed = (direction, how), threading.Event(), \
                threading.Event()

    def _accept(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                c.close()
                continue
            s.settimeout(None)
            state = {"tampered": False}
            self.conns += [c, s]
            for src, dst, d in ((c, s, "c2s"), (s, c, "s2c")):
                threading.Thread(target=self._pump, args=(src, dst, d, state),
                                 daemon=True).start()

    def _tamper(self, rec, d):
        with self.lock:
            if rec[0] != 0x17 or self.armed is None or self.armed[0] != d:
                return rec, None
            how, self.armed = self.armed[1], None
        if how == "replay":
            return rec + rec, how
        flipped = bytearray(rec)
        flipped[5 + (len(rec) - 5) // 2] ^= 0x01
        return bytes(flipped), how

    def _pump(self, src, dst, d, state):
        buf = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                buf += data
                while len(buf) >= 5 and len(buf) >= 5 + int.from_bytes(buf[3:5], "big"):
                    n = 5 + int.from_bytes(buf[3:5], "big")
                    rec, buf = buf[:n], buf[n:]
                    out, how = self._tamper(rec, d)
                    if how is not None:
                        state["tampered"] = True
                        self.fired.set()
                    while self.hold[d].is_set() and not self.stop:
                        time.sleep(0.01)
                    dst.sendall(out)
                    self.bytes[d] += len(out)
        except OSError:
            pass
        finally:
            if state["tampered"]:
                self.tampered_closed.set()
            for x in (src, dst):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def drop(self):
        """Cuts every connection relayed so far; what was held back is lost with it."""
        conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def close(self):
        self.stop = True
        for h in self.hold.values():
            h.clear()
        self.sock.close()
        for c in self.conns:
            c.close()
