#!/usr/bin/env bash
# The directory's figures: HTTPS lookups under wrk with 2,000 and 5,000 open connections, on
# SQLite and on PostgreSQL, beside nginx serving a static file of the same size as a lookup
# answer over the same TLS 1.3 on the same number of workers, measured in the same run.
# Server and nginx are pinned to CPU 0, wrk to CPU 1, so they do not fight for a core.
# Also: bundle fetches and registrations per second.
# usage: bench/directory.sh BUILD_DIR [SECONDS]
set -euo pipefail
BUILD=$(realpath "${1:-build-bench}")
SECS=${2:-10}
WORKERS=${BENCH_WORKERS:-1}
SOTTO="$BUILD/src/cli/sotto"
DIRSRV="$BUILD/src/directory/sotto-directory"
ROOT=$(mktemp -d /tmp/sotto-dirbench.XXXXXX)
chmod 755 "$ROOT"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
    [ -n "${PG_STOP:-}" ] && eval "$PG_STOP" >/dev/null 2>&1 || true
    rm -rf "$ROOT"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do ss -ltnH "sport = :$1" | grep -q . && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }

# wrk's summary line: "Requests/sec: N"
run_wrk() { # URL CONNS -> prints requests/s and p50/p99
    local out
    out=$(taskset -c 1 wrk -t1 -c"$2" -d"${SECS}s" --latency --timeout 10s \
        ${WRK_SCRIPT:+-s "$WRK_SCRIPT"} "$1" 2>&1)
    local rps p50 p99 errs
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    errs=$(grep -E 'Socket errors|Non-2xx' <<<"$out" | tr '\n' ' ' || true)
    echo "$rps $p50 $p99 ${errs:-}"
}

start_directory() { # DB -> sets DPORT, DPIN
    DPORT=$(free_port)
    setsid taskset -c 0 "$DIRSRV" --listen "127.0.0.1:$DPORT" --db "$1" --workers "$WORKERS" \
        --rate-limit 0 --state-dir "$ROOT/state" --log-level error >"$ROOT/dir.out" 2>&1 &
    PIDS+=($!)
    wait_port "$DPORT"
    DPIN=$(sed -n 's/.*pin sha256:\([0-9a-f]*\).*/\1/p' "$ROOT/dir.out" | head -1)
}

stop_directory() { kill -TERM -- "-${PIDS[-1]}" 2>/dev/null || true; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'; }

register_one() { # -> sets LOOKUP_URL and ANSWER_BYTES
    local home="$ROOT/alice-$1"
    SOTTO_HOME="$home" "$SOTTO" init --name alice --no-passphrase >/dev/null
    SOTTO_HOME="$home" "$SOTTO" register benchalice --directory "https://127.0.0.1:$DPORT" \
        --fingerprint "$DPIN" --address 192.0.2.1:8766 >/dev/null
    LOOKUP_URL="https://127.0.0.1:$DPORT/v1/accounts/benchalice"
    ANSWER_BYTES=$(/usr/bin/python3 - "$DPORT" <<'PY'
import http.client, ssl, sys
c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=ssl._create_unverified_context())
c.request("GET", "/v1/accounts/benchalice"); print(len(c.getresponse().read()))
PY
)
}

start_nginx() { # BYTES -> sets NPORT
    NPORT=$(free_port)
    mkdir -p "$ROOT/nginx/www"
    head -c "$1" /dev/zero | tr '\0' 'x' >"$ROOT/nginx/www/lookup.json"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench \
        -keyout "$ROOT/nginx/key.pem" -out "$ROOT/nginx/cert.pem" 2>/dev/null
    cat >"$ROOT/nginx/nginx.conf" <<CONF
worker_processes $WORKERS;
worker_rlimit_nofile 65536;
pid $ROOT/nginx/nginx.pid;
error_log $ROOT/nginx/error.log error;
daemon off;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NPORT ssl reuseport;
        ssl_protocols TLSv1.3;
        ssl_certificate $ROOT/nginx/cert.pem;
        ssl_certificate_key $ROOT/nginx/key.pem;
        root $ROOT/nginx/www;
        location = /v1/accounts/benchalice { default_type application/json; try_files /lookup.json =404; }
    }
}
CONF
    setsid taskset -c 0 nginx -c "$ROOT/nginx/nginx.conf" -p "$ROOT/nginx" >/dev/null 2>&1 &
    PIDS+=($!)
    wait_port "$NPORT"
}

echo "== directory lookups (wrk -t1, ${SECS}s each, $WORKERS worker(s) on CPU 0, wrk on CPU 1)"
declare -A RESULT BUNDLE
for backend in sqlite postgresql; do
    if [ "$backend" = sqlite ]; then
        DB="sqlite:$ROOT/dir.sqlite"
    else
        mapfile -t PG < <(sh tests/support/pg_cluster.sh start --owner-pid $$)
        DB="${PG[0]}"
        PG_STOP="sh tests/support/pg_cluster.sh stop '${PG[1]}'"
    fi
    start_directory "$DB"
    register_one "$backend"
    for c in 2000 5000; do
        RESULT[$backend-$c]=$(run_wrk "$LOOKUP_URL" "$c")
    done
    # bundle fetches: POST, each consuming a one-time prekey while any is left (100 are
    # uploaded at registration, so most of these answer a bundle without one)
    NUMBER=$(SOTTO_HOME="$ROOT/alice-$backend" "$SOTTO" whoami --json |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["number"])')
    printf 'wrk.method = "POST"\n' >"$ROOT/post.lua"
    BUNDLE[$backend]=$(WRK_SCRIPT="$ROOT/post.lua" run_wrk \
        "https://127.0.0.1:$DPORT/v1/accounts/$NUMBER/bundle" 100)
    stop_directory
done
start_nginx "$ANSWER_BYTES"
for c in 2000 5000; do
    RESULT[nginx-$c]=$(run_wrk "https://127.0.0.1:$NPORT/v1/accounts/benchalice" "$c")
done
printf '%-12s %6s %12s %10s %10s %8s\n' server conns "requests/s" p50 p99 "x nginx"
for c in 2000 5000; do
    read -r nrps np50 np99 _ <<<"${RESULT[nginx-$c]}"
    for s in sqlite postgresql nginx; do
        read -r rps p50 p99 errs <<<"${RESULT[$s-$c]}"
        printf '%-12s %6s %12s %10s %10s %8.2f %s\n' "$s" "$c" "$rps" "$p50" "$p99" \
            "$(/usr/bin/python3 -c "print(float('$rps' or 0)/float('$nrps' or 1))")" "$errs"
    done
done
echo "(lookup answer: $ANSWER_BYTES bytes; goal: lookups >= 0.7 x nginx)"
for s in sqlite postgresql; do
    read -r rps p50 p99 errs <<<"${BUNDLE[$s]}"
    echo "bundle fetches, $s, 100 connections: $rps /s (p50 $p50, p99 $p99) $errs"
done
/usr/bin/python3 bench/dir_register.py "$DIRSRV" "$BUILD/tests/support/dir-sign" \
    tests/support/pg_cluster.sh "${BENCH_REGISTRATIONS:-300}"
