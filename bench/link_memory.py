#!/usr/bin/python3
"""bench/link_memory.py: a node's memory per open peer link (issue 5: goal <= 64 KiB per link
with 1,000 links open), beside our link layer alone, measured in the same run.

One `sotto daemon` (release build, default settings) on loopback; bench/link_memory_bench.c
opens N peer links to it from one process, each proving an identity of its own (HELLO over the
TLS exporter, then a signed CARD, as a real peer does), and reads the daemon's VmRSS before the
first link, at N/2 and at N links. Baseline: the same N links, each with one ping-pong, to a
server that is our link layer alone (libwebsockets, TLS 1.3, wss, no node logic).

Then, unless BENCH_LINK_PROBE=0, a probe of what the daemon does at its file descriptor limit:
a daemon started with the common default soft limit of 1,024 open files, and N + 100 links.
Usage: link_memory.py BUILD_DIR [N]"""
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build-bench"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
SOTTO = os.path.join(BUILD, "src/cli/sotto")
TOOL = os.path.join(BUILD, "bench/link-memory-bench")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def figures(text):
    out = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) != 2:
            continue
        value = parts[1].split()
        try:
            out[parts[0]] = float(value[0])
        except ValueError:
            out[parts[0]] = parts[1]
    return out


class Daemon:
    def __init__(self, root, name, nofile=None):
        self.home = os.path.join(root, name)
        self.port = free_port()
        self.log = os.path.join(root, name + ".log")
        env = dict(os.environ, SOTTO_HOME=self.home)
        subprocess.run([SOTTO, "init", "--name", name.capitalize(), "--no-passphrase",
                        "--address", f"127.0.0.1:{self.port}"], env=env, check=True,
                       capture_output=True)

        def limit():
            # the measured daemon gets room for N links (as directory.sh gives the directory);
            # the probe gets 1,024, the common default, as a limit it cannot raise
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            if nofile is not None:  # a limit the daemon cannot raise
                hard = nofile
            soft = nofile if nofile is not None else min(hard, 65536)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [SOTTO, "daemon", "--listen", f"127.0.0.1:{self.port}", "--api-port", "0"],
                env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
                preexec_fn=limit)
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(self.home, "api.json")):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"bench/link_memory.py: the daemon {name} did not start")
            time.sleep(0.02)
        with open(os.path.join(self.home, "api.json")) as f:
            assert json.load(f)["pid"] == self.proc.pid
        self.cert = os.path.join(self.home, "node-cert.pem")
        self.key = os.path.join(self.home, "node-key.pem")

    def links(self, n):
        out = subprocess.run([TOOL, self.cert, self.key, str(n), f"127.0.0.1:{self.port}",
                              str(self.proc.pid)], check=True, capture_output=True, text=True)
        return figures(out.stdout)

    def log_lines(self, needle):
        with open(self.log, errors="replace") as f:
            return sum(needle in line for line in f)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def per_link(f, n):
    return (f["rss_full"] - f["rss_idle"]) / n


def main():
    root = tempfile.mkdtemp(prefix="sotto-bench-links-")
    daemons = []
    try:
        node = Daemon(root, "host")
        daemons.append(node)
        raw = figures(subprocess.run([TOOL, node.cert, node.key, str(N), "raw"], check=True,
                                     capture_output=True, text=True).stdout)
        f = node.links(N)
        print(f"== node (issue 5): memory per peer link, {N} links from one process, loopback")
        print(f"node:   idle RSS {f['rss_idle'] / 1024:.1f} MiB; with {f['links_proven']:.0f} "
              f"proven links (each a new contact) {f['rss_full'] / 1024:.1f} MiB, "
              f"{f['rss_later'] / 1024:.1f} MiB 5 s later; after closing them "
              f"{f['rss_closed'] / 1024:.1f} MiB")
        print(f"        per link {per_link(f, f['links_proven']):.1f} KiB  (from N/2 to N: "
              f"{(f['rss_full'] - f['rss_half']) / (f['links_proven'] - N // 2):.1f} KiB; "
              f"goal <= 64 KiB)")
        print(f"raw:    our link layer alone, same N links, one ping-pong each: idle "
              f"{raw['rss_idle'] / 1024:.1f} MiB, per link {per_link(raw, raw['links_proven']):.1f}"
              f" KiB; node / raw = {per_link(f, f['links_proven']) / per_link(raw, raw['links_proven']):.2f}")
        print(f"node CPU, idle: {f['cpu_idle0']:.1f}% with no link, {f['cpu_idle']:.1f}% with "
              f"{f['links_proven']:.0f} idle links; its open files limit: {f['fd_limit']:.0f}")
        if f["links_failed"] or f["links_lost"]:
            print(f"        refused: {f['links_failed']:.0f} never proven, {f['links_lost']:.0f} "
                  f"closed later (last: {f.get('last_refusal', '?')})")
        if os.environ.get("BENCH_LINK_PROBE", "1") != "0":
            probe = Daemon(root, "probe", nofile=1024)
            daemons.append(probe)
            p = probe.links(N + 100)
            print(f"probe:  a daemon limited to 1024 open files (soft and hard), {N + 100} links: "
                  f"{p['links_proven']:.0f} proven, {p['links_failed']:.0f} refused "
                  f"(last: {p.get('last_refusal', '?')}); its CPU with them idle "
                  f"{p['cpu_idle']:.1f}%; 'accept: errno 24' logged "
                  f"{probe.log_lines('errno 24')} times")
    finally:
        for d in daemons:
            d.stop()
        subprocess.run(["rm", "-rf", root])


if __name__ == "__main__":
    main()
