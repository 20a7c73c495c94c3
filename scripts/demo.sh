#!/usr/bin/env bash
# make demo: two people make profiles, swap identity cards, and compare safety numbers; a third
# finds one of them through a directory server.
# SPDX-License-Identifier: GPL-3.0-or-later
set -euo pipefail
SOTTO=$(realpath "${1:-build/src/cli/sotto}")
DIRSRV=$(realpath "${2:-$(dirname "$SOTTO")/../directory/sotto-directory}")
DEMO=$(mktemp -d /tmp/sotto-demo.XXXXXX)
DIRPID=
cleanup() {
    [ -z "$DIRPID" ] || kill -TERM "$DIRPID" 2>/dev/null || true
    [ -z "$DIRPID" ] || wait "$DIRPID" 2>/dev/null || true
    rm -rf "$DEMO"
}
trap cleanup EXIT
A="$DEMO/alice" B="$DEMO/bob" C="$DEMO/carol"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
alice() { printf '\033[36malice$\033[0m sotto %s\n' "$*"; SOTTO_HOME="$A" SOTTO_PASSPHRASE="alice's long passphrase" "$SOTTO" "$@"; }
bob() { printf '\033[35mbob$\033[0m sotto %s\n' "$*"; SOTTO_HOME="$B" "$SOTTO" "$@"; }
carol() { printf '\033[33mcarol$\033[0m sotto %s\n' "$*"; SOTTO_HOME="$C" "$SOTTO" "$@"; }

step "Alice makes a profile (passphrase from SOTTO_PASSPHRASE; Argon2id takes a moment)"
alice init --name Alice --address 127.0.0.1:8766
step "Bob makes one without a passphrase"
bob init --name Bob --no-passphrase --address 127.0.0.1:9766

step "They swap identity cards (any channel will do: the cards are signed)"
alice card export --out "$DEMO/alice.card"
cat "$DEMO/alice.card"
bob card export --out "$DEMO/bob.card"
bob card import "$DEMO/alice.card"
alice card import "$DEMO/bob.card"
alice contacts

step "Both see the same safety number"
alice safety-number Bob
bob safety-number Alice --qr

step "Alice scans Bob's code, and the match marks Bob verified"
CODE=$(SOTTO_HOME="$B" "$SOTTO" safety-number Alice --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["scannable"])')
alice verify Bob --scanned "$CODE"
alice contacts

step "A tampered card is refused"
sed '2s/./X/5' "$DEMO/bob.card" > "$DEMO/forged.card"
if alice card import "$DEMO/forged.card"; then echo "BUG: forged card accepted"; exit 1; fi
echo "(refused, exit code $(SOTTO_HOME="$A" "$SOTTO" card import "$DEMO/forged.card" >/dev/null 2>&1; echo $?))"
step "A directory server starts (SQLite, a self-signed certificate; it prints its pin)"
mkfifo "$DEMO/dir.out"
"$DIRSRV" --listen 127.0.0.1:0 --db "sqlite:$DEMO/directory.sqlite" --workers 1 \
    >"$DEMO/dir.out" 2>"$DEMO/directory.log" &
DIRPID=$!
exec 3<"$DEMO/dir.out"
URL= PIN=
while [ -z "$URL" ] || [ -z "$PIN" ]; do
    IFS= read -r -t 30 line <&3 || { echo "the directory did not start:"; cat "$DEMO/directory.log"; exit 1; }
    echo "  $line"
    case $line in
    "listening on "*) URL="https://${line#listening on }" ;;
    "pin sha256:"*) PIN=${line#pin sha256:} ;;
    esac
done
exec 3<&-

step "Alice registers a username there, pinning the certificate she was given"
alice register alice --directory "$URL" --fingerprint "$PIN"
step "Carol, who has no card of anyone's, finds Alice by username and gets the same number"
carol init --name Carol --no-passphrase --address 127.0.0.1:10766
carol lookup alice --directory "$URL" --fingerprint "$PIN"
carol contacts
step "Nobody can take a look-alike of Alice's username"
if carol register al1ce --directory "$URL" --fingerprint "$PIN"; then echo "BUG: look-alike registered"; exit 1; fi

step "Done: the profiles lived in $DEMO and are removed now"
