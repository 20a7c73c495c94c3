#!/usr/bin/python3
"""Integration tests of sotto-directory: the real server, over real TLS, on SQLite and on a
throw-away PostgreSQL cluster, driven the way a client would (docs/PROTOCOL.md, "Directory
API, version 1"). Signatures and keys come from tests/support/dir-sign (libsotto's e2e).

usage: test_directory.py SOTTO_DIRECTORY DIR_SIGN PG_CLUSTER_SH [unittest arguments]"""
import base64
import hashlib
import http.client
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from dirclient import DIRSRV, PG_CLUSTER, Client, PinMismatch, Postgres, Server, Signer, Sqlite, unique


SIGNER = None


class DirTest(unittest.TestCase):
    backend = Sqlite

    @classmethod
    def setUpClass(cls):
        if cls.backend is Postgres and not Postgres.available():
            raise unittest.SkipTest("PostgreSQL is not installed")
        cls.workdir = tempfile.mkdtemp(prefix="sotto-dirtest-")
        os.chmod(cls.workdir, 0o755)
        cls.servers = []

    @classmethod
    def server(cls, *args, db=None):
        db = db or cls.backend.new_db(cls.workdir, unique("db"))
        s = Server(db, *args, workdir=cls.workdir).start()
        cls.servers.append(s)
        return s

    @classmethod
    def tearDownClass(cls):
        codes = {s.log_path: s.stop() for s in cls.servers if s.proc.poll() is None}
        dirty = [s.log_path for s in cls.servers if not s.sanitizer_clean()]
        bad = {p: c for p, c in codes.items() if c != 0}
        if dirty or bad:
            for s in cls.servers:
                sys.stderr.write(f"--- {s.log_path}\n{s.log()[-6000:]}\n")
        subprocess.run(["rm", "-rf", cls.workdir])
        assert not dirty, f"sanitizer reports in {dirty}"
        assert not bad, f"servers did not stop cleanly: {bad}"

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertIsNotNone(r.json, r)
        self.assertEqual(r.json.get("error"), code, r)
        self.assertTrue(r.json.get("message"), r)
        self.assertEqual(set(r.json), {"error", "message"}, r)


class ApiTests(DirTest):
    """Every endpoint and its errors, on one server with two workers and no rate limits."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.srv = cls.server("--workers", "2", "--rate-limit", "0")
        cls.c = Client(cls.srv, SIGNER)

    def test_start_lines_name_the_address_pin_backend_and_workers(self):
        self.assertEqual(self.srv.lines["backend"], self.backend.kind)
        self.assertEqual(self.srv.lines["workers"], "2")
        self.assertRegex(self.srv.pin, r"^[0-9a-f]{64}$")
        conn = self.c.connect()
        der = conn.sock.getpeercert(binary_form=True)
        self.assertEqual(conn.sock.version(), "TLSv1.3")
        conn.close()
        pem = ssl.DER_cert_to_PEM_cert(der).encode()
        pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=pem,
                             capture_output=True, check=True).stdout
        spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                              capture_output=True, check=True).stdout
        self.assertEqual(hashlib.sha256(spki).hexdigest(), self.srv.pin)

    def test_tls_below_1_3_and_plain_http_are_refused(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=10) as s:
            with self.assertRaises(ssl.SSLError):
                ctx.wrap_socket(s).do_handshake()
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                data = s.recv(100)
            except ConnectionResetError:
                data = b""
            self.assertFalse(data.startswith(b"HTTP/"), data)

    def test_healthz_answers_ok(self):
        r = self.c.call("GET", "/healthz")
        self.assertEqual((r.status, r.json), (200, {"status": "ok"}))

    def test_register_then_look_up_by_username_and_by_number(self):
        name = unique("alice")
        key, body, r = self.c.register(name.upper(),
                                       addresses=["192.0.2.7:8766", "[2001:db8::1]:9"])
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["username"], name)
        self.assertEqual(r.json["number"], key["number"])
        self.assertRegex(r.json["seen_from"], r"^127\.0\.0\.1:\d+$")
        for target in (name, name.upper(), key["number"]):
            got = self.c.call("GET", f"/v1/accounts/{target}")
            self.assertEqual(got.status, 200, got)
            a = got.json
            self.assertEqual(set(a), {"username", "number", "identity_key", "registration_id",
                                      "signed_prekey", "addresses", "updated_ms"})
            self.assertEqual((a["username"], a["number"], a["identity_key"]),
                             (name, key["number"], key["pub"]))
            self.assertEqual(a["registration_id"], key["registration_id"])
            self.assertEqual(a["signed_prekey"], body["signed_prekey"])
            self.assertEqual(a["addresses"], ["192.0.2.7:8766", "[2001:db8::1]:9"])
            self.assertIsInstance(a["updated_ms"], int)

    def test_lookups_of_unknown_and_malformed_names(self):
        self.assertError(self.c.call("GET", "/v1/accounts/nobodyhere"), 404, "not_found")
        self.assertError(self.c.call("GET", "/v1/accounts/100000000000000"), 404, "not_found")
        for bad in ("x", "9lives", "%C3%A5lice", "a'%20or%20'1'='1", "al%00ice", "a" * 33):
            self.assertIn(self.c.call("GET", f"/v1/accounts/{bad}").status, (400, 404), bad)
        self.assertError(self.c.call("GET", "/v1/accounts/12345"), 400, "bad_request")

    def test_taken_username_look_alike_or_number_answers_409(self):
        name = unique("bob")
        key, body, r = self.c.register(name)
        self.assertEqual(r.status, 201, r)
        for clash in (name.upper(), name.replace("b", "b.", 1), name.replace("o", "0"),
                      name.replace("b", "b_", 1)):
            _, _, r = self.c.register(clash)
            self.assertError(r, 409, "username_taken")
            self.assertIn("choose another", r.json["message"])
        body["username"] = unique("other")
        r = self.c.signed("POST", "/v1/accounts", body, key)
        self.assertError(r, 409, "number_taken")

    def test_bundle_consumes_exactly_one_prekey_then_has_none(self):
        key, body, r = self.c.register(unique("carol"), n_prekeys=3)
        self.assertEqual(r.status, 201, r)
        seen = []
        for left in (2, 1, 0):
            b = self.c.call("POST", f"/v1/accounts/{key['number']}/bundle")
            self.assertEqual(b.status, 200, b)
            self.assertEqual(b.json["prekeys_left"], left)
            self.assertIsNotNone(b.json["prekey"])
            seen.append(b.json["prekey"]["id"])
            self.assertIn(b.json["prekey"], body["prekeys"])
        self.assertEqual(len(set(seen)), 3)
        b = self.c.call("POST", f"/v1/accounts/{key['number']}/bundle")
        self.assertEqual(b.status, 200, b)
        self.assertEqual(set(b.json), {"number", "identity_key", "registration_id", "device_id",
                                       "signed_prekey", "prekey", "prekeys_left"})
        self.assertEqual((b.json["prekey"], b.json["prekeys_left"], b.json["device_id"]),
                         (None, 0, 1))
        self.assertEqual((b.json["number"], b.json["identity_key"]), (key["number"], key["pub"]))
        self.assertEqual(b.json["signed_prekey"], body["signed_prekey"])
        self.assertEqual(b.json["registration_id"], key["registration_id"])

    def test_bundle_errors(self):
        self.assertError(self.c.call("POST", "/v1/accounts/100000000000000/bundle"), 404,
                         "not_found")
        key, _, _ = self.c.register(unique("dave"))
        self.assertError(self.c.call("POST", f"/v1/accounts/{key['number']}/bundle", {"x": 1}),
                         400, "bad_request")
        self.assertError(self.c.call("GET", f"/v1/accounts/{key['number']}/bundle"), 405,
                         "bad_request")

    def test_concurrent_bundle_fetches_never_share_a_prekey(self):
        key, _, r = self.c.register(unique("erin"), n_prekeys=12)
        self.assertEqual(r.status, 201, r)
        got, lock = [], threading.Lock()

        def fetch():
            conn = self.c.connect()
            for _ in range(4):
                b = self.c.call("POST", f"/v1/accounts/{key['number']}/bundle", conn=conn)
                with lock:
                    got.append(b)
            conn.close()
        threads = [threading.Thread(target=fetch) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertTrue(all(b.status == 200 for b in got), got)
        ids = [b.json["prekey"]["id"] for b in got if b.json["prekey"] is not None]
        self.assertEqual(sorted(ids), list(range(1, 13)))
        self.assertEqual(min(b.json["prekeys_left"] for b in got), 0)

    def test_put_addresses_replaces_them(self):
        key, _, _ = self.c.register(unique("frank"))
        path = f"/v1/accounts/{key['number']}/addresses"
        r = self.c.signed("PUT", path, {"addresses": ["198.51.100.4:443", "node.example:1"]}, key)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.json), {"seen_from"})
        a = self.c.call("GET", f"/v1/accounts/{key['number']}").json
        self.assertEqual(a["addresses"], ["198.51.100.4:443", "node.example:1"])
        for bad in (["nope"], ["1.2.3.4:0"], ["a';--:80"], ["1.2.3.4:1"] * 9, [7]):
            r = self.c.signed("PUT", path, {"addresses": bad}, key)
            self.assertError(r, 400, "bad_request")
        self.assertError(self.c.signed("PUT", path, {"addresses": [], "x": 1}, key), 400,
                         "bad_request")

    def test_put_prekeys_adds_and_replaces_the_signed_prekey(self):
        key, body, _ = self.c.register(unique("grace"), n_prekeys=2)
        path = f"/v1/accounts/{key['number']}/prekeys"
        spk = SIGNER.spk(key, 2)
        r = self.c.signed("PUT", path, {"signed_prekey": spk,
                                        "prekeys": SIGNER.prekeys(100, 5)}, key)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["prekeys_left"], 7)
        self.assertIn("seen_from", r.json)
        a = self.c.call("GET", f"/v1/accounts/{key['number']}").json
        self.assertEqual(a["signed_prekey"], spk)
        forged = dict(SIGNER.spk(key, 3), key=SIGNER.prekeys(900, 1)[0]["key"])
        r = self.c.signed("PUT", path, {"signed_prekey": forged, "prekeys": []}, key)
        self.assertError(r, 400, "bad_signature")
        r = self.c.signed("PUT", path, {"prekeys": SIGNER.prekeys(200, 201)}, key)
        self.assertError(r, 400, "bad_request")
        r = self.c.signed("PUT", path, {"prekeys": [{"id": 5, "key": spk["key"], "x": 1}]}, key)
        self.assertError(r, 400, "bad_request")

    def test_delete_removes_the_account_and_frees_its_username(self):
        name = unique("heidi")
        key, body, _ = self.c.register(name)
        r = self.c.signed("DELETE", f"/v1/accounts/{key['number']}", None, key)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["deleted"], key["number"])
        self.assertError(self.c.call("GET", f"/v1/accounts/{name}"), 404, "not_found")
        self.assertError(self.c.call("POST", f"/v1/accounts/{key['number']}/bundle"), 404,
                         "not_found")
        r = self.c.signed("DELETE", f"/v1/accounts/{key['number']}", None, key)
        self.assertError(r, 404, "not_found")
        _, _, r = self.c.register(name)
        self.assertEqual(r.status, 201, r)

    def test_writes_need_a_valid_fresh_unseen_signature_by_the_account(self):
        key, _, _ = self.c.register(unique("ivan"))
        path = f"/v1/accounts/{key['number']}/addresses"
        body = {"addresses": ["192.0.2.9:1"]}
        raw = json.dumps(body).encode()
        self.assertError(self.c.call("PUT", path, body), 401, "unauthorized")
        h = self.c.sign_headers("PUT", path, raw, key)
        for missing in h:
            partial = {k: v for k, v in h.items() if k != missing}
            self.assertError(self.c.call("PUT", path, raw, partial), 401, "unauthorized")
        bad = dict(h, **{"Sotto-Signature": base64.b64encode(bytes(64)).decode()})
        self.assertError(self.c.call("PUT", path, raw, bad), 401, "bad_signature")
        self.assertError(self.c.call("PUT", path, raw, dict(h, **{"Sotto-Signature": "x"})), 401,
                         "unauthorized")
        self.assertError(self.c.call("PUT", path, raw, dict(h, **{"Sotto-Timestamp": "01"})), 401,
                         "unauthorized")
        now = int(time.time() * 1000)
        for skew in (-6 * 60000, 6 * 60000):
            self.assertError(self.c.signed("PUT", path, body, key, ts=now + skew), 401,
                             "stale_timestamp")
        other = dict(body, addresses=["192.0.2.10:1"])
        self.assertError(self.c.call("PUT", path, json.dumps(other).encode(), h), 401,
                         "bad_signature")
        self.assertError(self.c.signed("PUT", path, body, key, host="evil.example:443"), 401,
                         "bad_signature")
        self.assertEqual(self.c.call("PUT", path, raw, h).status, 200)
        self.assertError(self.c.call("PUT", path, raw, h), 401, "replayed")
        a = self.c.call("GET", f"/v1/accounts/{key['number']}").json
        self.assertEqual(a["addresses"], ["192.0.2.9:1"])

    def test_nobody_changes_another_account(self):
        victim, _, _ = self.c.register(unique("judy"))
        mallory, _, _ = self.c.register(unique("mallory"))
        for sub, body in (("/addresses", {"addresses": ["203.0.113.66:1"]}),
                          ("/prekeys", {"prekeys": []}), ("", None)):
            method = "DELETE" if sub == "" else "PUT"
            path = f"/v1/accounts/{victim['number']}{sub}"
            r = self.c.signed(method, path, body, mallory)
            self.assertError(r, 401, "unauthorized")
            r = self.c.signed(method, path, body, mallory, number=victim["number"])
            self.assertError(r, 401, "bad_signature")
        a = self.c.call("GET", f"/v1/accounts/{victim['number']}")
        self.assertEqual((a.status, a.json["addresses"]), (200, ["192.0.2.1:8766"]))

    def test_a_write_signed_for_another_directory_is_refused(self):
        key, _, r = self.c.register(unique("hugo"))
        self.assertEqual(r.status, 201, r)
        path = f"/v1/accounts/{key['number']}"
        for host in ("other-directory.example:443", f"127.0.0.2:{self.c.server.port}"):
            h = self.c.sign_headers("DELETE", path, b"", key, host=host)
            h["Host"] = host
            self.assertError(self.c.call("DELETE", path, None, h), 401, "wrong_host")
        self.assertEqual(self.c.call("GET", path).status, 200, "the account is still there")

    def test_register_signature_must_come_from_the_registered_key(self):
        key, body = self.c.account(unique("kim"))
        other = SIGNER.keygen()
        r = self.c.signed("POST", "/v1/accounts", body, other)
        self.assertError(r, 401, "number_mismatch")
        r = self.c.signed("POST", "/v1/accounts", body, other, number=key["number"])
        self.assertError(r, 401, "bad_signature")
        self.assertError(self.c.call("POST", "/v1/accounts", body), 401, "unauthorized")
        self.assertError(self.c.call("GET", f"/v1/accounts/{key['number']}"), 404, "not_found")

    def test_hostile_bodies_get_400_and_the_server_keeps_answering(self):
        key, body = self.c.account(unique("leo"))

        def post(b):
            raw = b if isinstance(b, bytes) else json.dumps(b).encode()
            return self.c.signed("POST", "/v1/accounts", raw, key)
        self.assertError(post(b'{"username": "leo", '), 400, "bad_json")
        self.assertError(post(b"not json"), 400, "bad_json")
        self.assertError(post(b"[1, 2]"), 400, "bad_json")
        self.assertError(post(b""), 400, "bad_json")
        self.assertError(post(b'{"username": "a", "username": "b"}'), 400, "bad_json")
        self.assertError(post(b'{"username": "\xff\xfe"}'), 400, "bad_json")
        for member, value in (("registration_id", "7"), ("registration_id", 1.5),
                              ("registration_id", 0), ("registration_id", 16381),
                              ("username", 5), ("prekeys", {}), ("addresses", "1.2.3.4:5"),
                              ("signed_prekey", []), ("extra", 1)):
            self.assertError(post(dict(body, **{member: value})), 400, "bad_request")
        self.assertError(post({k: v for k, v in body.items() if k != "signed_prekey"}), 400,
                         "bad_request")
        for name in ("ålice", "\u0430lice", "al ice", "x", "9lives", "a" * 33,
                     "a'; DROP TABLE accounts;--", "robert\"); --", "al%ice", "al\u200bice"):
            self.assertError(post(dict(body, username=name)), 400, "bad_username")
        for k in ("A" * 44, "BQ==", base64.b64encode(b"\x05" + bytes(32)).decode(),
                  base64.b64encode(b"\x06" + bytes(range(32))).decode(), "é" * 44):
            self.assertError(post(dict(body, identity_key=k)), 400, "bad_key")
        spk = dict(body["signed_prekey"], signature=base64.b64encode(bytes(64)).decode())
        self.assertError(post(dict(body, signed_prekey=spk)), 400, "bad_signature")
        dup = body["prekeys"][:1] * 2
        self.assertError(post(dict(body, prekeys=dup)), 400, "bad_request")
        self.assertError(post(dict(body, prekeys=SIGNER.prekeys(1, 201))), 400, "bad_request")
        self.assertEqual(self.c.call("GET", "/healthz").status, 200)
        self.assertEqual(post(body).status, 201)

    def test_oversized_bodies_and_headers_are_refused(self):
        r = self.c.call("POST", "/v1/accounts", b"{" + b" " * (65 * 1024) + b"}")
        self.assertEqual(r.status, 413, r)
        r = self.c.call("GET", "/healthz", headers={"X-Big": "a" * 9000})
        self.assertIn(r.status, (400, 431), r)
        self.assertEqual(self.c.call("GET", "/healthz").status, 200)

    def test_unknown_paths_and_wrong_methods(self):
        self.assertError(self.c.call("GET", "/v2/accounts"), 404, "not_found")
        self.assertError(self.c.call("GET", "/v1/accounts/x/y/z"), 404, "not_found")
        r = self.c.call("GET", "/v1/accounts")
        self.assertError(r, 405, "bad_request")
        self.assertEqual(r.headers.get("Allow"), "POST")
        self.assertEqual(self.c.call("PATCH", "/healthz").status, 405)
        self.assertEqual(self.c.call("PUT", "/v1/accounts/alice").status, 405)


class PgApiTests(ApiTests):
    backend = Postgres


def metric(text, prefix):
    """The sum of the series whose line starts with `prefix`."""
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(prefix))


def closed(sock):
    """True when the peer closed `sock` (an SSLSocket), without blocking."""
    if not select.select([sock], [], [], 0)[0]:
        return False
    sock.setblocking(False)
    try:
        return sock.recv(100) == b""
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return False
    except (ssl.SSLError, OSError):
        return True
    finally:
        sock.settimeout(10)


class LimitTests(DirTest):
    """Rate limits, slow clients, the connection cap, metrics: each on a server of its own
    with one worker, so that every request meets the same limits and counters."""

    def test_metrics_count_requests_latency_accounts_and_prekeys(self):
        c = Client(self.server("--workers", "1", "--rate-limit", "0"), SIGNER)
        key, _, r = c.register(unique("mia"))
        self.assertEqual(r.status, 201, r)
        c.call("POST", f"/v1/accounts/{key['number']}/bundle")
        c.call("GET", "/v1/accounts/nobodyhere")
        r = c.call("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))
        t = r.body.decode()
        w = 'worker="0"'
        self.assertEqual(metric(t, f'sotto_directory_requests_total{{{w},route="register",'
                                   'status="201"}'), 1)
        self.assertEqual(metric(t, f'sotto_directory_requests_total{{{w},route="bundle",'
                                   'status="200"}'), 1)
        self.assertEqual(metric(t, f'sotto_directory_requests_total{{{w},route="lookup",'
                                   'status="404"}'), 1)
        self.assertIn("# TYPE sotto_directory_request_seconds histogram", t)
        self.assertEqual(metric(t, f'sotto_directory_request_seconds_bucket{{{w},le="+Inf"}}'), 3)
        self.assertEqual(metric(t, "sotto_directory_request_seconds_count"), 3)
        self.assertGreater(metric(t, "sotto_directory_request_seconds_sum"), 0)
        self.assertEqual(metric(t, "sotto_directory_accounts "), 1)
        self.assertEqual(metric(t, "sotto_directory_prekeys_stored "), 2)
        self.assertEqual(metric(t, "sotto_directory_prekeys_served_total"), 1)
        self.assertEqual(metric(t, "sotto_directory_db_errors_total"), 0)
        _, _, r = c.register(unique("max"))
        self.assertEqual(r.status, 201, r)
        t = c.call("GET", "/metrics").body.decode()
        self.assertEqual(metric(t, "sotto_directory_accounts "), 1,
                         "counts are reused for 15 s, so scraping cannot load the database")

    def test_rate_limits_answer_429_with_retry_after_and_spare_first_contact(self):
        c = Client(self.server("--workers", "1", "--rate-limit", "3"), SIGNER)
        for _ in range(3):
            self.assertError(c.call("POST", "/v1/accounts", {}), 400, "bad_request")
        r = c.call("POST", "/v1/accounts", {})
        self.assertError(r, 429, "rate_limited")
        self.assertTrue(1 <= int(r.headers["Retry-After"]) <= 60, r.headers)
        key, body = c.account(unique("nina"), n_prekeys=10)
        r = c.signed("POST", "/v1/accounts", body, key, source="127.0.0.2")
        self.assertEqual(r.status, 201, r)
        path = f"/v1/accounts/{key['number']}/bundle"
        for left in (9, 8, 7):
            b = c.call("POST", path, source="127.0.0.3")
            self.assertEqual((b.status, b.json["prekeys_left"]), (200, left), b)
        r = c.call("POST", path, source="127.0.0.3")
        self.assertError(r, 429, "rate_limited")
        self.assertIn("Retry-After", r.headers)
        # another source, but the target's own limit is spent: a bundle, without a prekey
        b = c.call("POST", path, source="127.0.0.4")
        self.assertEqual(b.status, 200, b)
        self.assertEqual((b.json["prekey"], b.json["prekeys_left"]), (None, 7))
        self.assertEqual(c.call("GET", f"/v1/accounts/{key['number']}", source="127.0.0.3")
                         .status, 200, "lookups are not limited")

    def test_slow_clients_are_cut_off_while_others_are_served(self):
        srv = self.server("--workers", "1", "--rate-limit", "0", "--request-timeout", "2")
        c = Client(srv, SIGNER)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        silent = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        slow = ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=10))
        short = ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=10))
        short.sendall(b"POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                      b'{"username": "tru')
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 200 + b"\r\n\r\n"
        latencies, start, cut = [], time.monotonic(), None
        for i, byte in enumerate(request):
            try:
                slow.send(bytes([byte]))
            except (OSError, ssl.SSLError):
                cut = time.monotonic() - start
                break
            if closed(slow):
                cut = time.monotonic() - start
                break
            if i % 3 == 0:
                t0 = time.monotonic()
                self.assertEqual(c.call("GET", "/healthz").status, 200)
                latencies.append(time.monotonic() - t0)
            time.sleep(0.05)
        self.assertIsNotNone(cut, "the slow client was never cut off")
        self.assertTrue(1.5 < cut < 5.0, f"cut off after {cut:.2f} s, the deadline is 2 s")
        self.assertTrue(latencies and max(latencies) < 1.5, latencies)
        silent.settimeout(5)
        t0 = time.monotonic()
        try:
            self.assertEqual(silent.recv(10), b"")
        except ConnectionResetError:
            pass
        self.assertLess(time.monotonic() - t0, 4.0, "a silent connection must be closed too")
        while not closed(short) and time.monotonic() - start < 5.0:
            time.sleep(0.05)
        self.assertLess(time.monotonic() - start, 5.0, "a body that stops short is cut off too")
        for s in (silent, slow, short):
            s.close()

    def test_idle_connections_are_closed(self):
        srv = self.server("--workers", "1", "--idle-timeout", "1")
        c = Client(srv, SIGNER)
        conn = c.connect()
        self.assertEqual(c.call("GET", "/healthz", conn=conn).status, 200)
        time.sleep(2.5)
        with self.assertRaises((http.client.HTTPException, OSError)):
            c.call("GET", "/healthz", conn=conn)
        conn.close()

    def test_connections_beyond_the_cap_wait_until_one_closes(self):
        srv = self.server("--workers", "1", "--max-connections", "3")
        c = Client(srv, SIGNER)
        held = [c.connect() for _ in range(3)]
        for h in held:
            self.assertEqual(c.call("GET", "/healthz", conn=h).status, 200)
        with self.assertRaises((socket.timeout, ssl.SSLError, OSError)):
            c.connect(timeout=1.0).close()
        held.pop().close()
        deadline, ok = time.monotonic() + 10, False
        while not ok and time.monotonic() < deadline:
            try:
                conn = c.connect(timeout=2)
                ok = c.call("GET", "/healthz", conn=conn).status == 200
                conn.close()
            except (socket.timeout, ssl.SSLError, OSError):
                time.sleep(0.2)
        self.assertTrue(ok, "a connection must be accepted once one closed")
        for h in held:
            h.close()


class PgLimitTests(LimitTests):
    backend = Postgres


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


class CrashTests(DirTest):
    """What a crash or a dying worker must not lose."""

    def test_kill_9_loses_no_registration_answered_201(self):
        db = self.backend.new_db(self.workdir, unique("crash"))
        srv = self.server("--workers", "2", "--rate-limit", "0", db=db)
        c = Client(srv, SIGNER)
        prepared = [c.account(unique("z"), n_prekeys=2) for _ in range(60)]
        answered, stop = [], threading.Event()

        def stream():
            conn = None
            for key, body in prepared:
                if stop.is_set():
                    return
                try:
                    conn = conn or c.connect(timeout=5)
                    r = c.signed("POST", "/v1/accounts", body, key, conn=conn)
                except (OSError, http.client.HTTPException, PinMismatch):
                    return
                if r.status == 201:
                    answered.append(key["number"])
        t = threading.Thread(target=stream)
        t.start()
        deadline = time.monotonic() + 20
        while len(answered) < 15 and t.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        srv.kill()
        stop.set()
        t.join()
        self.assertGreaterEqual(len(answered), 15)
        again = self.server("--workers", "1", db=db)
        self.assertEqual(again.pin, srv.pin, "the certificate is kept across restarts")
        c2 = Client(again, SIGNER)
        conn = c2.connect()
        for number in answered:
            self.assertEqual(c2.call("GET", f"/v1/accounts/{number}", conn=conn).status, 200,
                             number)
        conn.close()

    def test_a_dead_worker_is_replaced_and_sigterm_stops_them_all(self):
        srv = self.server("--workers", "2")
        c = Client(srv, SIGNER)
        before = children(srv.proc.pid)
        self.assertEqual(len(before), 2)
        os.kill(before[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = children(srv.proc.pid)
            if len(now) == 2 and before[0] not in now:
                break
            time.sleep(0.05)
        self.assertEqual(len(children(srv.proc.pid)), 2, "a worker must be restarted")
        for _ in range(6):
            self.assertEqual(c.call("GET", "/healthz").status, 200)
        self.assertEqual(srv.stop(), 0)

    def test_workers_die_with_the_parent(self):
        srv = self.server("--workers", "2")
        workers = children(srv.proc.pid)
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in workers):
            time.sleep(0.05)
        self.assertFalse([p for p in workers if os.path.exists(f"/proc/{p}")])
        srv.proc.stdout.close()


class PgCrashTests(CrashTests):
    backend = Postgres

    def test_two_instances_on_one_database_serve_the_same_accounts(self):
        db = self.backend.new_db(self.workdir, unique("shared"))
        shared = ("--workers", "1", "--rate-limit", "0", "--public-host", "shared.example:443")
        a = Client(self.server(*shared, db=db), SIGNER)
        b = Client(self.server(*shared, db=db), SIGNER)
        key, _, r = a.register(unique("olga"), n_prekeys=2)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(b.call("GET", f"/v1/accounts/{key['number']}").status, 200)
        ids = {a.call("POST", f"/v1/accounts/{key['number']}/bundle").json["prekey"]["id"],
               b.call("POST", f"/v1/accounts/{key['number']}/bundle").json["prekey"]["id"]}
        self.assertEqual(ids, {1, 2})
        path = f"/v1/accounts/{key['number']}/addresses"
        raw = json.dumps({"addresses": ["192.0.2.77:1"]}).encode()
        h = a.sign_headers("PUT", path, raw, key, host="shared.example:443")
        h["Host"] = "shared.example:443"
        self.assertEqual(a.call("PUT", path, raw, h).status, 200)
        self.assertError(b.call("PUT", path, raw, h), 401, "replayed")

    def pg_ctl(self, what):
        subprocess.run(["sh", PG_CLUSTER, what, Postgres.datadir], check=True, timeout=120)

    def test_the_database_restarting_or_down_costs_no_lookup_and_stops_no_worker(self):
        srv = self.server("--workers", "1", "--rate-limit", "0")
        c = Client(srv, SIGNER)
        key, _, r = c.register(unique("rita"))
        self.assertEqual(r.status, 201, r)
        path = f"/v1/accounts/{key['number']}"
        self.assertEqual(c.call("GET", path).status, 200)
        self.pg_ctl("restart")
        # the worker's connection is dead: the lookup finds out and runs again on a new one
        self.assertEqual(c.call("GET", path).status, 200, srv.log()[-2000:])
        self.pg_ctl("down")
        try:
            for _ in range(3):
                self.assertError(c.call("GET", path), 503, "unavailable")
            self.assertEqual(c.call("GET", "/healthz").status, 503)
        finally:
            self.pg_ctl("up")
        deadline = time.monotonic() + 30
        while c.call("GET", path).status != 200:
            self.assertLess(time.monotonic(), deadline, "the worker never reconnected")
            time.sleep(0.1)
        self.assertIn("reconnecting", srv.log())


class CliTests(DirTest):
    def run_dir(self, *args, timeout=30):
        return subprocess.run([DIRSRV, *args], capture_output=True, text=True, timeout=timeout)

    def test_help_version_and_usage_errors(self):
        r = self.run_dir("--help")
        self.assertEqual(r.returncode, 0)
        for opt in ("--listen", "--db", "--tls-cert", "--tls-key", "--state-dir", "--workers",
                    "--rate-limit", "--log-level", "--max-connections"):
            self.assertIn(opt, r.stdout)
        self.assertRegex(self.run_dir("--version").stdout, r"^sotto-directory \d")
        for args in ([], ["--listen", "127.0.0.1:0"], ["--db", "sqlite:x"], ["--bogus"],
                     ["--listen", "127.0.0.1:0", "--db", "sqlite:x", "--workers", "0"],
                     ["--listen", "127.0.0.1:0", "--db", "sqlite:x", "--tls-cert", "c"],
                     ["--listen", "127.0.0.1:0", "--db", "sqlite:x", "--rate-limit", "-1"],
                     ["--listen", "127.0.0.1:0", "--db", "sqlite:x", "--log-level", "loud"]):
            r = self.run_dir(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn("sotto-directory:", r.stderr)

    def test_start_failures_exit_1_with_a_message(self):
        db = f"sqlite:{self.workdir}/{unique('f')}.sqlite"
        for args in (["--listen", "127.0.0.1:0", "--db", "mysql://x"],
                     ["--listen", "127.0.0.1:0", "--db", f"sqlite:{self.workdir}/no/such/x"],
                     ["--listen", "256.1.1.1:80", "--db", db],
                     ["--listen", "127.0.0.1:0", "--db", db, "--tls-cert", "/nonexistent",
                      "--tls-key", "/nonexistent"]):
            r = self.run_dir(*args)
            self.assertEqual(r.returncode, 1, (args, r.stderr))
            self.assertTrue(r.stderr.strip(), args)
            self.assertNotIn("AddressSanitizer", r.stderr)

    def test_given_certificate_is_served_and_its_pin_printed(self):
        cert, key = f"{self.workdir}/c.pem", f"{self.workdir}/k.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-days", "2",
                        "-subj", "/CN=given", "-keyout", key, "-out", cert],
                       capture_output=True, check=True)
        pub = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                             capture_output=True, check=True).stdout
        srv = self.server("--workers", "1", "--tls-cert", cert, "--tls-key", key)
        self.assertEqual(srv.pin, hashlib.sha256(pub).hexdigest())
        self.assertEqual(Client(srv, SIGNER).call("GET", "/healthz").status, 200)

    def test_self_signed_certificate_is_private_and_kept_in_the_state_dir(self):
        state = f"{self.workdir}/state/deeper"
        srv = self.server("--workers", "1", "--state-dir", state)
        files = sorted(os.listdir(state))
        self.assertEqual(files, ["tls-cert.pem", "tls-key.pem"])
        for f in files:
            self.assertEqual(os.stat(f"{state}/{f}").st_mode & 0o777, 0o600)
        pin = srv.pin
        srv.stop()
        self.assertEqual(self.server("--workers", "1", "--state-dir", state).pin, pin)


def main():
    global SIGNER
    SIGNER = Signer()
    try:
        prog = unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2, exit=False)
    finally:
        SIGNER.close()
        Postgres.stop()
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
