#!/usr/bin/python3
"""Integration tests of the directory's client side: the real `sotto` (register, lookup,
unregister, prekey top-up) against a real `sotto-directory` started here on 127.0.0.1, checked
the way a user would notice: exit codes, messages, contacts, and what the directory holds."""
import hashlib
import json
import os
import select
import shutil
import signal
import socket
import sqlite3
import ssl
import http.client
import subprocess
import sys
import tempfile
import time
import unittest

SOTTO = sys.argv[1] if len(sys.argv) > 1 else "sotto"
DIRSRV = sys.argv[2] if len(sys.argv) > 2 else "sotto-directory"
PASS = "correct horse battery staple"
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")

EXIT = {"ok": 0, "usage": 2, "contact": 10, "keychanged": 11, "network": 14, "pin": 15,
        "refused": 16, "rate": 17}


class DirServer:
    """A sotto-directory in its own process group, with its SQLite database in `workdir`."""

    def __init__(self, workdir, port=0):
        self.workdir, self.port, self.proc = workdir, port, None
        self.db = os.path.join(workdir, "dir.db")

    def start(self, timeout=60):
        log = open(os.path.join(self.workdir, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [DIRSRV, "--listen", f"127.0.0.1:{self.port}", "--db", f"sqlite:{self.db}",
             "--workers", "1", "--rate-limit", "0"],
            stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        log.close()
        lines = self._start_lines(timeout)
        self.port = int(lines["listening on"].rsplit(":", 1)[1])
        self.pin = lines["pin"].split("sha256:", 1)[1]
        self.url = f"https://127.0.0.1:{self.port}"
        return self

    def _start_lines(self, timeout):
        buf, deadline, fd = b"", time.monotonic() + timeout, self.proc.stdout.fileno()
        while b"\nworkers " not in b"\n" + buf or not buf.endswith(b"\n"):
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
            data = os.read(fd, 4096) if ready else b""
            if not data:
                self.stop()
                raise AssertionError("sotto-directory did not start")
            buf += data
        out = {}
        for line in buf.decode().splitlines():
            for key in ("listening on", "pin", "backend", "workers"):
                if line.startswith(key):
                    out[key] = line[len(key):].strip() if key != "pin" else line.strip()
        return out

    def stop(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=20)
        self.proc.stdout.close()
        self.proc = None

    def new_certificate(self):
        """Throws the self-signed certificate away: the next start makes another."""
        for name in os.listdir(self.workdir):
            if name.endswith(".pem"):
                os.unlink(os.path.join(self.workdir, name))

    def request(self, method, path):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE   # the test talks to the server it started itself
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=30)
        c.request(method, path, body=b"" if method == "POST" else None)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, (json.loads(body) if body else None)


class Profile:
    def __init__(self, root, name, passphrase=None):
        self.home = os.path.join(root, name)
        self.name, self.passphrase = name, passphrase

    def run(self, *args, input=None):
        env = {k: v for k, v in os.environ.items() if k != "SOTTO_PASSPHRASE"}
        env["SOTTO_HOME"] = self.home
        if self.passphrase:
            env["SOTTO_PASSPHRASE"] = self.passphrase
        r = subprocess.run([SOTTO, *args], input=input, capture_output=True, text=True, env=env,
                           timeout=120, stdin=None if input is not None else subprocess.DEVNULL,
                           start_new_session=True)
        for mark in SANITIZER_MARKS:
            assert mark not in r.stderr, f"sotto {' '.join(args)}:\n{r.stderr}"
        return r

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        if r.returncode != 0:
            raise AssertionError(f"sotto {' '.join(args)} exited {r.returncode}:\n{r.stderr}")
        return r

    def init(self):
        args = ["init", "--name", self.name, "--address", f"{self.name}.example:8766"]
        return self.ok(*args, *([] if self.passphrase else ["--no-passphrase"]))

    def whoami(self):
        return json.loads(self.ok("whoami", "--json").stdout)

    def contacts(self):
        return json.loads(self.ok("contacts", "--json").stdout)

    def db(self, sql, *params):
        con = sqlite3.connect(f"file:{self.home}/profile.db?mode=ro", uri=True)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def remembered(self):
        rows = self.db("SELECT url, pin, username FROM directory")
        return rows[0] if rows else None


class DirectoryTest(unittest.TestCase):
    """Each test gets fresh profiles; the server is shared, so usernames are per test."""
    server = None

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="sotto-register-")
        os.mkdir(os.path.join(cls.root, "server"))
        cls.server = DirServer(os.path.join(cls.root, "server")).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(dir=self.root)

    def profile(self, name, passphrase=None, register_as=None, server=None):
        p = Profile(self.tmp, name, passphrase)
        p.init()
        if register_as:
            r = p.ok("register", register_as, "--directory", (server or self.server).url)
            self.assertIn(f"Registered {register_as}", r.stdout)
        return p

    def assertExit(self, r, code, *needles):
        self.assertEqual(r.returncode, EXIT[code], f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        for n in needles:
            self.assertIn(n, r.stdout + r.stderr)

    def contact(self, p, username):
        found = [c for c in p.contacts() if c["username"] == username]
        self.assertEqual(len(found), 1, p.contacts())
        return found[0]


class RegisterTest(DirectoryTest):
    def test_register_publishes_the_account_and_remembers_directory_pin_and_username(self):
        alice = Profile(self.tmp, "alice", PASS)
        alice.init()
        r = alice.ok("register", "Alice", "--directory", self.server.url + "/", "--json")
        out = json.loads(r.stdout)
        me = alice.whoami()
        self.assertEqual(out["username"], "alice")
        self.assertEqual(out["number"], me["number"])
        self.assertEqual(out["pin"], self.server.pin, "the pin is what the server prints")
        self.assertEqual(out["prekeys_uploaded"], 100)
        self.assertEqual(me["username"], "alice")
        self.assertEqual(alice.remembered(), (self.server.url, self.server.pin, "alice"))
        status, acct = self.server.request("GET", "/v1/accounts/" + me["number"])
        self.assertEqual(status, 200)
        self.assertEqual(acct["username"], "alice")
        self.assertEqual(acct["addresses"], ["alice.example:8766"])
        status, bundle = self.server.request("POST", f"/v1/accounts/{me['number']}/bundle")
        self.assertEqual(bundle["prekeys_left"], 99)

    def test_a_taken_username_is_refused_with_advice_and_nothing_is_kept(self):
        self.profile("bob", register_as="bob")
        carol = self.profile("carol")
        for name in ("bob", "BOB", "b0b"):
            r = carol.run("register", name, "--directory", self.server.url)
            self.assertExit(r, "refused", "taken", "choose another")
        self.assertIsNone(carol.whoami()["username"])
        self.assertEqual(carol.remembered()[2], None, "not registered, though the pin is kept")
        carol.ok("register", "carol2", "--directory", self.server.url)

    def test_registering_twice_is_refused(self):
        dave = self.profile("dave", register_as="dave")
        r = dave.run("register", "dave-again")
        self.assertExit(r, "refused", "already registered", "sotto unregister")
        self.assertEqual(dave.whoami()["username"], "dave")

    def test_a_bad_username_or_url_is_a_usage_error(self):
        erin = self.profile("erin")
        self.assertExit(erin.run("register", "9lives", "--directory", self.server.url), "usage")
        self.assertExit(erin.run("register", "erin", "--directory", "http://127.0.0.1:1"),
                        "usage", "https://")
        self.assertExit(erin.run("register", "erin"), "usage", "--directory")

    def test_a_wrong_fingerprint_is_refused_and_nothing_is_sent_or_kept(self):
        frank = self.profile("frank")
        r = frank.run("register", "frank", "--directory", self.server.url,
                      "--fingerprint", "sha256:" + "00" * 32)
        self.assertExit(r, "pin", "NOT the pinned one", self.server.pin)
        self.assertIsNone(frank.remembered())
        status, _ = self.server.request("GET", "/v1/accounts/frank")
        self.assertEqual(status, 404)

    def test_the_right_fingerprint_is_accepted(self):
        gina = self.profile("gina")
        pin = ":".join(self.server.pin[i:i + 2].upper() for i in range(0, 64, 2))
        gina.ok("register", "gina", "--directory", self.server.url, "--fingerprint", pin)
        self.assertEqual(gina.remembered(), (self.server.url, self.server.pin, "gina"))


class LookupTest(DirectoryTest):
    def test_lookup_by_username_and_by_number_adds_a_contact_with_a_confirmed_username(self):
        hank = self.profile("hank", register_as="hank")
        ivy = self.profile("ivy")
        r = ivy.ok("lookup", "HANK", "--directory", self.server.url, "--json")
        c = json.loads(r.stdout)
        self.assertEqual((c["result"], c["name"], c["username"]), ("added", "hank", "hank"))
        self.assertEqual(c["number"], hank.whoami()["number"])
        self.assertEqual(c["fingerprint"], hank.whoami()["fingerprint"])
        self.assertEqual(c["addresses"], ["hank.example:8766"])
        self.assertIsNone(c["claimed_username"])
        grouped = " ".join(c["number"][i:i + 3] for i in range(0, 15, 3))
        r = ivy.ok("lookup", grouped, "--json")
        self.assertEqual(json.loads(r.stdout)["result"], "unchanged")
        self.assertEqual(len(ivy.contacts()), 1)
        self.assertFalse(self.contact(ivy, "hank")["verified"])

    def test_the_pin_is_recorded_on_first_use(self):
        self.profile("jack", register_as="jack")
        kate = self.profile("kate")
        self.assertIsNone(kate.remembered())
        r = kate.ok("lookup", "jack", "--directory", self.server.url)
        self.assertIn("Pinned the directory", r.stderr)
        self.assertEqual(kate.remembered(), (self.server.url, self.server.pin, None))
        r = kate.ok("lookup", "jack")
        self.assertNotIn("Pinned", r.stderr)

    def test_an_unknown_account_is_not_found(self):
        leo = self.profile("leo")
        r = leo.run("lookup", "nobody-here", "--directory", self.server.url)
        self.assertExit(r, "contact", "no account 'nobody-here'")
        r = leo.run("lookup", "123 456 789 012 345")
        self.assertExit(r, "contact")
        self.assertEqual(leo.contacts(), [])

    def test_looking_yourself_up_adds_no_contact(self):
        mia = self.profile("mia", register_as="mia")
        r = mia.ok("lookup", "mia")
        self.assertIn("That is you", r.stdout)
        self.assertEqual(mia.contacts(), [])

    def test_an_unverified_contacts_new_key_is_taken_with_a_loud_warning(self):
        ned = self.profile("ned", register_as="ned")
        olga = self.profile("olga")
        olga.ok("lookup", "ned", "--directory", self.server.url)
        old_fp = ned.whoami()["fingerprint"]
        ned.ok("unregister")
        ned2 = self.profile("ned2", register_as="ned")
        new_fp = ned2.whoami()["fingerprint"]
        r = olga.ok("lookup", "ned", "--json")
        self.assertIn("WARNING", r.stderr)
        self.assertIn(old_fp, r.stderr)
        self.assertIn(new_fp, r.stderr)
        c = json.loads(r.stdout)
        self.assertEqual((c["result"], c["fingerprint"], c["previous_fingerprint"]),
                         ("key_replaced", new_fp, old_fp))
        self.assertEqual(len(olga.contacts()), 1)

    def test_a_verified_contacts_new_key_is_held_until_accepted(self):
        pam = self.profile("pam", register_as="pam")
        quinn = self.profile("quinn")
        quinn.ok("lookup", "pam", "--directory", self.server.url)
        quinn.ok("verify", "pam", input="yes\n")
        old_fp = pam.whoami()["fingerprint"]
        pam.ok("unregister")
        pam2 = self.profile("pam2", register_as="pam")
        new_fp = pam2.whoami()["fingerprint"]
        before = self.contact(quinn, "pam")
        r = quinn.run("lookup", "pam")
        self.assertExit(r, "keychanged", "WARNING", old_fp, new_fp, "--accept-new-key")
        self.assertEqual(self.contact(quinn, "pam"), before, "nothing changed")
        self.assertTrue(before["verified"])
        r = quinn.ok("lookup", "pam", "--accept-new-key", "--json")
        c = json.loads(r.stdout)
        self.assertEqual((c["result"], c["fingerprint"], c["verified"]),
                         ("key_replaced", new_fp, False))


class UnregisterTest(DirectoryTest):
    def test_unregister_deletes_the_account_and_forgets_the_registration(self):
        rita = self.profile("rita", PASS, register_as="rita")
        sam = self.profile("sam")
        sam.ok("lookup", "rita", "--directory", self.server.url)
        r = rita.ok("unregister")
        self.assertIn("Unregistered rita", r.stdout)
        self.assertIsNone(rita.whoami()["username"])
        self.assertEqual(rita.remembered(), (self.server.url, self.server.pin, None))
        self.assertEqual(rita.db("SELECT count(*) FROM prekeys WHERE uploaded_ms IS NOT NULL"),
                         [(0,)])
        self.assertExit(sam.run("lookup", "rita"), "contact", "no account")
        self.assertExit(rita.run("unregister"), "refused", "not registered")
        rita.ok("register", "rita")

    def test_unregister_needs_the_passphrase(self):
        tom = self.profile("tom", PASS, register_as="tom")
        tom.passphrase = "wrong"
        self.assertEqual(tom.run("unregister").returncode, 5)
        status, _ = self.server.request("GET", "/v1/accounts/tom")
        self.assertEqual(status, 200)


class TopUpTest(DirectoryTest):
    def test_a_lookup_tops_the_prekeys_up_when_the_directory_runs_low(self):
        uma = self.profile("uma", register_as="uma")
        self.profile("vic", register_as="vic")
        number = uma.whoami()["number"]
        for _ in range(85):
            status, bundle = self.server.request("POST", f"/v1/accounts/{number}/bundle")
            self.assertEqual(status, 200)
        self.assertEqual(bundle["prekeys_left"], 15)
        r = uma.ok("lookup", "vic")
        self.assertIn("Topped up", r.stderr)
        _, bundle = self.server.request("POST", f"/v1/accounts/{number}/bundle")
        self.assertEqual(bundle["prekeys_left"], 99, "back to 100, less the one just taken")
        self.assertEqual(uma.db("SELECT count(*), count(uploaded_ms) FROM prekeys"), [(185, 185)])
        r = uma.ok("lookup", "vic")
        self.assertNotIn("Topped up", r.stderr, "not below the threshold any more")


class CertificateTest(DirectoryTest):
    """A server of its own, restarted with a new certificate, then stopped."""

    def test_a_new_certificate_is_refused_and_changes_nothing(self):
        os.mkdir(os.path.join(self.tmp, "own"))
        own = DirServer(os.path.join(self.tmp, "own")).start()
        try:
            self.profile("wes", register_as="wes", server=own)
            xena = self.profile("xena")
            xena.ok("lookup", "wes", "--directory", own.url)
            old_pin, contacts = own.pin, xena.contacts()
            own.stop()
            own.new_certificate()
            own.start()
            self.assertNotEqual(own.pin, old_pin)
            r = xena.run("lookup", "wes")
            self.assertExit(r, "pin", "NOT the pinned one", old_pin, own.pin, "--fingerprint")
            self.assertEqual(xena.remembered()[1], old_pin)
            self.assertEqual(xena.contacts(), contacts)
            r = xena.ok("lookup", "wes", "--fingerprint", own.pin)
            self.assertEqual(xena.remembered()[1], own.pin, "the given fingerprint is pinned")
        finally:
            own.stop()

    def test_a_directory_that_is_down_is_a_network_error(self):
        os.mkdir(os.path.join(self.tmp, "own"))
        own = DirServer(os.path.join(self.tmp, "own")).start()
        yan = self.profile("yan", register_as="yan", server=own)
        own.stop()
        r = yan.run("lookup", "someone")
        self.assertExit(r, "network", "cannot reach the directory", own.url)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        zed = self.profile("zed")
        r = zed.run("register", "zed", "--directory", f"https://127.0.0.1:{port}")
        self.assertExit(r, "network", "cannot reach")
        self.assertIsNone(zed.remembered())


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
