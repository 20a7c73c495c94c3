#!/usr/bin/python3
"""bench/first_contact.py: the first message to a new contact (issue 5: goal < 20 ms), beside
its baselines measured in the same run.

A throw-away `sotto-directory` (SQLite, one worker, no rate limit) on loopback; Alice registers
and runs `sotto daemon`; then K times, with a fresh Bob each time: Bob registers (with the
address his node will listen at) and starts his daemon, Alice runs `sotto lookup bobN` (timed:
the CLI, as a user types it), which makes Bob a contact with no session and no link, and
bench/first_contact_bench.c sends one message through Alice's local API and waits for the
"delivered" event. In between, with no shortcut: Alice's node dials Bob (TCP, TLS 1.3, wss,
HELLO both ways), fetches Bob's prekey bundle from the directory on its worker thread (a fresh
HTTPS connection), runs X3DH, encrypts and commits, sends; Bob's node decrypts, commits and
acknowledges; Alice's node marks it delivered.

Where the time goes comes from the API events of both nodes (link_up, message, delivered) and
from the directory's debug log (each request's line, stamped here as it arrives, with the time
the directory itself spent on it).

Baselines, same run: our link layer alone (bench/link_bench.c): a fresh TLS 1.3 + wss link and
one 100-byte ping-pong; a bundle fetched from the same directory over a fresh TLS 1.3
connection by plain OpenSSL (first-contact-bench --bundle, which also times our directory
client doing the same); one 4 KiB fsync.
Usage: first_contact.py BUILD_DIR [K]   (BENCH_VERBOSE=1: every contact's steps too)"""
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import figures, free_port, fsync_ms, sotto

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build-bench"
K = int(sys.argv[2]) if len(sys.argv) > 2 else 15
SOTTO = os.path.join(BUILD, "src/cli/sotto")
DIRSRV = os.path.join(BUILD, "src/directory/sotto-directory")
REQUEST = re.compile(r"(GET|POST|PUT|DELETE) (\S+) from \S+: (\d+) in (\d+) us")


class Directory:
    """sotto-directory with its debug log read on a thread: each request line is kept with the
    monotonic time it arrived (the same clock as CLOCK_MONOTONIC in the C tools)."""

    def __init__(self, root):
        self.port = free_port()
        self.lines = []
        self.proc = subprocess.Popen(
            [DIRSRV, "--listen", f"127.0.0.1:{self.port}", "--db", f"sqlite:{root}/dir.sqlite",
             "--workers", "1", "--rate-limit", "0", "--log-level", "debug"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.pin = None
        for line in self.proc.stdout:
            if line.startswith("pin sha256:"):
                self.pin = line.split(":", 1)[1].strip()
            if line.startswith("workers"):
                break
        if self.pin is None:
            sys.exit("bench/first_contact.py: the directory did not start")
        self.url = f"https://127.0.0.1:{self.port}"
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            m = REQUEST.search(line)
            if m:
                self.lines.append((time.monotonic(), m.group(1), m.group(2), int(m.group(3)),
                                   int(m.group(4))))

    def request(self, method, path, after):
        for t, m, p, status, us in list(self.lines):
            if m == method and p == path and t >= after:
                return t, status, us
        return None

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)


class Node:
    def __init__(self, root, name, directory, sync):
        self.home = os.path.join(root, name)
        self.name = name
        self.port = free_port()
        self.log = os.path.join(root, name + ".log")
        self.sync = sync
        sotto(SOTTO, self.home, "init", "--name", name.capitalize(), "--no-passphrase",
              "--address", f"127.0.0.1:{self.port}")
        sotto(SOTTO, self.home, "register", name, "--directory", directory.url, "--fingerprint",
              directory.pin)
        self.number = json.loads(sotto(SOTTO, self.home, "whoami", "--json").stdout)["number"]
        self.proc = None

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [SOTTO, "daemon", "--listen", f"127.0.0.1:{self.port}", "--api-port", "0",
                 "--sync", self.sync],
                env=dict(os.environ, SOTTO_HOME=self.home), stdout=subprocess.DEVNULL,
                stderr=log, start_new_session=True)
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(self.home, "api.json")):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"bench/first_contact.py: the daemon of {self.name} did not start")
            time.sleep(0.01)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


def p50(xs):
    return statistics.median(xs) if xs else float("nan")


def run_mode(sync):
    root = tempfile.mkdtemp(prefix="sotto-bench-first-")
    directory = Directory(root)
    alice, bobs, rows = None, [], []
    try:
        alice = Node(root, "alice", directory, sync)
        probe = Node(root, "probe", directory, sync)  # bundles for the baseline
        alice.start()
        for i in range(K):
            bob = Node(root, f"bob{i}", directory, sync)
            bobs.append(bob)
            bob.start()
            time.sleep(0.3)  # its start-up work (publishing its address) is done
            t = time.monotonic()
            sotto(SOTTO, alice.home, "lookup", bob.name)
            lookup_ms = (time.monotonic() - t) * 1e3
            out = subprocess.run(
                [os.path.join(BUILD, "bench/first-contact-bench"), alice.home, bob.name,
                 bob.home], capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"bench/first_contact.py: {bob.name}: {out.stderr.strip()}")
            f = figures(out.stdout)
            f["lookup"] = lookup_ms
            # the bundle request Alice's node made, as the directory logged it
            time.sleep(0.05)
            b = directory.request("POST", f"/v1/accounts/{bob.number}/bundle", f["t0"])
            if b is not None:
                f["bundle_served"] = (b[0] - f["t0"]) * 1e3
                f["bundle_server_us"] = b[2]
            rows.append(f)
            bob.stop()
        cert = os.path.join(alice.home, "node-cert.pem")
        key = os.path.join(alice.home, "node-key.pem")
        base = figures(subprocess.run(
            [os.path.join(BUILD, "bench/link-bench"), cert, key, "200", str(max(K, 20))],
            check=True, capture_output=True, text=True).stdout)
        base.update(figures(subprocess.run(
            [os.path.join(BUILD, "bench/first-contact-bench"), "--bundle", str(directory.port),
             directory.pin, str(probe.number), str(max(K, 20))],
            check=True, capture_output=True, text=True).stdout))
        report(sync, rows, base, fsync_ms(os.path.join(root, "fsync-probe")))
    finally:
        for n in [alice] + bobs:
            if n is not None:
                n.stop()
        directory.stop()
        subprocess.run(["rm", "-rf", root])


def report(sync, rows, base, fs):
    total = sorted(r["delivered"] for r in rows)
    col = {k: [r[k] for r in rows if k in r] for k in
           ("answer", "link_up", "bob_link_up", "bundle_served", "bob_message", "delivered",
            "lookup", "bundle_server_us")}
    link = base["connect_pong_p50"]
    floor = link + base["bundle_raw"]
    print(f"== node (issue 5): first message to a new contact, --sync={sync}, {len(rows)} fresh "
          f"contacts, directory on loopback")
    print(f"send -> delivered:   p50 {p50(total):.2f} ms  max {total[-1]:.2f} ms  (goal < 20 ms; "
          f"{p50(total) / floor:.1f} x raw link + raw bundle fetch)")
    print(f"raw fresh link (TCP + TLS 1.3 + wss, our link layer) and one 100-byte ping-pong: "
          f"p50 {link:.2f} ms  max {base['connect_pong_max']:.2f} ms  (up after "
          f"{base['connect_up_p50']:.2f} ms)")
    print(f"raw bundle fetch (OpenSSL, fresh TLS 1.3 connection, same directory): p50 "
          f"{base['bundle_raw']:.2f} ms (handshake done after {base['bundle_raw_tls']:.2f} ms); "
          f"our directory client: {base['bundle_ours']:.2f} ms")
    print(f"one 4 KiB fsync:     {fs:.3f} ms")
    print("where the time goes (p50 of when each step was seen, from the send request):")
    steps = [("answer", "stored, API answered"),
             ("link_up", "link proven, Alice's node (dial, TLS, wss, HELLO both ways)"),
             ("bob_link_up", "link proven, Bob's node"),
             ("bundle_served", "bundle answered by the directory (its log line)"),
             ("bob_message", "decrypted and stored by Bob's node"),
             ("delivered", "delivered: Bob's ACK handled by Alice's node")]
    for k, what in sorted(steps, key=lambda s: p50(col[s[0]]) if col[s[0]] else 1e9):
        if col[k]:
            print(f"  {p50(col[k]):7.2f} ms  {what}")
    if col["bundle_server_us"]:
        print(f"  (the directory spent {p50(col['bundle_server_us']) / 1e3:.2f} ms on the bundle "
              f"request itself)")
    print(f"before it: `sotto lookup` (a CLI process: profile, directory GET, contact stored): "
          f"p50 {p50(col['lookup']):.1f} ms")
    if os.environ.get("BENCH_VERBOSE"):
        keys = [k for k, _ in steps]
        print("  each contact, ms: " + " ".join(keys))
        for r in rows:
            print("   " + " ".join(f"{r[k]:6.2f}" if k in r else "     -" for k in keys))


def main():
    for sync in ("full", "normal"):
        run_mode(sync)


if __name__ == "__main__":
    main()
