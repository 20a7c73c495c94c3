#!/usr/bin/python3
"""bench/node.py: the node's figures beside their baselines, measured in the same run.

Two profiles that swapped cards, two `sotto daemon` processes on loopback (the build given),
then:
  - raw TCP and raw wss (our link layer alone) 100-byte ping-pong (bench/link_bench.c);
  - send -> delivered latency, p50 and p99, one message at a time, through the local API
    (bench/node_client_bench.c): request, store, encrypt, link, decrypt, store, commit, ack;
  - messages per second with receipts, M queued at once;
  - idle RSS of a node;
  - the cost of one fsync on this disk (the default durability pays one per commit on each side).
Usage: node.py BUILD_DIR [N] [M]"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from benchlib import figures, free_port, fsync_ms, sotto

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build-bench"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
M = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
SOTTO = os.path.join(BUILD, "src/cli/sotto")


def times_of(home):
    """The node's cumulative time counters (sotto status --json: "times")."""
    return json.loads(sotto(SOTTO, home, "status", "--json").stdout)["times"]


def where(before, after, label):
    d = {k: after[k] - before[k] for k in after}
    per = max(d["encrypted"] + d["decrypted"], 1)
    return (f"{label}: {d['encrypted']} encrypted in {d['encrypt_us'] / 1e3:.1f} ms, "
            f"{d['decrypted']} decrypted in {d['decrypt_us'] / 1e3:.1f} ms (Signal and its SQLite "
            f"writes), {d['commits']} commits in {d['commit_us'] / 1e3:.1f} ms, handing to the "
            f"links {d['send_us'] / 1e3:.1f} ms; per message {(d['encrypt_us'] + d['decrypt_us'] + d['commit_us'] + d['send_us']) / per:.0f} us")


def private_kib(pid):
    """Memory the process alone holds (private clean + dirty pages): RSS less the shared
    libraries' pages that every process using them shares."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    for sync in ("full", "normal"):
        run_mode(sync)


def run_mode(sync):
    root = tempfile.mkdtemp(prefix="sotto-bench-node-")
    homes = {n: os.path.join(root, n) for n in ("alice", "bob")}
    ports = {n: free_port() for n in homes}
    daemons = []
    try:
        for n, h in homes.items():
            sotto(SOTTO, h, "init", "--name", n.capitalize(), "--no-passphrase", "--address",
                  f"127.0.0.1:{ports[n]}")
            sotto(SOTTO, h, "card", "export", "--out", os.path.join(root, n + ".card"))
        sotto(SOTTO, homes["alice"], "card", "import", os.path.join(root, "bob.card"))
        sotto(SOTTO, homes["bob"], "card", "import", os.path.join(root, "alice.card"))
        for n, h in homes.items():
            log = open(os.path.join(root, n + ".log"), "wb")
            daemons.append(subprocess.Popen(
                [SOTTO, "daemon", "--listen", f"127.0.0.1:{ports[n]}", "--api-port", "0",
                 "--sync", sync],
                env=dict(os.environ, SOTTO_HOME=h), stdout=subprocess.DEVNULL, stderr=log,
                start_new_session=True))
        deadline = time.monotonic() + 30
        while not all(os.path.exists(os.path.join(h, "api.json")) for h in homes.values()):
            if time.monotonic() > deadline:
                sys.exit("bench/node.py: the daemons did not start")
            time.sleep(0.05)
        idle = rss_kib(daemons[0].pid)
        idle_private = private_kib(daemons[0].pid)
        base = figures(subprocess.run(
            [os.path.join(BUILD, "bench/link-bench"),
             os.path.join(homes["alice"], "node-cert.pem"),
             os.path.join(homes["alice"], "node-key.pem"), str(N)],
            check=True, capture_output=True, text=True).stdout)
        t_before = {n: times_of(h) for n, h in homes.items()}
        node = figures(subprocess.run(
            [os.path.join(BUILD, "bench/node-client-bench"), homes["alice"], "Bob", str(N),
             str(M)], check=True, capture_output=True, text=True).stdout)
        busy = rss_kib(daemons[0].pid)
        t_after = {n: times_of(h) for n, h in homes.items()}
        fs = fsync_ms(os.path.join(root, "fsync-probe"))
        print(f"== node (issue 5): 100-byte messages, two daemons on loopback, --sync={sync}"
              + (" (the default: survives a power cut)" if sync == "full" else
                 " (survives a crash of the process; the mode of the latency goal)"))
        print(f"raw TCP ping-pong:   p50 {base['tcp_p50']:.3f} ms  p99 {base['tcp_p99']:.3f} ms"
              f"  {base['tcp_rate']:.0f} round trips/s")
        print(f"raw wss ping-pong:   p50 {base['wss_p50']:.3f} ms  p99 {base['wss_p99']:.3f} ms"
              f"  {base['wss_rate']:.0f} round trips/s  (our link layer, no node logic)")
        print(f"send -> delivered:   p50 {node['latency_p50']:.3f} ms  p99 "
              f"{node['latency_p99']:.3f} ms  ({node['latency_p50'] / base['wss_p50']:.1f} x "
              f"wss; goal p50 < 0.21 ms, in --sync=normal)")
        print(f"messages/s with receipts: {node['rate']:.0f} ({M} queued at once; queued at "
              f"{node['queue_rate']:.0f}/s; goal >= 32000)")
        for n in homes:
            print("  where the time went, " + where(t_before[n], t_after[n], n))
        print(f"one 4 KiB fsync:     {fs:.3f} ms (each delivery commits on both sides)")
        print(f"node RSS: idle {idle / 1024:.1f} MiB (of which its own, not shared libraries' "
              f"pages: {idle_private / 1024:.1f} MiB), after the run {busy / 1024:.1f} MiB "
              f"(goal idle <= 8 MiB)")
    finally:
        for d in daemons:
            d.send_signal(signal.SIGTERM)
        for d in daemons:
            try:
                d.wait(timeout=30)
            except subprocess.TimeoutExpired:
                d.kill()
        subprocess.run(["rm", "-rf", root])


if __name__ == "__main__":
    main()
