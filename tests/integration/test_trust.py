#!/usr/bin/python3
"""Trust with real processes (DESIGN.md, "Trust"): a throw-away `sotto-directory` and `sotto
daemon` nodes on loopback, driven through the `sotto` commands the way a user would.

Alice has Bob as a verified contact. Bob starts over (a new profile, so a new identity key
and number) and takes his username back on the directory. Alice's lookup warns her, and her
messages to him must then wait and go to nobody: neither to the old key nor to the new one.
Not covered here yet: what happens once she accepts the new key, and the node noticing the new
key by itself.

Arguments: the sotto binary, the sotto-directory binary, then unittest's."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dirclient  # noqa: E402
from test_node import Person, read, wait_for  # noqa: E402

SOTTO = sys.argv[1] if len(sys.argv) > 1 else "sotto"
DIRSRV = sys.argv[2] if len(sys.argv) > 2 else "sotto-directory"
EXIT = {"keychanged": 11, "queued": 19}
# what the node logs (info) each time it leaves a held contact's message waiting: src/node/node.c,
# encrypt_waiting(), with sotto_strerror(SOTTO_EKEYCHANGED)
HELD_LOG = "a message waits: contact's identity key has changed"
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


class Node(Person):
    """A test_node Person whose home may differ from its name, and whose daemon logs at info
    level (the log is where the node says why a message waits)."""

    def __init__(self, root, name, home=None):
        super().__init__(root, name)
        if home is not None:
            self.home = os.path.join(root, home)
            self.log = os.path.join(root, home + ".log")

    def run(self, *args, check=True, timeout=60, input=None):
        env = dict(os.environ, SOTTO_HOME=self.home)
        env.pop("SOTTO_PASSPHRASE", None)
        p = subprocess.run([SOTTO, *args], env=env, capture_output=True, text=True,
                           timeout=timeout, input=input if input is not None else "")
        for mark in SANITIZER_MARKS:
            assert mark not in p.stderr, f"sotto {' '.join(args)}:\n{p.stderr}"
        if check and p.returncode != 0:
            raise AssertionError(f"sotto {' '.join(args)} -> {p.returncode}\n{p.stdout}{p.stderr}")
        return p

    def start(self):
        env = dict(os.environ, SOTTO_HOME=self.home)
        with open(self.log, "ab") as log:
            self.daemon = subprocess.Popen(
                [SOTTO, "--log-level", "info", "daemon", "--listen", f"127.0.0.1:{self.port}",
                 "--api-port", "0"],
                env=env, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        wait_for(f"{self.name}'s node to serve", self._serving)
        return self

    def _serving(self):
        if self.daemon.poll() is not None:
            raise AssertionError(f"the daemon exited: {read(self.log)[-3000:]}")
        return os.path.exists(os.path.join(self.home, "api.json"))

    def contacts(self):
        return json.loads(self.run("contacts", "--json").stdout)

    def contact(self, name):
        found = [c for c in self.contacts() if c["name"] == name]
        assert len(found) == 1, self.contacts()
        return found[0]

    def whoami(self):
        return json.loads(self.run("whoami", "--json").stdout)

    def safety_number(self, contact):
        return json.loads(self.run("safety-number", contact, "--json").stdout)["safety_number"]


class HeldContactTests(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sotto-trust-")
        self.people = []
        dirclient.DIRSRV = DIRSRV
        self.srv = dirclient.Server(f"sqlite:{self.root}/dir.sqlite", "--workers", "1",
                                    "--rate-limit", "0", workdir=self.root).start()
        self.url = f"https://127.0.0.1:{self.srv.port}"

    def tearDown(self):
        codes = {p.home: p.stop() for p in self.people}
        dirty = [p.home for p in self.people if not p.sanitizer_clean()]
        logs = "".join(f"--- {p.home}\n{read(p.log)[-3000:]}" for p in self.people)
        srv_clean = self.srv.sanitizer_clean()
        self.srv.stop()
        subprocess.run(["rm", "-rf", self.root])
        self.assertFalse(dirty, f"sanitizer reports: {logs}")
        self.assertTrue(srv_clean, "sanitizer reports in sotto-directory")
        self.assertFalse({k: v for k, v in codes.items() if v not in (0, None)},
                         f"daemons did not stop cleanly: {codes}\n{logs}")

    def node(self, name, username, home=None, port=None):
        p = Node(self.root, name, home)
        if port is not None:
            p.port = port
        p.init()
        p.run("register", username, "--directory", self.url, "--fingerprint", self.srv.pin)
        self.people.append(p)
        return p

    def held_log_lines(self, p):
        return read(p.log).count(HELD_LOG)

    def bob_starts_over(self, bob):
        """Bob's old profile leaves the directory; a new one, with a new key, at the same
        address, registers his username again and runs its node."""
        bob.stop()
        bob.run("unregister")
        new = self.node("Bob", "bob", home="bob-new", port=bob.port)
        self.assertNotEqual(new.whoami()["fingerprint"], bob.whoami()["fingerprint"])
        return new

    def alice_with_verified_bob(self):
        a = self.node("Alice", "alice")
        b = self.node("Bob", "bob")
        a.run("lookup", "bob")
        r = a.run("verify", "bob", input="yes\n")
        self.assertIn("verified", r.stdout)
        self.assertTrue(a.contact("bob")["verified"])
        a.start()
        b.start()
        r = json.loads(a.run("send", "bob", "before the change", "--wait", "--json").stdout)
        self.assertEqual(r["state"], "delivered")
        return a, b

    def held(self):
        """Alice talked with Bob, verified; Bob started over; Alice's lookup warned her, and
        she sent a message meanwhile. Returns Alice, the new Bob, the held message's id and
        the old and new fingerprints."""
        a, old_bob = self.alice_with_verified_bob()
        old_fp = a.contact("bob")["fingerprint"]
        b = self.bob_starts_over(old_bob)
        b.start()
        new_fp = b.whoami()["fingerprint"]

        # the warning: both fingerprints, what to do, exit 11; the contact is left as it was
        before = a.contact("bob")
        r = a.run("lookup", "bob", check=False)
        self.assertEqual(r.returncode, EXIT["keychanged"], r.stdout + r.stderr)
        for needle in ("WARNING", old_fp, new_fp, "--accept-new-key"):
            self.assertIn(needle, r.stdout + r.stderr)
        self.assertEqual(a.contact("bob"), before, "the lookup changed the held contact")
        self.assertTrue(before["verified"])

        # a message to the held contact is stored and waits: the node says why (in its log)
        seen = self.held_log_lines(a)
        r = a.run("send", "bob", "while held", "--wait", "--timeout", "1", "--json", check=False)
        self.assertEqual(r.returncode, EXIT["queued"], r.stdout + r.stderr)
        held_id = json.loads(r.stdout)["id"]
        wait_for("alice's node to hold the message",
                 lambda: self.held_log_lines(a) >= seen + 2)  # two flushes, a tick apart
        return a, b, held_id, old_fp, new_fp

    def test_messages_to_a_verified_contact_whose_key_changed_wait_and_go_to_nobody(self):
        a, b, held_id, old_fp, _ = self.held()
        mine = a.history("bob")
        self.assertEqual([(m["text"], m["state"]) for m in mine],
                         [("before the change", "delivered"), ("while held", "waiting")])
        self.assertEqual(mine[-1]["id"], held_id)
        # nothing went to the new key, nor to the old one: no link, and the new key's node
        # never heard of Alice (her card would have made her a contact of it)
        self.assertEqual(a.status()["links"], [], "a link to bob's old or new key")
        self.assertEqual(b.contacts(), [], "the new key's node heard from alice")
        c = a.contact("bob")
        self.assertEqual((c["fingerprint"], c["verified"]), (old_fp, True))
        r = a.run("send", "bob", "still held", "--wait", "--timeout", "1", check=False)
        self.assertEqual(r.returncode, EXIT["queued"], r.stdout + r.stderr)
        self.assertEqual([m["state"] for m in a.history("bob")[1:]], ["waiting", "waiting"])
        self.assertEqual(a.status()["links"], [])


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + sys.argv[3:], verbosity=2)
