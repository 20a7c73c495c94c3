#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# tests/support/gen_card_corpus.sh BUILD_DIR [OUT_DIR]: writes the seed corpus of fuzz/card.c
# (valid cards, pasted variants, truncated and damaged ones, garbage) into OUT_DIR (default
# fuzz/corpus/card). Keys come from deterministic test randomness, so reruns give the same
# files. BUILD_DIR is a configured build in which libsotto's static libraries were built.
set -eu

build=${1:?usage: gen_card_corpus.sh BUILD_DIR [OUT_DIR]}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${2:-$root/fuzz/corpus/card}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

libs="$build/src/identity/libsotto_card.a $build/src/identity/libsotto_identity.a
      $build/src/e2e/libsotto_e2e.a $build/src/util/libsotto_util.a
      $build/tests/support/libsotto_test_support.a"
san=
if nm "$build/src/util/libsotto_util.a" 2>/dev/null | grep -q __asan; then
    san=-fsanitize=address,undefined
fi

cat >"$tmp/gen.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failalloc.h"
#include "identity/card.h"
#include "identity/number.h"

static const char *dir;
static struct failalloc fa = {.rng_state = 0x5eedca4d};
static struct sotto_env env;
static struct e2e_ctx *ctx;
static uint8_t pub[E2E_KEY_LEN], priv[E2E_PRIV_LEN];

static void put(const char *name, const char *p, size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static char *card(size_t n_addrs, const char *username, size_t *len)
{
    static const char *const addrs[] = {"192.168.1.10:8766", "[2001:db8::1]:8766",
        "alice.example.org:443", "[::1]:1", "10.0.0.2:65535", "node-7.lan:8766",
        "[::ffff:192.0.2.1]:8080", "localhost:8766"};
    struct identity_card c;
    char *out;

    memset(&c, 0, sizeof(c));
    c.version = CARD_VERSION;
    memcpy(c.key, pub, sizeof(pub));
    c.number = identity_number(pub);
    snprintf(c.name, sizeof(c.name), "%s", "Zoë 🌸");
    snprintf(c.username, sizeof(c.username), "%s", username);
    c.n_addrs = n_addrs;
    for (size_t i = 0; i < n_addrs; i++)
        snprintf(c.addrs[i], sizeof(c.addrs[i]), "%s", addrs[i]);
    c.created_s = 1700000000;
    if (identity_card_export(ctx, &env, &c, priv, &out, len) != SOTTO_OK)
        exit(1);
    return out;
}

/* The card with every "\n" replaced by `eol`. */
static void put_with_eol(const char *name, const char *text, size_t len, const char *eol)
{
    char buf[8192];
    size_t o = 0;

    for (size_t i = 0; i < len && o + 8 < sizeof(buf); i++) {
        if (text[i] != '\n') {
            buf[o++] = text[i];
            continue;
        }
        memcpy(buf + o, eol, strlen(eol));
        o += strlen(eol);
    }
    put(name, buf, o);
}

int main(int argc, char **argv)
{
    size_t len;
    char *t, *p, buf[8192];

    dir = argv[argc - 1];
    failalloc_env(&env, &fa, 0);
    if (e2e_ctx_create(&ctx, &env) != SOTTO_OK ||
        e2e_identity_generate(ctx, pub, priv) != SOTTO_OK)
        return 1;
    t = card(0, "", &len);
    put("valid-0addrs-no-username.txt", t, len);
    sotto_free(&env, t);
    t = card(8, "zoe.k", &len);
    put("valid-8addrs.txt", t, len);
    memcpy(buf, t, len);
    p = strchr(buf + strlen(CARD_BEGIN) + 1, '/');
    if (p != NULL) {
        *p = (char)0x80; /* libsodium 1.0.18 alone would read this byte as '/' */
        put("damaged-high-byte-for-slash.txt", buf, len);
    }
    sotto_free(&env, t);
    t = card(2, "zoe.k", &len);
    put("valid-2addrs.txt", t, len);
    put_with_eol("valid-crlf.txt", t, len, "\r\n");
    put_with_eol("valid-one-line.txt", t, len, " ");
    put_with_eol("valid-indented-tabs.txt", t, len, "\n\t  ");
    put("truncated-half.txt", t, len / 2);
    put("truncated-no-end-line.txt", t, (size_t)(strstr(t, CARD_END) - t));
    put("truncated-end-line-cut.txt", t, len - 6);
    memcpy(buf, t, len);
    buf[len / 2] = buf[len / 2] == 'A' ? 'B' : 'A';
    put("damaged-one-char.txt", buf, len);
    memcpy(buf, t, len);
    p = strstr(buf, CARD_END) - 12; /* inside the signature */
    *p = *p == 'A' ? 'B' : 'A';
    put("damaged-signature.txt", buf, len);
    snprintf(buf, sizeof(buf), "Here is my card:\n%s", t);
    put("text-before-begin.txt", buf, strlen(buf));
    snprintf(buf, sizeof(buf), "%s%s", t, t);
    put("two-cards.txt", buf, strlen(buf));
    sotto_free(&env, t);
    put("begin-only.txt", CARD_BEGIN "\n", strlen(CARD_BEGIN) + 1);
    put("empty-body.txt", CARD_BEGIN "\n" CARD_END "\n", strlen(CARD_BEGIN CARD_END) + 2);
    put("garbage.txt", "\x00\xff-----BEGIN\r\n====\x80", 20);
    e2e_ctx_free(ctx);
    return 0;
}
C

cc -std=c17 -D_POSIX_C_SOURCE=200809L $san -I"$root/include" -I"$root/src" \
    -I"$root/tests/support" "$tmp/gen.c" $libs \
    $(pkg-config --cflags --libs libsignal-protocol-c libcrypto libsodium) -lpthread \
    -o "$tmp/gen"
mkdir -p "$out"
"$tmp/gen" "$out"
