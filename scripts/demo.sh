#!/usr/bin/env bash
# make demo: two people make profiles, swap identity cards, and compare safety numbers.
# SPDX-License-Identifier: GPL-3.0-or-later
set -euo pipefail
SOTTO=$(realpath "${1:-build/src/cli/sotto}")
DEMO=$(mktemp -d /tmp/sotto-demo.XXXXXX)
trap 'rm -rf "$DEMO"' EXIT
A="$DEMO/alice" B="$DEMO/bob"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
alice() { printf '\033[36malice$\033[0m sotto %s\n' "$*"; SOTTO_HOME="$A" SOTTO_PASSPHRASE="alice's long passphrase" "$SOTTO" "$@"; }
bob() { printf '\033[35mbob$\033[0m sotto %s\n' "$*"; SOTTO_HOME="$B" "$SOTTO" "$@"; }

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
step "Done: the profiles lived in $DEMO and are removed now"
