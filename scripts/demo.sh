#!/usr/bin/env bash
# make demo: two people make profiles, swap identity cards, and compare safety numbers; a third
# finds one of them through a directory server; then their nodes run and they talk, end to end
# encrypted, node to node.
# SPDX-License-Identifier: GPL-3.0-or-later
set -euo pipefail
SOTTO=$(realpath "${1:-build/src/cli/sotto}")
DIRSRV=$(realpath "${2:-$(dirname "$SOTTO")/../directory/sotto-directory}")
DEMO=$(mktemp -d /tmp/sotto-demo.XXXXXX)
DIRPID=
NODES=()
cleanup() {
    for pid in "${NODES[@]}" $DIRPID; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${NODES[@]}" $DIRPID; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$DEMO"
}
trap cleanup EXIT
A="$DEMO/alice" B="$DEMO/bob" C="$DEMO/carol"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
shown() { local a out=; for a in "$@"; do case $a in *[!A-Za-z0-9_./:@=-]*) out+=" '$a'" ;; *) out+=" $a" ;; esac; done; printf '%s' "$out"; }
alice() { printf '\033[36malice$\033[0m sotto%s\n' "$(shown "$@")"; SOTTO_HOME="$A" SOTTO_PASSPHRASE="alice's long passphrase" "$SOTTO" "$@"; }
bob() { printf '\033[35mbob$\033[0m sotto%s\n' "$(shown "$@")"; SOTTO_HOME="$B" "$SOTTO" "$@"; }
carol() { printf '\033[33mcarol$\033[0m sotto%s\n' "$(shown "$@")"; SOTTO_HOME="$C" "$SOTTO" "$@"; }

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

# starts a node in the background and waits until it serves its local API
node_up() {
    local who=$1 home=$2 port=$3
    printf '\033[1m%s$\033[0m sotto daemon --listen 127.0.0.1:%s &\n' "$who" "$port"
    SOTTO_HOME="$home" SOTTO_PASSPHRASE="alice's long passphrase" "$SOTTO" daemon \
        --listen "127.0.0.1:$port" --api-port 0 >"$DEMO/$who.node.log" 2>&1 &
    NODES+=($!)
    for _ in $(seq 100); do
        [ -f "$home/api.json" ] && return 0
        kill -0 "${NODES[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "the node of $who did not start:"; cat "$DEMO/$who.node.log"; exit 1
}

step "Their nodes run (peer links: TLS 1.3 WebSockets on which both prove their identity keys)"
node_up alice "$A" 8766
node_up bob "$B" 9766
node_up carol "$C" 10766
step "Bob writes to Alice: stored, encrypted (Signal), sent node to node, acknowledged once stored"
bob send Alice "Hello Alice, it is Bob" --wait
step "Carol writes to Alice, whom she found on the directory: a session from Alice's prekey bundle"
carol send alice "Hi Alice, Carol here: I found you on the directory" --wait
step "Alice's side: the messages, her links and her outbox"
alice history Bob
alice history Carol
alice status
step "Alice answers Bob"
alice send Bob "Hi Bob, got it" --wait
bob history Alice

step "Done: the profiles lived in $DEMO and are removed now"
