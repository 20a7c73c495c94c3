#!/usr/bin/python3
"""Trust with real processes (DESIGN.md, "Trust"): a throw-away `sotto-directory` and `sotto
daemon` nodes on loopback, driven through the `sotto` commands the way a user would.

Alice has Bob as a verified contact. Bob starts over (a new profile, so a new identity key
and number) and takes his username back on the directory. Alice's messages to him must then
wait, and go to nobody, until she has checked the new key and accepted it; then they reach the
new Bob.

Arguments: the sotto binary, the sotto-directory binary, then unittest's."""
import json
import os
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dirclient  # noqa: E402
from test_node import DEADLINE, Person, read, stop_all, wait_for  # noqa: E402

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
    log_level = "info"

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


class ApiEvents:
    """The events the node pushes through its local API (docs/API.md), as the web app would see
    them: read from `sotto events --json`, which streams them one JSON object a line."""

    def __init__(self, p):
        env = dict(os.environ, SOTTO_HOME=p.home)
        self.events, self.lock = [], threading.Lock()
        self.proc = subprocess.Popen([SOTTO, "events", "--json"], env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = self.proc.stdout.readline()
        if json.loads(first or "{}").get("event") != "listening":
            raise AssertionError(f"sotto events did not start: {first!r} "
                                 f"{self.proc.stderr.read() if self.proc.poll() else ''}")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.events.append(json.loads(line))

    def named(self, name):
        with self.lock:
            return [e for e in self.events if e["event"] == name]

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=DEADLINE)
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        for mark in SANITIZER_MARKS:
            assert mark not in err, f"sotto events:\n{err}"


class HeldContactTests(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sotto-trust-")
        self.people = []
        dirclient.DIRSRV = DIRSRV
        self.srv = dirclient.Server(f"sqlite:{self.root}/dir.sqlite", "--workers", "1",
                                    "--rate-limit", "0", workdir=self.root).start()
        self.url = f"https://127.0.0.1:{self.srv.port}"

    def tearDown(self):
        trouble = stop_all(self.people)
        srv_clean = self.srv.sanitizer_clean()
        self.srv.stop()
        subprocess.run(["rm", "-rf", self.root])
        if trouble:
            self.fail(trouble)
        self.assertTrue(srv_clean, "sanitizer reports in sotto-directory")

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

    def test_once_the_new_key_is_accepted_and_verified_the_held_message_reaches_it(self):
        a, b, held_id, old_fp, new_fp = self.held()
        # checking with Bob: his new safety number, the same digits on both sides
        b.run("lookup", "alice")
        r = a.run("lookup", "bob", "--accept-new-key", "--json")
        c = json.loads(r.stdout)
        self.assertEqual((c["result"], c["fingerprint"], c["previous_fingerprint"],
                          c["verified"]), ("key_replaced", new_fp, old_fp, False))
        self.assertEqual(a.safety_number("bob"), b.safety_number("alice"))
        a.run("verify", "bob", input="yes\n")
        self.assertTrue(a.contact("bob")["verified"])
        # then the held message goes to the new key, with its id kept, once
        wait_for("the held message to be delivered to the new key",
                 lambda: a.history("bob")[-1]["state"] == "delivered")
        self.assertEqual([(m["direction"], m["text"], m["id"]) for m in b.history("Alice")],
                         [("in", "while held", held_id)])
        self.assertEqual([l["peer"] for l in a.status()["links"]], ["bob"])
        r = json.loads(a.run("send", "bob", "after the change", "--wait", "--json").stdout)
        self.assertEqual(r["state"], "delivered")

    def test_a_send_to_someone_not_yet_a_contact_looks_them_up_first(self):
        """DESIGN.md, Trust: a CONTACT given to `send` that is not yet a contact is looked up on
        the directory; it becomes an unverified contact, and the message goes."""
        a = self.node("Alice", "alice")
        b = self.node("Bob", "bob")
        a.start()
        b.start()
        self.assertEqual(a.contacts(), [])
        r = a.run("send", "bob", "hello stranger", "--wait", "--json")
        self.assertEqual(json.loads(r.stdout)["state"], "delivered")
        self.assertIn("found on", r.stderr)
        self.assertFalse(a.contact("bob")["verified"])
        self.assertEqual([m["text"] for m in b.history("Alice")], ["hello stranger"])
        r = a.run("send", "nobody-here", "hello?", check=False)
        self.assertEqual(r.returncode, 10, r.stdout + r.stderr)

    def test_history_status_and_send_say_why_a_held_message_waits(self):
        a, b, held_id, _, _ = self.held()
        m = a.history("bob")[-1]
        self.assertEqual((m["id"], m["state"]), (held_id, "waiting"))
        self.assertIn("new key", m["reason"])
        self.assertIn("sotto verify", m["reason"])
        out = [o for o in a.status()["outbox"] if o["contact"] == "bob"]
        self.assertEqual(len(out), 1, a.status())
        self.assertEqual((out[0]["waiting"], out[0]["held"]), (1, True))
        self.assertIn("new key", out[0]["why"])
        r = a.run("status")
        self.assertIn("to bob: 1 waiting", r.stdout)
        r = a.run("send", "bob", "one more", check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("new key", r.stderr, "send says the message waits, and why")

    def test_verify_while_held_compares_the_new_key_and_takes_it(self):
        """`sotto verify` on a held contact shows the safety number of the NEW key (the one the
        other side sees), and confirming it takes that key, verified: the held message goes to
        it. Verifying never re-approves the old key."""
        a, b, held_id, old_fp, new_fp = self.held()
        b.run("lookup", "alice")
        r = a.run("safety-number", "bob", "--json")
        shown = json.loads(r.stdout)
        self.assertTrue(shown["new_key_held"])
        self.assertEqual(shown["safety_number"], b.safety_number("alice"))
        r = a.run("verify", "bob", input="yes\n")
        self.assertIn("NEW identity key", r.stdout)
        self.assertIn("new key is verified", r.stdout)
        c = a.contact("bob")
        self.assertEqual((c["fingerprint"], c["verified"]), (new_fp, True))
        wait_for("the held message to be delivered to the new key",
                 lambda: a.history("bob")[-1]["state"] == "delivered")
        self.assertEqual([(m["direction"], m["text"], m["id"]) for m in b.history("Alice")],
                         [("in", "while held", held_id)])
        self.assertEqual(a.status()["outbox"], [])

    def test_the_node_notices_a_verified_contacts_new_key_and_warns(self):
        """Alice sends without having looked Bob up again: her node, failing to reach him under
        the old key, asks the directory, learns of the new key, holds Bob and warns (the
        `key_changed` event); nothing goes to the new key until she accepts it."""
        a, old_bob = self.alice_with_verified_bob()
        events = ApiEvents(a)
        self.addCleanup(events.close)
        b = self.bob_starts_over(old_bob)
        b.start()
        r = json.loads(a.run("send", "bob", "unaware", "--json").stdout)
        # at Bob's address the new key answers: the link is refused, and Alice told
        wait_for("the link_refused event", lambda: events.named("link_refused"))
        self.assertIn("is not bob", events.named("link_refused")[0]["message"])
        wait_for("the key_changed event", lambda: events.named("key_changed"), timeout=90)
        self.assertEqual(events.named("key_changed")[0]["contact"], "bob")
        self.assertEqual(b.contacts(), [], "the new key's node heard from alice")
        self.assertNotEqual(a.history("bob")[-1]["state"], "delivered")
        a.run("lookup", "bob", "--accept-new-key")
        a.run("verify", "bob", input="yes\n")
        wait_for("the message to be delivered to the new key",
                 lambda: a.history("bob")[-1]["state"] == "delivered")
        self.assertEqual([(m["text"], m["id"]) for m in b.history("Alice")],
                         [("unaware", r["id"])])

if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + sys.argv[3:], verbosity=2)
