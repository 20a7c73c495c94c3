#!/usr/bin/python3
"""Writes the seed corpus of fuzz/dir_request.c: real signed directory requests (keys and
signatures from tests/support/dir-sign) and broken variants of them.

usage: gen_dir_request_corpus.py DIR_SIGN OUT_DIR"""
import base64
import hashlib
import json
import os
import subprocess
import sys

sign_bin, out_dir = sys.argv[1], sys.argv[2]
proc = subprocess.Popen([sign_bin], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
HOST = "dir.example:8443"
TS = "1767225600000"


def ask(**req):
    proc.stdin.write((json.dumps(req) + "\n").encode())
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def request(method, target, body, key=None, number=None, headers=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None \
        else b""
    head = [f"{method} {target}", f"Host: {HOST}"]
    if key:
        msg = "\n".join([HOST, method, target, hashlib.sha256(raw).hexdigest(), TS]).encode()
        sig = ask(op="sign", priv=key["priv"], msg=base64.b64encode(msg).decode())["sig"]
        head += [f"Sotto-Number: {number or key['number']}", f"Sotto-Timestamp: {TS}",
                 f"Sotto-Signature: {sig}"]
    head += headers or []
    return ("\n".join(head) + "\n\n").encode() + raw


def write(name, data):
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(data)


key = ask(op="keygen")
spk = ask(op="spk", pub=key["pub"], priv=key["priv"], id=1)
prekeys = ask(op="prekeys", start=1, count=3)["prekeys"]
body = {"username": "alice", "identity_key": key["pub"], "registration_id": 77,
        "signed_prekey": spk, "prekeys": prekeys, "addresses": ["192.0.2.1:8766", "[::1]:9"]}
num = key["number"]
write("register-valid.txt", request("POST", "/v1/accounts", body, key))
write("register-200-prekeys.txt", request("POST", "/v1/accounts", dict(
    body, prekeys=ask(op="prekeys", start=1, count=200)["prekeys"]), key))
write("register-201-prekeys.txt", request("POST", "/v1/accounts", dict(
    body, prekeys=ask(op="prekeys", start=1, count=201)["prekeys"]), key))
write("register-minimal.txt", request("POST", "/v1/accounts", {
    k: v for k, v in body.items() if k not in ("prekeys", "addresses")}, key))
write("register-unknown-member.txt", request("POST", "/v1/accounts", dict(body, number=num), key))
write("register-missing-username.txt", request("POST", "/v1/accounts", {
    k: v for k, v in body.items() if k != "username"}, key))
write("register-wrong-types.txt", request("POST", "/v1/accounts", dict(
    body, registration_id="77", prekeys={}), key))
write("register-real-number.txt", request("POST", "/v1/accounts", dict(body, registration_id=1.0)))
write("register-non-ascii-username.txt", request("POST", "/v1/accounts", dict(
    body, username="\u0430lice"), key))
write("register-sql-username.txt", request("POST", "/v1/accounts", dict(
    body, username="a'; DROP TABLE accounts;--"), key))
write("register-lookalike-username.txt", request("POST", "/v1/accounts", dict(
    body, username="A1ice"), key))
small = base64.b64encode(b"\x05" + bytes(32)).decode()
write("register-small-order-key.txt", request("POST", "/v1/accounts", dict(
    body, identity_key=small)))
high = key["pub"][:10] + "\u00ef" + key["pub"][12:]
write("register-high-byte-for-slash.txt", request("POST", "/v1/accounts", dict(
    body, identity_key=high)))
write("register-forged-spk.txt", request("POST", "/v1/accounts", dict(
    body, signed_prekey=dict(spk, key=prekeys[0]["key"])), key))
write("register-duplicate-prekey-id.txt", request("POST", "/v1/accounts", dict(
    body, prekeys=[prekeys[0], prekeys[0]]), key))
write("register-bad-address.txt", request("POST", "/v1/accounts", dict(
    body, addresses=["1.2.3.4:0", "x';--:80"]), key))
raw = json.dumps(body).encode()
write("register-truncated.txt", request("POST", "/v1/accounts", raw[:len(raw) // 2], key))
write("register-duplicate-member.txt", request("POST", "/v1/accounts",
                                               b'{"username":"a","username":"b"}', key))
write("register-huge-integer.txt", request("POST", "/v1/accounts",
                                           b'{"registration_id":99999999999999999999999}'))
write("register-deep-nesting.txt", request("POST", "/v1/accounts", b"[" * 3000 + b"]" * 3000))
write("register-number-mismatch.txt", request("POST", "/v1/accounts", body, key,
                                              number="123456789012345"))
addr_path = f"/v1/accounts/{num}/addresses"
write("addresses-valid.txt", request("PUT", addr_path, {"addresses": ["node.example:1"]}, key))
write("addresses-too-many.txt", request("PUT", addr_path, {"addresses": ["1.2.3.4:5"] * 9}, key))
write("addresses-not-strings.txt", request("PUT", addr_path, {"addresses": [80, None]}, key))
pk_path = f"/v1/accounts/{num}/prekeys"
write("prekeys-with-signed.txt", request("PUT", pk_path, {
    "signed_prekey": ask(op="spk", pub=key["pub"], priv=key["priv"], id=2),
    "prekeys": ask(op="prekeys", start=10, count=2)["prekeys"]}, key))
write("prekeys-missing.txt", request("PUT", pk_path, {"signed_prekey": spk}, key))
write("delete.txt", request("DELETE", f"/v1/accounts/{num}", None, key))
write("delete-by-username.txt", request("DELETE", "/v1/accounts/alice", None, key))
write("lookup-username.txt", request("GET", "/v1/accounts/Alice", None))
write("lookup-number.txt", request("GET", f"/v1/accounts/{num}?x=1", None))
write("lookup-percent.txt", request("GET", "/v1/accounts/%61lice", None))
write("bundle.txt", request("POST", f"/v1/accounts/{num}/bundle", None))
write("bundle-wrong-method.txt", request("GET", f"/v1/accounts/{num}/bundle", None))
write("paths-unknown.txt", request("GET", "/v1/accounts//x/", None))
write("healthz.txt", request("GET", "/healthz", None))
write("auth-bad-headers.txt", request("PUT", addr_path, {"addresses": []}, headers=[
    "Sotto-Number: 012345678901234", "Sotto-Timestamp: 01", "Sotto-Signature: ====="]))
write("auth-newline-free-host.txt", request("PUT", addr_path, {"addresses": []}, key,
                                            headers=["Host: other.example"]))
write("empty.txt", b"")
write("garbage.txt", bytes(range(256)))
proc.stdin.close()
proc.wait()
