#!/usr/bin/python3
"""Registrations per second on sotto-directory (SQLite and PostgreSQL), each beside two
baselines from the same run: lookups per second by the same client (the client's own
ceiling) and the cost of one fsync on this disk (a registration is durable before its 201).
Requests are signed in advance (tests/support/dir-sign), so the timed part is the server.
usage: bench/dir_register.py SOTTO_DIRECTORY DIR_SIGN PG_CLUSTER_SH [N]"""
import os
import sys
import tempfile
import threading
import time

from benchlib import fsync_ms

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from dirclient import Client, Postgres, Server, Signer, Sqlite, unique  # noqa: E402

N = int(sys.argv[4]) if len(sys.argv) > 4 else 300
THREADS = 8
PREKEYS = 100  # what `sotto register` uploads


def in_threads(client, jobs, send):
    """Runs send(conn, job) over THREADS keep-alive connections; returns jobs per second."""
    chunks = [jobs[i::THREADS] for i in range(THREADS)]
    statuses = []

    def work(chunk):
        conn = client.connect()
        for job in chunk:
            statuses.append(send(conn, job))
        conn.close()
    threads = [threading.Thread(target=work, args=(c,)) for c in chunks]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    return len(jobs) / elapsed, statuses


def bench(backend, workdir, signer):
    db = backend.new_db(workdir, unique("bench"))
    server = Server(db, "--workers", "1", "--rate-limit", "0", "--log-level", "error",
                    workdir=workdir).start()
    client = Client(server, signer)
    jobs = []
    for i in range(N):
        key, body = client.account(unique("reg"), n_prekeys=PREKEYS)
        raw = __import__("json").dumps(body).encode()
        jobs.append((raw, client.sign_headers("POST", "/v1/accounts", raw, key), key))

    def register(conn, job):
        raw, headers, _ = job
        h = {"Host": client.host, "Content-Type": "application/json", **headers}
        conn.request("POST", "/v1/accounts", body=raw, headers=h)
        r = conn.getresponse()
        r.read()
        return r.status

    def lookup(conn, job):
        conn.request("GET", f"/v1/accounts/{job[2]['number']}", headers={"Host": client.host})
        r = conn.getresponse()
        r.read()
        return r.status
    reg_rate, st = in_threads(client, jobs, register)
    bad = [s for s in st if s != 201]
    look_rate, st2 = in_threads(client, jobs, lookup)
    bad += [s for s in st2 if s != 200]
    server.stop()
    print(f"registrations, {backend.kind:10s}: {reg_rate:8.0f} /s ({N} with {PREKEYS} prekeys "
          f"each, {THREADS} connections); same client's lookups: {look_rate:8.0f} /s"
          + (f"  ERRORS {bad[:5]}" if bad else ""))


def main():
    signer = Signer()
    with tempfile.TemporaryDirectory(prefix="sotto-regbench-") as workdir:
        os.chmod(workdir, 0o755)
        print(f"one fsync of 4 KiB on this disk: {fsync_ms(os.path.join(workdir, 'f')):.2f} ms "
              "(median of 20)")
        bench(Sqlite, workdir, signer)
        if Postgres.available():
            try:
                bench(Postgres, workdir, signer)
            finally:
                Postgres.stop()
    signer.close()


if __name__ == "__main__":
    main()
