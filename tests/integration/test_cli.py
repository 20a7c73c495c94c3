#!/usr/bin/python3
"""Integration tests: drive the real `sotto` binary in temporary profiles, the way a user would,
and check what the user would notice: output, exit codes, files on disk."""
import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

SOTTO = os.environ.get("SOTTO_BIN") or (sys.argv[1] if len(sys.argv) > 1 else "sotto")
PASS = "correct horse battery staple"

EXIT = {"ok": 0, "failure": 1, "usage": 2, "noprofile": 3, "exists": 4, "passphrase": 5,
        "notprofile": 6, "corrupt": 7, "perm": 8, "newer": 9, "contact": 10, "keychanged": 11,
        "badcard": 12, "unverified": 13}


def number_of(key33: bytes) -> int:
    """The 15-digit number as docs/PROTOCOL.md defines it, computed independently."""
    h = hashlib.sha256(b"sotto-number-v1\x00" + key33).digest()
    return 10**14 + int.from_bytes(h[:8], "big") % (9 * 10**14)


def card_body(text: str) -> bytes:
    lines = [l.strip() for l in text.strip().splitlines()]
    assert lines[0] == "-----BEGIN SOTTO CARD-----" and lines[-1] == "-----END SOTTO CARD-----"
    return base64.b64decode("".join(lines[1:-1]), validate=True)


def parse_card(text: str) -> dict:
    """Decodes a card body as docs/PROTOCOL.md specifies it (the signature is not checked here;
    sotto card import does that)."""
    b = card_body(text)
    out, i = {"version": b[0], "number": int.from_bytes(b[1:9], "big")}, 9
    n = b[i]; out["name"] = b[i + 1:i + 1 + n].decode(); i += 1 + n
    n = b[i]; out["username"] = b[i + 1:i + 1 + n].decode(); i += 1 + n
    out["key"] = b[i:i + 33]; i += 33
    out["addrs"] = []
    for _ in range(b[i]):
        n = b[i + 1]
        out["addrs"].append(b[i + 2:i + 2 + n].decode())
        i += 1 + n
    i += 1
    out["created_s"] = int.from_bytes(b[i:i + 8], "big"); i += 8
    out["signature"] = b[i:]
    assert len(out["signature"]) == 64, len(out["signature"])
    return out


def scan_terminal_qr(text: str, pbm: str) -> str:
    """Turns the half-block QR code a terminal shows back into pixels, exactly as printed (each
    character cell is two modules: full block both light, upper half top light, lower half
    bottom light, space both dark) and asks zbarimg to read it, as a phone would."""
    cells = {"\u2588": (0, 0), "\u2580": (0, 1), "\u2584": (1, 0), " ": (1, 1)}
    rows = []
    for line in text.split("\n"):
        if line and set(line) <= set(cells):
            rows.append([cells[c][0] for c in line])
            rows.append([cells[c][1] for c in line])
    scale = 4
    with open(pbm, "w") as f:
        f.write(f"P1\n{len(rows[0]) * scale} {len(rows) * scale}\n")
        for row in rows:
            line = " ".join(str(v) for v in row for _ in range(scale)) + "\n"
            f.write(line * scale)
    r = subprocess.run(["zbarimg", "-q", "--raw", pbm], capture_output=True, text=True, timeout=60)
    return r.stdout.strip()


def tree_digest(path: str) -> dict:
    """Names, modes and contents of every file under path: to show nothing changed."""
    out = {}
    for root, dirs, files in os.walk(path):
        for name in sorted(dirs + files):
            p = os.path.join(root, name)
            st = os.lstat(p)
            data = b""
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    data = f.read()
            out[os.path.relpath(p, path)] = (st.st_mode, hashlib.sha256(data).hexdigest())
    return out


class Profile:
    def __init__(self, root: str, name: str, passphrase=PASS):
        self.home = os.path.join(root, name)
        self.name = name
        self.passphrase = passphrase

    def run(self, *args, input=None, passphrase=None, env_extra=None):
        env = {k: v for k, v in os.environ.items() if k != "SOTTO_PASSPHRASE"}
        env["SOTTO_HOME"] = self.home
        p = passphrase if passphrase is not None else self.passphrase
        if p:
            env["SOTTO_PASSPHRASE"] = p
        env.update(env_extra or {})
        return subprocess.run([SOTTO, *args], input=input, capture_output=True, text=True,
                              env=env, timeout=120, stdin=None if input is not None else subprocess.DEVNULL,
                              start_new_session=True)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        if r.returncode != 0:
            raise AssertionError(f"sotto {' '.join(args)} exited {r.returncode}:\n{r.stderr}")
        return r

    def init(self, *extra):
        args = ["init", "--name", self.name, *extra]
        if not self.passphrase:
            args.append("--no-passphrase")
        return self.ok(*args)

    def whoami(self):
        return json.loads(self.ok("whoami", "--json").stdout)

    def card(self, *extra):
        return self.ok("card", "export", *extra).stdout


class CliTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sotto-it-")
        os.chmod(self.root, 0o700)

    def tearDown(self):
        for root, dirs, _ in os.walk(self.root):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o700)
        shutil.rmtree(self.root, ignore_errors=True)

    def profile(self, name, passphrase=PASS):
        return Profile(self.root, name, passphrase)

    def assertExit(self, r, code, *needles):
        self.assertEqual(r.returncode, EXIT[code], f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        for n in needles:
            self.assertIn(n, r.stdout + r.stderr)


class InitTest(CliTest):
    def test_init_creates_a_private_profile_with_a_number_derived_from_the_key(self):
        alice = self.profile("alice")
        r = alice.init()
        self.assertIn("Number:", r.stdout)
        self.assertEqual(stat.S_IMODE(os.stat(alice.home).st_mode), 0o700)
        for name in os.listdir(alice.home):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(alice.home, name)).st_mode), 0o600, name)
        me = alice.whoami()
        self.assertEqual(me["name"], "alice")
        self.assertEqual(me["profile"], alice.home)
        self.assertRegex(me["number"], r"^[1-9][0-9]{14}$")
        self.assertRegex(me["fingerprint"], r"^([0-9a-f]{4} ){15}[0-9a-f]{4}$")
        # the key in the card hashes to the number and to the fingerprint, per PROTOCOL.md
        card = parse_card(alice.card("--address", "10.0.0.5:8766"))
        self.assertEqual(card["number"], int(me["number"]))
        self.assertEqual(number_of(card["key"]), card["number"])
        self.assertEqual(hashlib.sha256(card["key"]).hexdigest(), me["fingerprint"].replace(" ", ""))
        self.assertEqual(card["name"], "alice")
        self.assertEqual(card["addrs"], ["10.0.0.5:8766"])

    def test_whoami_text_groups_the_number_in_threes(self):
        alice = self.profile("alice", passphrase=None)
        alice.init()
        r = alice.ok("whoami")
        digits = alice.whoami()["number"]
        grouped = " ".join(digits[i:i + 3] for i in range(0, 15, 3))
        self.assertIn(grouped, r.stdout)

    def test_init_never_overwrites_an_existing_profile(self):
        alice = self.profile("alice")
        alice.init()
        before = tree_digest(alice.home)
        r = alice.run("init", "--name", "mallory")
        self.assertExit(r, "exists", "already exists", "untouched")
        self.assertEqual(tree_digest(alice.home), before)
        self.assertEqual(alice.whoami()["name"], "alice")

    def test_init_without_any_way_to_get_a_passphrase_creates_nothing(self):
        alice = self.profile("alice", passphrase=None)
        r = alice.run("init", "--name", "alice")
        self.assertExit(r, "passphrase", "SOTTO_PASSPHRASE", "--no-passphrase")
        self.assertFalse(os.path.exists(alice.home))

    def test_init_refuses_a_name_with_control_characters(self):
        alice = self.profile("alice")
        r = alice.run("init", "--name", "evil\x1b[2J")
        self.assertExit(r, "usage", "--name")
        self.assertFalse(os.path.exists(alice.home))

    def test_init_into_an_existing_empty_directory_works(self):
        alice = self.profile("alice", passphrase=None)
        os.mkdir(alice.home, 0o700)
        alice.init()
        self.assertEqual(alice.whoami()["name"], "alice")

    def test_no_profile_says_to_run_init(self):
        r = self.profile("nobody").run("whoami")
        self.assertExit(r, "noprofile", "sotto init")

    def test_default_home_follows_xdg_data_home(self):
        xdg = os.path.join(self.root, "xdg")
        env = {k: v for k, v in os.environ.items() if k not in ("SOTTO_HOME", "SOTTO_PASSPHRASE")}
        env["XDG_DATA_HOME"] = xdg
        r = subprocess.run([SOTTO, "init", "--name", "x", "--no-passphrase"], env=env,
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(xdg, "sotto", "profile.db")))


class ProfileErrorTest(CliTest):
    def setUp(self):
        super().setUp()
        self.alice = self.profile("alice")
        self.alice.init()

    def unchanged_after(self, *args, code, needles=(), passphrase=None):
        before = tree_digest(self.alice.home)
        r = self.alice.run(*args, passphrase=passphrase)
        self.assertExit(r, code, *needles)
        self.assertEqual(tree_digest(self.alice.home), before, "the profile changed on disk")

    def test_wrong_passphrase_is_refused_and_changes_nothing(self):
        self.unchanged_after("card", "export", code="passphrase", needles=["wrong passphrase"],
                             passphrase="not the passphrase")

    def test_public_commands_need_no_passphrase(self):
        r = self.alice.run("whoami", passphrase="")
        self.assertExit(r, "ok", "alice")

    def test_a_text_file_is_not_a_profile(self):
        with open(os.path.join(self.alice.home, "profile.db"), "w") as f:
            f.write("hello, I am not a database\n" * 100)
        self.unchanged_after("whoami", code="notprofile", needles=["not a Sotto profile"])

    def test_another_programs_sqlite_database_is_not_a_profile(self):
        db = os.path.join(self.alice.home, "profile.db")
        os.unlink(db)
        subprocess.run(["sqlite3", db, "create table t(x); insert into t values (1);"], check=True)
        os.chmod(db, 0o600)
        self.unchanged_after("whoami", code="notprofile", needles=["not a Sotto profile"])

    def test_a_damaged_database_is_reported_and_left_alone(self):
        db = os.path.join(self.alice.home, "profile.db")
        size = os.path.getsize(db)
        with open(db, "r+b") as f:
            for off in range(4096, size, 4096):
                f.seek(off + 100)
                f.write(b"\xde\xad\xbe\xef" * 64)
        self.unchanged_after("whoami", code="corrupt", needles=["damaged"])

    def test_a_profile_readable_by_others_is_refused(self):
        os.chmod(self.alice.home, 0o755)
        self.unchanged_after("whoami", code="perm", needles=["other users", "chmod 700"])

    def test_a_database_readable_by_others_is_refused(self):
        os.chmod(os.path.join(self.alice.home, "profile.db"), 0o644)
        self.unchanged_after("card", "export", code="perm", needles=["chmod"])

    def test_a_profile_from_a_newer_sotto_is_refused(self):
        db = os.path.join(self.alice.home, "profile.db")
        subprocess.run(["sqlite3", db, "PRAGMA user_version = 999;"], check=True)
        self.unchanged_after("whoami", code="newer", needles=["newer"])


class CardTest(CliTest):
    def setUp(self):
        super().setUp()
        self.alice = self.profile("alice")
        self.bob = self.profile("bob", passphrase=None)
        self.alice.init("--address", "127.0.0.1:8766")
        self.bob.init()

    def import_into(self, who, text, *extra):
        return who.run("card", "import", "-", *extra, input=text)

    def test_cards_swapped_make_contacts_on_both_sides(self):
        r = self.import_into(self.bob, self.alice.card())
        self.assertExit(r, "ok", "Added contact alice")
        r = self.import_into(self.alice, self.bob.card())
        self.assertExit(r, "ok", "Added contact bob")
        contacts = json.loads(self.bob.ok("contacts", "--json").stdout)
        self.assertEqual(len(contacts), 1)
        c = contacts[0]
        me = self.alice.whoami()
        self.assertEqual((c["name"], c["number"], c["fingerprint"], c["verified"]),
                         ("alice", me["number"], me["fingerprint"], False))
        self.assertEqual(c["addresses"], ["127.0.0.1:8766"])
        self.assertIn("alice", self.bob.ok("contacts").stdout)

    def test_card_export_to_a_file_and_import_from_it(self):
        path = os.path.join(self.root, "alice.card")
        self.alice.ok("card", "export", "--out", path)
        self.assertExit(self.bob.run("card", "import", path), "ok", "Added")
        self.assertExit(self.bob.run("card", "import", path), "ok", "already up to date")

    def test_a_card_survives_rewrapping_and_stray_whitespace(self):
        lines = self.alice.card().splitlines()
        body = "".join(lines[1:-1])
        pasted = "\n\n   " + lines[0] + "\r\n" + "\n".join(
            "\t" + body[i:i + 37] + "  " for i in range(0, len(body), 37)) + "\r\n" + lines[-1] + "\n\n"
        self.assertExit(self.import_into(self.bob, pasted), "ok", "Added contact alice")

    def test_a_tampered_card_is_refused(self):
        text = self.alice.card()
        lines = text.splitlines()
        body = bytearray(card_body(text))
        body[12] ^= 0x01  # inside the name
        forged = lines[0] + "\n" + base64.b64encode(bytes(body)).decode() + "\n" + lines[-1] + "\n"
        r = self.import_into(self.bob, forged)
        self.assertExit(r, "badcard", "signature")
        self.assertEqual(json.loads(self.bob.ok("contacts", "--json").stdout), [])

    def test_a_card_with_a_changed_character_is_refused(self):
        text = self.alice.card()
        i = text.index("\n") + 20
        bad = text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1:]
        self.assertExit(self.import_into(self.bob, bad), "badcard")

    def test_truncated_oversized_and_garbage_cards_are_refused(self):
        text = self.alice.card()
        for bad, why in [(text[: len(text) // 2], "incomplete"),
                         (text[:-30], "incomplete"),
                         (text + "x" * 20000, "larger"),
                         ("hello\n", "not a valid"),
                         ("", "no card"),
                         (" \n\t\n", "no card"),
                         (text.replace("SOTTO CARD", "PGP MESSAGE"), "not a valid")]:
            r = self.import_into(self.bob, bad)
            self.assertExit(r, "badcard", why)
        self.assertEqual(json.loads(self.bob.ok("contacts", "--json").stdout), [])

    def test_importing_your_own_card_is_refused(self):
        self.assertExit(self.import_into(self.alice, self.alice.card()), "badcard", "your own")

    def test_a_known_contacts_new_key_is_refused_with_both_fingerprints(self):
        self.import_into(self.alice, self.bob.card())
        old_fp = self.bob.whoami()["fingerprint"]
        shutil.rmtree(self.bob.home)
        self.bob.init()  # bob starts over: same name, new key
        new_fp = self.bob.whoami()["fingerprint"]
        r = self.import_into(self.alice, self.bob.card())
        self.assertExit(r, "keychanged", "WARNING", old_fp, new_fp, "--accept-new-key")
        c = json.loads(self.alice.ok("contacts", "--json").stdout)
        self.assertEqual([x["fingerprint"] for x in c], [old_fp])
        r = self.import_into(self.alice, self.bob.card(), "--accept-new-key")
        self.assertExit(r, "ok", "new identity key")
        c = json.loads(self.alice.ok("contacts", "--json").stdout)
        self.assertEqual([(x["fingerprint"], x["verified"]) for x in c], [(new_fp, False)])

    def test_a_verified_contacts_new_key_clears_the_mark(self):
        self.import_into(self.alice, self.bob.card())
        self.alice.ok("verify", "bob", input="yes\n")
        shutil.rmtree(self.bob.home)
        self.bob.init()
        self.assertExit(self.import_into(self.alice, self.bob.card()), "keychanged")
        self.assertTrue(json.loads(self.alice.ok("contacts", "--json").stdout)[0]["verified"])
        self.import_into(self.alice, self.bob.card(), "--accept-new-key")
        self.assertFalse(json.loads(self.alice.ok("contacts", "--json").stdout)[0]["verified"])

    def test_contact_option_imports_a_namesake_as_someone_else(self):
        self.import_into(self.alice, self.bob.card())
        other = self.profile("bob2", passphrase=None)
        other.ok("init", "--name", "bob", "--no-passphrase")
        self.assertExit(self.import_into(self.alice, other.card()), "keychanged")
        r = self.import_into(self.alice, other.card(), "--contact", "Bob from work")
        self.assertExit(r, "ok", "Added contact Bob from work")
        names = sorted(x["name"] for x in json.loads(self.alice.ok("contacts", "--json").stdout))
        self.assertEqual(names, ["Bob from work", "bob"])


class SafetyNumberTest(CliTest):
    def setUp(self):
        super().setUp()
        self.alice = self.profile("alice", passphrase=None)
        self.bob = self.profile("bob", passphrase=None)
        self.alice.init()
        self.bob.init()
        self.alice.ok("card", "import", "-", input=self.bob.card())
        self.bob.ok("card", "import", "-", input=self.alice.card())

    def safety(self, who, contact):
        return json.loads(who.ok("safety-number", contact, "--json").stdout)

    def test_both_sides_see_the_same_sixty_digits(self):
        a, b = self.safety(self.alice, "bob"), self.safety(self.bob, "alice")
        self.assertEqual(a["safety_number"], b["safety_number"])
        groups = a["safety_number"].split(" ")
        self.assertEqual(len(groups), 12)
        self.assertTrue(all(len(g) == 5 and g.isdigit() for g in groups))
        text = self.alice.ok("safety-number", "bob").stdout
        self.assertIn(" ".join(groups[:4]), text)

    def test_qr_code_scans_to_the_code_it_prints(self):
        r = self.alice.ok("safety-number", "bob", "--qr")
        code = self.safety(self.alice, "bob")["scannable"]
        self.assertIn("Code: " + code, r.stdout)
        self.assertEqual(scan_terminal_qr(r.stdout, os.path.join(self.root, "qr.pbm")), code)

    def test_contact_found_by_number_with_spaces(self):
        digits = self.bob.whoami()["number"]
        spaced = " ".join(digits[i:i + 3] for i in range(0, 15, 3))
        self.assertEqual(self.safety(self.alice, spaced), self.safety(self.alice, "bob"))

    def test_verify_after_the_user_confirms(self):
        r = self.alice.run("verify", "bob", input="no\n")
        self.assertExit(r, "unverified", "Not verified")
        self.assertFalse(json.loads(self.alice.ok("contacts", "--json").stdout)[0]["verified"])
        r = self.alice.run("verify", "bob", input="yes\n")
        self.assertExit(r, "ok", "verified")
        self.assertTrue(json.loads(self.alice.ok("contacts", "--json").stdout)[0]["verified"])

    def test_verify_with_no_answer_does_not_verify(self):
        r = self.alice.run("verify", "bob", input="")
        self.assertExit(r, "unverified")

    def test_verify_with_the_other_sides_scanned_code(self):
        bobs_code = self.safety(self.bob, "alice")["scannable"]
        r = self.alice.run("verify", "bob", "--scanned", bobs_code)
        self.assertExit(r, "ok", "verified")
        self.assertTrue(json.loads(self.alice.ok("contacts", "--json").stdout)[0]["verified"])

    def test_a_scanned_code_from_someone_else_does_not_verify(self):
        carol = self.profile("carol", passphrase=None)
        carol.init()
        carol.ok("card", "import", "-", input=self.alice.card())
        carols_code = self.safety(carol, "alice")["scannable"]
        for bad in (carols_code, self.safety(self.alice, "bob")["scannable"], "bm90IGEgY29kZQ==",
                    "!!!"):
            r = self.alice.run("verify", "bob", "--scanned", bad)
            self.assertExit(r, "unverified")
        self.assertFalse(json.loads(self.alice.ok("contacts", "--json").stdout)[0]["verified"])

    def test_unknown_and_ambiguous_contacts(self):
        self.assertExit(self.alice.run("safety-number", "zed"), "contact", "no contact")
        carol = self.profile("carol", passphrase=None)
        carol.init()
        self.alice.ok("card", "import", "-", input=carol.card())
        # two contacts can share a display name (a contact renames themselves): make it so
        db = os.path.join(self.alice.home, "profile.db")
        subprocess.run(["sqlite3", db, "UPDATE contacts SET name = 'bob';"], check=True)
        r = self.alice.run("safety-number", "bob")
        self.assertExit(r, "contact", "matches 2 contacts", self.spaced(self.bob), self.spaced(carol))
        self.assertExit(self.alice.run("safety-number", self.spaced(carol)), "ok")

    @staticmethod
    def spaced(who):
        digits = who.whoami()["number"]
        return " ".join(digits[i:i + 3] for i in range(0, 15, 3))

    def test_contact_remove(self):
        r = self.alice.run("contact", "remove", "bob")
        self.assertExit(r, "ok", "Removed contact bob")
        self.assertEqual(json.loads(self.alice.ok("contacts", "--json").stdout), [])
        self.assertExit(self.alice.run("contact", "remove", "bob"), "contact")


class ReviewRegressionTest(CliTest):
    """Things a careful user found: each would mislead or lock out a real person."""

    def setUp(self):
        super().setUp()
        self.alice = self.profile("alice", passphrase=None)
        self.bob = self.profile("bob", passphrase=None)
        self.alice.init()
        self.bob.init()
        self.alice.ok("card", "import", "-", input=self.bob.card())

    def test_a_username_claimed_in_a_card_does_not_capture_a_contacts_name(self):
        mallory = self.profile("mallory", passphrase=None)
        mallory.init()
        db = os.path.join(mallory.home, "profile.db")
        subprocess.run(["sqlite3", db, "UPDATE identity SET username = 'bob';"], check=True)
        self.alice.ok("card", "import", "-", input=mallory.card())
        mine = json.loads(self.alice.ok("safety-number", "bob", "--json").stdout)
        self.assertEqual(mine["contact"], "bob", "'bob' must still mean the contact named bob")
        listing = {c["name"]: c for c in json.loads(self.alice.ok("contacts", "--json").stdout)}
        self.assertIsNone(listing["mallory"]["username"])
        self.assertEqual(listing["mallory"]["claimed_username"], "bob")
        self.assertIn("~bob", self.alice.ok("contacts").stdout)

    def test_verify_marks_nothing_when_the_key_changes_while_the_user_compares(self):
        p = subprocess.Popen([SOTTO, "verify", "bob"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "SOTTO_HOME": self.alice.home})
        prompt = ""
        while "[y/N]" not in prompt:  # the event: the question is on screen
            ch = p.stderr.read(1)
            self.assertTrue(ch, "verify ended before asking")
            prompt += ch
        shutil.rmtree(self.bob.home)
        self.bob.init()
        self.alice.ok("card", "import", "-", "--accept-new-key", input=self.bob.card())
        out, err = p.communicate("yes\n", timeout=60)
        self.assertEqual(p.returncode, EXIT["keychanged"], err)
        self.assertIn("changed while you were comparing", err)
        self.assertFalse(json.loads(self.alice.ok("contacts", "--json").stdout)[0]["verified"])

    def test_a_name_the_user_chose_survives_reimporting_the_card(self):
        self.alice.ok("card", "import", "-", "--contact", "Bobby", input=self.bob.card())
        self.alice.ok("card", "import", "-", input=self.bob.card())
        names = [c["name"] for c in json.loads(self.alice.ok("contacts", "--json").stdout)]
        self.assertEqual(names, ["Bobby"])

    def test_passphrase_problems_exit_with_the_passphrase_code(self):
        carol = self.profile("carol")
        carol.init()
        for bad in ("x" * 1500, ""):
            r = carol.run("card", "export", passphrase=None,
                          env_extra={"SOTTO_PASSPHRASE": bad})
            self.assertExit(r, "passphrase")
        r = carol.run("card", "export", passphrase="")  # no variable, no terminal
        self.assertExit(r, "passphrase", "none could be read")

    def test_init_on_an_existing_profile_says_so_before_asking_for_a_passphrase(self):
        r = self.alice.run("init", passphrase="")
        self.assertExit(r, "exists", "already exists")

    def test_names_that_reorder_text_are_refused(self):
        r = self.profile("eve").run("init", "--name", "Eve\u202e\u200b")
        self.assertExit(r, "usage", "--name")

    def test_empty_home_is_a_usage_error(self):
        self.assertExit(self.alice.run("--home", "", "whoami"), "usage", "--home")

    def test_a_missing_data_key_file_is_named(self):
        os.unlink(os.path.join(self.alice.home, "datakey"))
        self.assertExit(self.alice.run("card", "export"), "corrupt", "data key file")

    def test_interrupting_the_passphrase_prompt_gives_the_terminal_its_echo_back(self):
        import pty, signal, termios, time
        carol = self.profile("carol")
        carol.init()
        env = {k: v for k, v in os.environ.items() if k != "SOTTO_PASSPHRASE"}
        env["SOTTO_HOME"] = carol.home
        pid, master = pty.fork()
        if pid == 0:
            os.execve(SOTTO, [SOTTO, "card", "export"], env)
        seen = b""
        deadline = time.monotonic() + 30
        while b"Passphrase:" not in seen:
            self.assertLess(time.monotonic(), deadline, seen)
            seen += os.read(master, 100)
        self.assertFalse(termios.tcgetattr(master)[3] & termios.ECHO, "echo is off while asking")
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        self.assertTrue(os.WIFSIGNALED(status))
        self.assertTrue(termios.tcgetattr(master)[3] & termios.ECHO, "echo must be back")
        os.close(master)


class InterfaceTest(CliTest):
    COMMANDS = [["init"], ["whoami"], ["card"], ["card", "export"], ["card", "import"],
                ["contacts"], ["contact"], ["safety-number"], ["verify"]]

    def test_every_command_has_help(self):
        p = self.profile("x")
        for cmd in [[]] + self.COMMANDS:
            r = p.run(*cmd, "--help")
            self.assertExit(r, "ok", "Usage: sotto")
        self.assertFalse(os.path.exists(p.home), "--help must not create anything")

    def test_unknown_commands_and_options_are_usage_errors(self):
        p = self.profile("x")
        self.assertExit(p.run("frobnicate"), "usage", "unknown command")
        self.assertExit(p.run("whoami", "--bogus"), "usage")
        self.assertExit(p.run(), "usage", "Usage")
        self.assertExit(p.run("card", "import"), "usage")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
