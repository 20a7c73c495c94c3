#!/usr/bin/python3
"""Integration tests of sotto-directory --proxy-protocol: the real server behind a pretend
load balancer, which starts every TCP connection with a PROXY protocol v2 header ahead of
TLS (docs/directory.md, "Behind a load balancer"). The server, the HTTPS client and the
signer come from dirclient.py and test_directory.py.

usage: test_proxy.py SOTTO_DIRECTORY DIR_SIGN PG_CLUSTER_SH [unittest arguments]"""
import hashlib
import http.client
import socket
import ssl
import sys
import time
import unittest

import test_directory as td
from dirclient import Client, PinMismatch, Signer, spki_of, unique

SIGNER = None
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(ver_cmd, fam, block):
    """A PROXY v2 header: signature, version and command, family, length, address block."""
    return SIG + bytes([ver_cmd, fam]) + len(block).to_bytes(2, "big") + block


def proxy_v4(src, port, tlvs=b""):
    """PROXY, TCP over IPv4, from src:port to 192.0.2.1:443."""
    block = (socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, "192.0.2.1")
             + port.to_bytes(2, "big") + (443).to_bytes(2, "big"))
    return v2(0x21, 0x11, block + tlvs)


def proxy_v6(src, port, tlvs=b""):
    """PROXY, TCP over IPv6, from [src]:port to [2001:db8::1]:443."""
    block = (socket.inet_pton(socket.AF_INET6, src)
             + socket.inet_pton(socket.AF_INET6, "2001:db8::1")
             + port.to_bytes(2, "big") + (443).to_bytes(2, "big"))
    return v2(0x21, 0x21, block + tlvs)


LOCAL = v2(0x20, 0x00, b"")                 # the balancer's own connection (health check)
UNSPEC = v2(0x21, 0x00, b"")                # relayed, but for no address the server can use
TLVS = (b"\x02\x00\x0fdir.example.org"      # PP2_TYPE_AUTHORITY
        + b"\x04\x00\x03\x00\x00\x00")      # PP2_TYPE_NOOP, padding


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return ctx


class ProxiedHTTPS(http.client.HTTPSConnection):
    """HTTPS over a TCP connection that starts with `header`, sent at once or, with
    `trickle`, a byte at a time `trickle` seconds apart."""

    def __init__(self, port, header, timeout=15, trickle=0.0):
        super().__init__("127.0.0.1", port, context=tls_context(), timeout=timeout)
        self.header, self.trickle = header, trickle

    def connect(self):
        http.client.HTTPConnection.connect(self)
        if self.trickle:
            for b in self.header:
                self.sock.sendall(bytes([b]))
                time.sleep(self.trickle)
        else:
            self.sock.sendall(self.header)
        self.sock = self._context.wrap_socket(self.sock)


class ProxyClient(Client):
    """dirclient's Client, every connection of which starts with `header`."""

    def __init__(self, server, signer, header, trickle=0.0):
        super().__init__(server, signer)
        self.header, self.trickle = header, trickle

    def connect(self, source=None, timeout=15):
        c = ProxiedHTTPS(self.server.port, self.header, timeout, self.trickle)
        c.connect()
        pin = hashlib.sha256(spki_of(c.sock.getpeercert(binary_form=True))).hexdigest()
        if pin != self.server.pin:
            c.close()
            raise PinMismatch(pin)
        return c


def seconds_until_closed(sock, within):
    """How long the server took to close `sock` (end of stream or reset), None if it did not
    within `within` seconds. Whatever the server sends meanwhile is read and dropped."""
    t0 = time.monotonic()
    try:
        while True:
            left = within - (time.monotonic() - t0)
            if left <= 0:
                return None
            sock.settimeout(left)
            if not sock.recv(4096):
                return time.monotonic() - t0
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - t0
    except socket.timeout:
        return None


def one_segment_request(port, header, request):
    """Sends `header` and the TLS ClientHello in one TCP send, so that the server reads them
    in one go, then `request`; returns the raw answer, read until the server closes."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = tls_context().wrap_bio(inc, out)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        sock.sendall(header + out.read())
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if out.pending:
                    sock.sendall(out.read())
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("closed during the handshake")
                inc.write(data)
        tls.write(request)
        sock.sendall(out.read())
        answer = b""
        while True:
            try:
                answer += tls.read(65536)
            except ssl.SSLWantReadError:
                if out.pending:
                    sock.sendall(out.read())
                data = sock.recv(65536)
                if not data:
                    return answer
                inc.write(data)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return answer


class ProxyTests(td.DirTest):
    """A server with --proxy-protocol (and one without, for comparison), one worker each, so
    that every request meets the same rate limits."""

    def proxied(self, srv, header, **kw):
        return ProxyClient(srv, SIGNER, header, **kw)

    def test_writes_answer_seen_from_with_the_address_the_header_names(self):
        srv = self.server("--workers", "1", "--rate-limit", "0", "--proxy-protocol")
        c = self.proxied(srv, proxy_v4("203.0.113.7", 4242))
        key, _, r = c.register(unique("pia"))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["seen_from"], "203.0.113.7:4242")
        path = f"/v1/accounts/{key['number']}/addresses"
        for header, seen in ((proxy_v6("2001:db8:1:2::7", 9), "[2001:db8:1:2::7]:9"),
                             (proxy_v6("::ffff:203.0.113.9", 5000), "[::ffff:203.0.113.9]:5000"),
                             (proxy_v4("198.51.100.20", 65535, TLVS), "198.51.100.20:65535")):
            c.header = header
            r = c.signed("PUT", path, {"addresses": ["192.0.2.9:1"]}, key)
            self.assertEqual((r.status, r.json["seen_from"]), (200, seen), r)

    def test_local_and_unspec_headers_mean_the_socket_address_and_health_checks_pass(self):
        srv = self.server("--workers", "1", "--rate-limit", "0", "--proxy-protocol")
        for header in (LOCAL, UNSPEC, v2(0x21, 0x12, bytes(12))):  # UDP: read as UNSPEC
            c = self.proxied(srv, header)
            conn = c.connect()
            port = conn.sock.getsockname()[1]
            key, body = c.account(unique("lou"))
            r = c.signed("POST", "/v1/accounts", body, key, conn=conn)
            conn.close()
            self.assertEqual((r.status, r.json["seen_from"]), (201, f"127.0.0.1:{port}"), r)
        for _ in range(3):  # TCP health checks: connect, close
            socket.create_connection(("127.0.0.1", srv.port), timeout=10).close()
        self.assertEqual(self.proxied(srv, LOCAL).call("GET", "/healthz").status, 200)
        self.assertNotIn("without a valid PROXY v2 header", srv.log())

    def test_a_connection_without_a_valid_header_is_closed_at_once_and_others_served(self):
        srv = self.server("--workers", "1", "--rate-limit", "0", "--proxy-protocol",
                          "--request-timeout", "30")
        good = self.proxied(srv, proxy_v4("203.0.113.7", 4242))
        bad_headers = [
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            b"PROXY TCP4 203.0.113.7 192.0.2.1 4242 443\r\n",         # version 1: not read
            SIG[:6] + b"\r" + SIG[7:] + proxy_v4("203.0.113.7", 1)[12:],
            SIG + b"\x11\x11" + proxy_v4("203.0.113.7", 1)[14:],       # version 1 byte
            SIG + b"\x22\x11" + proxy_v4("203.0.113.7", 1)[14:],       # command 2
            SIG + b"\x21\x41" + proxy_v4("203.0.113.7", 1)[14:],       # family 4
            SIG + b"\x21\x11" + (521).to_bytes(2, "big") + bytes(40),  # over the 536-byte cap
            v2(0x21, 0x21, bytes(12)),                                 # too short for IPv6
        ]
        for bad in bad_headers:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
                s.sendall(bad)
                took = seconds_until_closed(s, 5)
            self.assertIsNotNone(took, bad)
            self.assertLess(took, 2.0, bad)
            self.assertEqual(good.call("GET", "/healthz").status, 200)
        # TLS straight away, without a header: refused at its first byte
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            t0 = time.monotonic()
            with self.assertRaises((ssl.SSLError, OSError)):
                tls_context().wrap_socket(s).do_handshake()
            self.assertLess(time.monotonic() - t0, 2.0)
        key, _, r = good.register(unique("quin"))
        self.assertEqual((r.status, r.json["seen_from"]), (201, "203.0.113.7:4242"), r)
        warnings = [l for l in srv.log().splitlines() if "without a valid PROXY v2 header" in l]
        self.assertEqual(len(warnings), 1, "one warning a minute, however many refusals")

    def test_a_half_header_or_none_is_cut_off_by_the_request_deadline(self):
        srv = self.server("--workers", "1", "--rate-limit", "0", "--proxy-protocol",
                          "--request-timeout", "2")
        good = self.proxied(srv, proxy_v6("2001:db8::5", 1))
        half = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        silent = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        t0 = time.monotonic()
        half.sendall(proxy_v4("203.0.113.7", 4242)[:20])
        for _ in range(3):
            t1 = time.monotonic()
            self.assertEqual(good.call("GET", "/healthz").status, 200)
            self.assertLess(time.monotonic() - t1, 1.5, "the worker goes on serving others")
        for s in (half, silent):
            took = seconds_until_closed(s, 6 - (time.monotonic() - t0))
            self.assertIsNotNone(took, "a header that stops short is cut off")
            took = time.monotonic() - t0
            self.assertTrue(1.5 < took < 5.0, f"closed after {took:.2f} s, the deadline is 2 s")
            s.close()

    def test_a_header_in_pieces_or_in_one_segment_with_the_client_hello_is_read(self):
        srv = self.server("--workers", "1", "--rate-limit", "0", "--proxy-protocol",
                          "--log-level", "debug")
        c = self.proxied(srv, proxy_v4("198.51.100.3", 777), trickle=0.01)
        _, _, r = c.register(unique("rae"))
        self.assertEqual((r.status, r.json["seen_from"]), (201, "198.51.100.3:777"), r)
        answer = one_segment_request(srv.port, proxy_v4("198.51.100.4", 778),
                                     b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                     b"Connection: close\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 "), answer)
        self.assertIn(b'"status":"ok"', answer)
        self.assertIn("GET /healthz from 198.51.100.4:778: 200", srv.log())

    def test_keep_alive_and_oversized_bodies_go_through_as_without_the_header(self):
        srv = self.server("--workers", "1", "--rate-limit", "0", "--proxy-protocol")
        c = self.proxied(srv, proxy_v4("203.0.113.8", 8))
        conn = c.connect()
        for _ in range(5):
            self.assertEqual(c.call("GET", "/healthz", conn=conn).status, 200)
        conn.close()
        r = c.call("POST", "/v1/accounts", b"{" + b" " * (65 * 1024) + b"}")
        self.assertEqual(r.status, 413, r)
        self.assertEqual(c.call("GET", "/metrics").status, 200)

    def test_rate_limits_count_each_proxied_source_apart(self):
        srv = self.server("--workers", "1", "--rate-limit", "3", "--proxy-protocol")
        a = self.proxied(srv, proxy_v4("203.0.113.10", 1000))
        for _ in range(3):
            self.assertError(a.call("POST", "/v1/accounts", {}), 400, "bad_request")
        self.assertError(a.call("POST", "/v1/accounts", {}), 429, "rate_limited")
        a.header = proxy_v4("203.0.113.10", 2000)  # another port, the same source
        self.assertError(a.call("POST", "/v1/accounts", {}), 429, "rate_limited")
        b = self.proxied(srv, proxy_v4("203.0.113.11", 1000))
        self.assertError(b.call("POST", "/v1/accounts", {}), 400, "bad_request")
        balancer = self.proxied(srv, LOCAL)
        self.assertError(balancer.call("POST", "/v1/accounts", {}), 400, "bad_request")

    def test_ipv6_sources_share_a_budget_per_64_and_mapped_ipv4_is_ipv4(self):
        srv = self.server("--workers", "1", "--rate-limit", "3", "--proxy-protocol")

        def post(header):
            return self.proxied(srv, header).call("POST", "/v1/accounts", {})
        for src in ("2001:db8:1:2::1", "2001:db8:1:2::1", "2001:db8:1:2:ffff:eeee:dddd:9"):
            self.assertError(post(proxy_v6(src, 1)), 400, "bad_request")
        for src in ("2001:db8:1:2::1", "2001:db8:1:2:abcd::2"):
            self.assertError(post(proxy_v6(src, 1)), 429, "rate_limited")
        self.assertError(post(proxy_v6("2001:db8:1:3::1", 1)), 400, "bad_request")
        for _ in range(3):
            self.assertError(post(proxy_v6("::ffff:203.0.113.20", 1)), 400, "bad_request")
        self.assertError(post(proxy_v4("203.0.113.20", 1)), 429, "rate_limited")
        self.assertError(post(proxy_v4("203.0.113.21", 1)), 400, "bad_request")

    def test_without_the_flag_seen_from_is_the_socket_and_a_header_fails_tls(self):
        srv = self.server("--workers", "1", "--rate-limit", "0")
        c = Client(srv, SIGNER)
        conn = c.connect()
        port = conn.sock.getsockname()[1]
        key, body = c.account(unique("sol"))
        r = c.signed("POST", "/v1/accounts", body, key, conn=conn)
        conn.close()
        self.assertEqual((r.status, r.json["seen_from"]), (201, f"127.0.0.1:{port}"), r)
        with self.assertRaises((ssl.SSLError, OSError)):
            self.proxied(srv, proxy_v4("203.0.113.7", 4242)).connect(timeout=5)
        self.assertEqual(c.call("GET", "/healthz").status, 200)


def main():
    global SIGNER
    SIGNER = Signer()
    try:
        prog = unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2, exit=False)
    finally:
        SIGNER.close()
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
