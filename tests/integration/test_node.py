#!/usr/bin/python3
"""Integration tests of the node: real `sotto daemon` processes on loopback, driven through the
`sotto` commands the way a user would (send, history, status), with profiles that swapped cards
(the seeds' direct mode: no directory)."""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

SOTTO = sys.argv[1] if len(sys.argv) > 1 else "sotto"
DIRSRV = sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].startswith("-") else None
EXIT = {"ok": 0, "usage": 2, "exists": 4, "contact": 10, "nodaemon": 18, "queued": 19}
DEADLINE = 30


def free_port():
    """A port of 127.0.0.1 nothing listens on, below the kernel's ephemeral range (32768 and up
    here): a node restarted on its port must not find it taken as the local end of some other
    connection meanwhile (the tests make thousands), nor by a dial to it connecting to itself."""
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 20000-31999")


class Person:
    log_level = None  # the daemon's --log-level; None: its default

    def __init__(self, root, name):
        self.name, self.home = name, os.path.join(root, name.lower())
        self.port = free_port()
        self.daemon = None
        self.log = os.path.join(root, name.lower() + ".log")

    def run(self, *args, check=True, timeout=60):
        env = dict(os.environ, SOTTO_HOME=self.home)
        p = subprocess.run([SOTTO, *args], env=env, capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"sotto {' '.join(args)} -> {p.returncode}\n{p.stdout}{p.stderr}")
        return p

    def init(self):
        self.run("init", "--name", self.name, "--no-passphrase", "--address",
                 f"127.0.0.1:{self.port}")
        return self

    def card(self, path):
        self.run("card", "export", "--out", path)
        return path

    def start(self, listen=None):
        """Runs `sotto daemon` on the profile, listening at `listen` (default: 127.0.0.1 and
        this person's port), and waits until it serves its local API."""
        env = dict(os.environ, SOTTO_HOME=self.home)
        level = ["--log-level", self.log_level] if self.log_level else []
        with open(self.log, "ab") as log:
            self.daemon = subprocess.Popen(
                [SOTTO, *level, "daemon", "--listen", listen or f"127.0.0.1:{self.port}",
                 "--api-port", "0"],
                env=env, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        wait_for(f"{self.name}'s daemon to start", self.serving, every=0.02)
        return self

    def serving(self):
        """Whether the daemon wrote api.json yet; raises when it exited."""
        if self.daemon.poll() is not None:
            raise AssertionError(f"the daemon exited: {read(self.log)[-3000:]}")
        return os.path.exists(os.path.join(self.home, "api.json"))

    def stop(self, sig=signal.SIGTERM):
        if self.daemon is None or self.daemon.poll() is not None:
            return None
        self.daemon.send_signal(sig)
        code = self.daemon.wait(timeout=DEADLINE)
        self.daemon.stdout.close()
        self.daemon = None
        return code

    def status(self):
        return json.loads(self.run("status", "--json").stdout)

    def history(self, contact):
        return json.loads(self.run("history", contact, "--json").stdout)["messages"]

    def sanitizer_clean(self):
        text = read(self.log)
        return "Sanitizer" not in text and "runtime error" not in text


def read(path):
    if not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return f.read()


def wait_for(what, pred, timeout=DEADLINE, every=0.05):
    """Calls pred() every `every` seconds until it returns something true, and returns that;
    raises AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def stop_all(people, tail=3000):
    """Stops the daemons of `people` (Person objects) and reads their logs, for a tearDown:
    returns what to fail with (a log with a sanitizer report, or a daemon that did not exit 0,
    each log's last `tail` characters after it), or "" when all is well."""
    codes = {os.path.basename(p.home): p.stop() for p in people}
    dirty = [os.path.basename(p.home) for p in people if not p.sanitizer_clean()]
    logs = "".join(f"--- {os.path.basename(p.home)}\n{read(p.log)[-tail:]}" for p in people)
    if dirty:
        return f"sanitizer reports in {dirty}: {logs}"
    if any(code not in (0, None) for code in codes.values()):
        return f"daemons did not stop cleanly: {codes}\n{logs}"
    return ""


class PeopleCase:
    """Mixed into a unittest.TestCase whose people (Person) live in a throw-away folder: setUp
    makes it, tearDown stops their daemons, removes it and fails the case on what stop_all()
    reports."""
    root_prefix = "sotto-node-"

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix=self.root_prefix)
        self.people = []

    def tearDown(self):
        trouble = stop_all(self.people)
        subprocess.run(["rm", "-rf", self.root])
        if trouble:
            self.fail(trouble)

    def person(self, name, port=None):
        """A new profile for `name` (its address 127.0.0.1 and its own port, or `port`)."""
        p = Person(self.root, name)
        if port is not None:
            p.port = port
        p.init()
        self.people.append(p)
        return p

    def swap_cards(self, a, b):
        b.run("card", "import", a.card(os.path.join(self.root, a.name + ".card")))
        a.run("card", "import", b.card(os.path.join(self.root, b.name + ".card")))

    def pair(self):
        """Alice and Bob, each the other's contact by card."""
        a, b = self.person("Alice"), self.person("Bob")
        self.swap_cards(a, b)
        return a, b


class NodeTests(PeopleCase, unittest.TestCase):

    def test_two_nodes_with_swapped_cards_talk_both_ways_with_receipts(self):
        a, b = self.pair()
        a.start()
        b.start()
        r = a.run("send", "Bob", "hello bob, from alice", "--wait", "--json")
        sent = json.loads(r.stdout)
        self.assertEqual(sent["state"], "delivered")
        got = b.history("Alice")
        self.assertEqual([(m["direction"], m["text"]) for m in got],
                         [("in", "hello bob, from alice")])
        self.assertEqual(got[0]["id"], sent["id"], "the same message id on both sides")
        b.run("send", "Alice", "hi alice ✓ ünïcode", "--wait")
        mine = a.history("Bob")
        self.assertEqual([(m["direction"], m["text"], m["state"]) for m in mine],
                         [("out", "hello bob, from alice", "delivered"),
                          ("in", "hi alice ✓ ünïcode", "received")])
        links = a.status()["links"]
        self.assertEqual([l["peer"] for l in links], ["Bob"], "one link per pair of nodes")

    def test_a_message_to_an_offline_contact_is_delivered_when_it_comes_up(self):
        a, b = self.pair()
        a.start()
        r = a.run("send", "Bob", "are you there?", "--wait", "--timeout", "1", check=False)
        self.assertEqual(r.returncode, EXIT["queued"], r.stdout + r.stderr)
        self.assertEqual(a.history("Bob")[0]["state"], "waiting")
        b.start()
        wait_for("delivery", lambda: a.history("Bob")[0]["state"] == "delivered")
        self.assertEqual([m["text"] for m in b.history("Alice")], ["are you there?"])

    def test_a_node_with_another_identity_at_a_contacts_address_is_refused(self):
        a, b = self.pair()
        mallory = self.person("Mallory")
        mallory.port = b.port  # answers at Bob's address with its own key
        mallory.start()
        a.start()
        a.run("send", "Bob", "for bob only", check=True)
        wait_for("the refusal", lambda: "is not Bob" in read(a.log))
        self.assertEqual(a.status()["links"], [])
        self.assertEqual(a.history("Bob")[0]["state"], "waiting", "nothing went to mallory")

    def test_a_contact_whose_node_lost_the_session_gets_the_message_under_a_new_one(self):
        """Bob's profile comes back from a backup made before they ever talked: his node has no
        session, refuses Alice's next message, and Alice's node re-encrypts it under a fresh
        session with the same id, which Bob then gets exactly once."""
        a, b = self.pair()
        backup = os.path.join(self.root, "bob-backup")
        subprocess.run(["cp", "-a", b.home, backup], check=True)
        a.start()
        b.start()
        a.run("send", "Bob", "first", "--wait")
        b.stop()
        subprocess.run(["rm", "-rf", b.home], check=True)
        subprocess.run(["cp", "-a", backup, b.home], check=True)
        b.start()
        r = json.loads(a.run("send", "Bob", "after the restore", "--wait", "--json").stdout)
        self.assertEqual(r["state"], "delivered")
        got = b.history("Alice")
        self.assertEqual([(m["text"], m["id"]) for m in got], [("after the restore", r["id"])])

    def test_someone_with_our_card_arrives_as_an_unverified_contact_and_can_write(self):
        a = self.person("Alice")
        carol = self.person("Carol")
        carol.run("card", "import", a.card(os.path.join(self.root, "a.card")))
        a.start()
        carol.start()
        carol.run("send", "Alice", "hello from carol", "--wait")
        contacts = a.run("contacts", "--json", check=False)
        self.assertEqual(contacts.returncode, 0, contacts.stderr)
        listed = json.loads(contacts.stdout)
        entries = listed["contacts"] if isinstance(listed, dict) else listed
        carols = [c for c in entries if c["name"] == "Carol"]
        self.assertEqual(len(carols), 1, listed)
        self.assertFalse(carols[0]["verified"])
        self.assertEqual([m["text"] for m in a.history("Carol")], ["hello from carol"])
        a.run("send", "Carol", "hi carol", "--wait")

    def test_registered_people_find_each_other_on_the_directory_and_talk(self):
        """Register, look up, chat: the first message's session comes from a directory bundle
        (which hands out one of the recipient's one-time prekeys)."""
        self.assertIsNotNone(DIRSRV, "give the sotto-directory binary as the second argument")
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import dirclient
        dirclient.DIRSRV = DIRSRV
        srv = dirclient.Server(f"sqlite:{self.root}/dir.sqlite", "--workers", "1",
                               workdir=self.root).start()
        try:
            url = f"https://127.0.0.1:{srv.port}"
            a, b = self.person("Alice"), self.person("Bob")
            for p, user in ((a, "alice"), (b, "bob")):
                p.run("register", user, "--directory", url, "--fingerprint", srv.pin)
            b.run("lookup", "alice")
            # Alice's node comes up at another port than the one she registered with: it
            # publishes where it is, and Bob's node, failing at the old address, looks again
            a.port = free_port()
            a.start()
            b.start()
            r = json.loads(b.run("send", "alice", "found you on the directory", "--wait",
                                 "--json").stdout)
            self.assertEqual(r["state"], "delivered")
            self.assertEqual([m["text"] for m in a.history("Bob")], ["found you on the directory"])
            # the bundle came from the directory: it served one of alice's one-time prekeys
            served = [l for l in dirclient.Client(srv, None).call("GET", "/metrics").body.decode()
                      .splitlines() if l.startswith("sotto_directory_prekeys_served_total")]
            self.assertTrue(served and float(served[0].split()[-1]) >= 1, served)
            a.run("send", "bob", "and back", "--wait")
            found = json.loads(b.run("lookup", "alice", "--json").stdout)
            self.assertIn(f"127.0.0.1:{a.port}", json.dumps(found), found)
        finally:
            srv.stop()

    def test_without_a_node_the_commands_say_to_start_one(self):
        a = self.person("Alice")
        for args in (["status"], ["send", "Bob", "x"], ["history", "Bob"]):
            r = a.run(*args, check=False)
            self.assertEqual(r.returncode, EXIT["nodaemon"], args)
            self.assertIn("sotto daemon", r.stderr)

    def test_one_node_per_profile(self):
        a = self.person("Alice").start()
        other = Person(self.root, "Alice")
        other.port = free_port()
        r = a.run("daemon", "--listen", f"127.0.0.1:{other.port}", "--api-port", "0",
                  check=False, timeout=30)
        self.assertEqual(r.returncode, EXIT["exists"], r.stderr)
        self.assertIn("running already", r.stderr)

    def test_sending_to_nobody_is_an_error_with_its_exit_code(self):
        a = self.person("Alice").start()
        r = a.run("send", "Nobody", "x", check=False)
        self.assertEqual(r.returncode, EXIT["contact"], r.stderr)
        self.assertIn("no such contact", r.stderr)

    def test_the_daemon_removes_api_json_when_it_stops(self):
        a = self.person("Alice").start()
        with open(os.path.join(a.home, "api.json")) as f:
            info = json.load(f)
        self.assertEqual(os.stat(os.path.join(a.home, "api.json")).st_mode & 0o777, 0o600)
        self.assertEqual(info["pid"], a.daemon.pid)
        self.assertEqual(a.stop(), 0)
        self.assertFalse(os.path.exists(os.path.join(a.home, "api.json")))


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + sys.argv[(3 if DIRSRV else 2):], verbosity=2)
