#!/usr/bin/python3
"""Integration tests of what a running node keeps on the directory (src/node/reach.c): a supply
of its one-time prekeys, topped up when the directory runs low, and the addresses it can be
reached at, its interfaces' ones when it listens on a wildcard. Real `sotto daemon` processes and
a throw-away `sotto-directory` (SQLite) on this machine; every wait has a deadline."""
import fcntl
import json
import os
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import unittest

SOTTO = sys.argv[1] if len(sys.argv) > 1 else "sotto"
DIRSRV = sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].startswith("-") else None
TARGET = 100  # NET_PREKEYS_TARGET: what a top-up brings the directory back to

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dirclient  # noqa: E402
import test_node  # noqa: E402
from test_node import read, stop_all, wait_for  # noqa: E402

dirclient.DIRSRV = DIRSRV


def query(path, sql, *params):
    """The rows of `sql` on the SQLite database `path`, opened read-only."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def host_ipv4():
    """The primary IPv4 address of each interface that has one, loopback and link-local left
    out (SIOCGIFADDR)."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:
                raw = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue
            ip = socket.inet_ntoa(raw[20:24])
            if not ip.startswith(("127.", "169.254.", "0.")):
                found.append(ip)
    return found


def host_ipv6_global():
    """The IPv6 addresses of scope global (0x00) from /proc/net/if_inet6, loopback left out."""
    found = []
    for line in read("/proc/net/if_inet6").splitlines():
        hexaddr, _, _, scope, _, name = line.split()[:6]
        if scope == "00" and name != "lo":
            found.append(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(hexaddr)))
    return found


def unusable(addr):
    host = addr.rsplit(":", 1)[0].strip("[]")
    return (host.startswith(("127.", "169.254.", "0.")) or host == "::1"
            or host.lower().startswith("fe8") or host == "::")


class Person(test_node.Person):
    """A test_node Person with a number on the directory, whose daemon logs at info level (the
    node says there what it did on the directory), and whose commands read no input."""
    log_level = "info"

    def __init__(self, root, name):
        super().__init__(root, name)
        self.number = None

    def run(self, *args, check=True, timeout=60):
        env = dict(os.environ, SOTTO_HOME=self.home)
        p = subprocess.run([SOTTO, *args], env=env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"sotto {' '.join(args)} -> {p.returncode}\n{p.stdout}{p.stderr}")
        return p

    def send(self, contact, text):
        return json.loads(self.run("send", contact, text, "--wait", "--json").stdout)

    def db(self, sql, *params):
        return query(f"{self.home}/profile.db", sql, *params)


class ReachTests(unittest.TestCase):
    def setUp(self):
        self.assertIsNotNone(DIRSRV, "give the sotto-directory binary as the second argument")
        self.root = tempfile.mkdtemp(prefix="sotto-reach-")
        self.people = []
        self.dir_db = os.path.join(self.root, "dir.sqlite")
        self.srv = dirclient.Server(f"sqlite:{self.dir_db}", "--workers", "1", "--rate-limit", "0",
                                    workdir=self.root).start()
        self.url = f"https://127.0.0.1:{self.srv.port}"
        self.client = dirclient.Client(self.srv, None)

    def tearDown(self):
        trouble = stop_all(self.people, tail=4000)
        srv_clean = self.srv.sanitizer_clean()
        self.srv.stop()
        subprocess.run(["rm", "-rf", self.root])
        if trouble:
            self.fail(trouble)
        self.assertTrue(srv_clean, "the directory's sanitizer reports")

    def person(self, name, addresses=True):
        p = Person(self.root, name)
        self.people.append(p)
        p.run("init", "--name", name, "--no-passphrase",
              *(["--address", f"127.0.0.1:{p.port}"] if addresses else []))
        r = p.run("register", name.lower(), "--directory", self.url, "--fingerprint",
                  self.srv.pin, "--json")
        p.number = json.loads(r.stdout)["number"]
        return p

    # ---- what the directory holds ----

    def dir_prekey_ids(self, number):
        return [r[0] for r in query(
            self.dir_db, "SELECT id FROM prekeys WHERE number = ? ORDER BY id", int(number))]

    def drain(self, number, down_to):
        """Fetches bundles the way strangers do (and never writes) until at most `down_to` of
        the account's one-time prekeys are left on the directory."""
        conn = self.client.connect()
        try:
            while True:
                r = self.client.call("POST", f"/v1/accounts/{number}/bundle", conn=conn)
                self.assertEqual(r.status, 200, r)
                if r.json["prekey"] is None or r.json["prekeys_left"] <= down_to:
                    return r.json
        finally:
            conn.close()

    # ---- the tests ----

    def test_a_daemon_tops_up_its_one_time_prekeys_when_the_directory_runs_low(self):
        alice, bob, carol = self.person("Alice"), self.person("Bob"), self.person("Carol")
        number = alice.number
        self.assertEqual(len(self.dir_prekey_ids(number)), TARGET)
        self.drain(number, 0)
        self.assertEqual(self.dir_prekey_ids(number), [])

        # at start the node asks how many are left, makes new ones and gives them
        alice.start()
        wait_for("the top-up at start", lambda: len(self.dir_prekey_ids(number)) == TARGET)
        fresh = self.dir_prekey_ids(number)
        self.assertGreater(fresh[0], TARGET, "new ids: the ones handed out are never reused")
        wait_for("the new prekeys marked uploaded", lambda: alice.db(
            "SELECT count(*) FROM prekeys WHERE uploaded_ms IS NULL") == [(0,)])

        # a new session gets one of them, and Alice's node holds its private half
        bob.run("lookup", "alice")
        bob.start()
        self.assertEqual(bob.send("alice", "hello alice")["state"], "delivered")
        self.assertEqual(self.dir_prekey_ids(number), fresh[1:], "Bob's bundle carried one")
        self.assertEqual(alice.db("SELECT count(*) FROM prekeys WHERE id = ?", fresh[0]), [(0,)],
                         "Alice's node used it and removed it")
        # ... and, one fewer in its profile, asks the directory again soon
        wait_for("alice's node to ask again", lambda: "the directory holds 99 of our one-time "
                 "prekeys" in read(alice.log))

        # while it runs: drained low, then a session started with one of ours makes it ask
        left = self.drain(number, 5)["prekeys_left"]
        self.assertLessEqual(left, 5)
        carol.run("lookup", "alice")
        carol.start()
        self.assertEqual(carol.send("alice", "hi from carol")["state"], "delivered")
        wait_for("the top-up while running", lambda: len(self.dir_prekey_ids(number)) == TARGET)
        self.assertIn(f"made {TARGET - left + 1} one-time prekeys (ids from {fresh[-1] + 1}) for "
                      f"the directory, which holds {left - 1}", read(alice.log))
        self.assertEqual([m["text"] for m in json.loads(
            alice.run("history", "carol", "--json").stdout)["messages"]], ["hi from carol"])

    def test_a_daemon_on_a_wildcard_publishes_its_interfaces_and_is_reached_there(self):
        ips = host_ipv4()
        if not ips:
            self.skipTest("this machine has no IPv4 address besides loopback")
        alice = self.person("Alice", addresses=False)
        bob = self.person("Bob")
        self.assertEqual(self.lookup(bob, "alice"), [], "registered with no address")
        alice.start(listen=f"0.0.0.0:{alice.port}")
        addrs = wait_for("alice's addresses on the directory",
                         lambda: self.lookup(bob, "alice"), every=0.3)
        self.assertTrue(all(a.endswith(f":{alice.port}") for a in addrs), addrs)
        self.assertFalse([a for a in addrs if unusable(a)], "no loopback or link-local")
        self.assertFalse([a for a in addrs if a.startswith("[")], "0.0.0.0 takes IPv4 only")
        self.assertTrue(set(ips) & {a.rsplit(":", 1)[0] for a in addrs}, (ips, addrs))
        # Bob's node dials what the directory gave
        bob.start()
        self.assertEqual(bob.send("alice", "found you where you listen")["state"], "delivered")
        status = json.loads(alice.run("status", "--json").stdout)
        self.assertEqual([link["peer"] for link in status["links"]], ["Bob"])

    def test_a_daemon_on_the_ipv6_wildcard_publishes_both_families(self):
        v4, v6 = host_ipv4(), host_ipv6_global()
        if not v4 or not v6:
            self.skipTest("this machine lacks a usable IPv4 or global IPv6 address")
        alice = self.person("Alice", addresses=False)
        bob = self.person("Bob")
        alice.start(listen=f"[::]:{alice.port}")
        addrs = wait_for("alice's addresses on the directory",
                         lambda: self.lookup(bob, "alice"), every=0.3)
        self.assertTrue(all(a.endswith(f":{alice.port}") for a in addrs), addrs)
        self.assertFalse([a for a in addrs if unusable(a)], addrs)
        self.assertTrue([a for a in addrs if not a.startswith("[")], addrs)
        self.assertTrue([a for a in addrs if a.startswith("[")], addrs)
        self.assertLess(max(i for i, a in enumerate(addrs) if not a.startswith("[")),
                        min(i for i, a in enumerate(addrs) if a.startswith("[")), "IPv4 first")

    def test_a_daemon_started_before_registering_follows_the_registration(self):
        """`sotto register` while the daemon runs: the node notices (it looks at the profile's
        directory every 10 s) and publishes where it listens, without a restart."""
        bob = self.person("Bob")
        carol = Person(self.root, "Carol")
        self.people.append(carol)
        carol.run("init", "--name", "Carol", "--no-passphrase")
        carol.start(listen=f"127.0.0.1:{carol.port}")
        carol.run("register", "carol", "--directory", self.url, "--fingerprint", self.srv.pin)
        addrs = wait_for("carol's address on the directory", lambda: self.lookup(bob, "carol"),
                         every=0.3)
        self.assertEqual(addrs, [f"127.0.0.1:{carol.port}"])
        bob.start()
        self.assertEqual(bob.send("carol", "hello, newly registered")["state"], "delivered")

    def lookup(self, who, username):
        found = json.loads(who.run("lookup", username, "--json").stdout)
        return found["addresses"]


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + sys.argv[(3 if DIRSRV else 2):], verbosity=2)
