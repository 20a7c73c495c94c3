#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# tests/support/pg_cluster.sh: a throw-away PostgreSQL cluster for tests, in a temporary
# directory, reached through a Unix socket in that directory (so that parallel runs never
# compete for a TCP port), trust authentication, no fsync.
#
#   pg_cluster.sh start [--tcp] [--owner-pid PID]
#       Prints the cluster's libpq URI (user and database "postgres") on the first line and
#       its data directory on the second. --tcp also listens on 127.0.0.1 at a free port and
#       prints a TCP URI instead. --owner-pid PID leaves a watchdog that stops the cluster
#       once PID has exited, so that a test killed on a timeout leaves nothing running.
#   pg_cluster.sh stop DATADIR
#       Stops the cluster (immediate shutdown) and removes its temporary directory.
#   pg_cluster.sh down|up|restart DATADIR
#       Stops the server (fast), starts it again with its first options, or both; data kept.
#
# initdb and pg_ctl refuse to run as root: as root they run as the `postgres` user, and the
# directory is made in /tmp and given to that user.
set -eu

die() {
    echo "pg_cluster.sh: $*" >&2
    exit 1
}

find_bin() {
    if [ -n "${PGBIN:-}" ] && [ -x "$PGBIN/initdb" ]; then
        echo "$PGBIN"
        return
    fi
    b=$(pg_config --bindir 2>/dev/null || true)
    if [ -n "$b" ] && [ -x "$b/initdb" ]; then
        echo "$b"
        return
    fi
    for b in /usr/lib/postgresql/*/bin; do
        [ -x "$b/initdb" ] && last=$b
    done
    [ -n "${last:-}" ] || die "initdb not found (install postgresql, or set PGBIN)"
    echo "$last"
}

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Prints the logs of a failed start and removes the directory.
fail_start() {
    for f in "$T"/*.log; do
        [ -f "$f" ] && sed "s|^|$(basename "$f"): |" "$f" >&2
    done
    rm -rf "$T"
    die "$1"
}

start_watchdog() {
    # its own session: a test runner that kills the test's process group leaves it alive;
    # the script is quoted on purpose: its $1 $2 $3 are the arguments after it
    # shellcheck disable=SC2016
    setsid sh -c '
        echo $$ >"$2/watchdog.pid"
        while kill -0 "$1" 2>/dev/null; do sleep 1; done
        rm -f "$2/watchdog.pid"
        exec sh "$3" stop "$2/data"
    ' watchdog "$1" "$T" "$0" </dev/null >/dev/null 2>&1 &
}

start() {
    tcp=0
    owner=
    while [ $# -gt 0 ]; do
        case $1 in
        --tcp) tcp=1 ;;
        --owner-pid)
            [ $# -ge 2 ] || die "--owner-pid needs a PID"
            owner=$2
            shift
            ;;
        *) die "unknown option $1" ;;
        esac
        shift
    done
    bin=$(find_bin)
    base=${TMPDIR:-/tmp}
    [ "$(id -u)" = 0 ] && base=/tmp
    T=$(mktemp -d "$base/sotto-pg.XXXXXX")
    : >"$T/.sotto-pg-cluster"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$T"
    cd "$T"
    as_pg "$bin/initdb" -D "$T/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        --no-sync >"$T/initdb.log" 2>&1 || fail_start "initdb failed"
    port=5432
    listen=
    if [ "$tcp" = 1 ]; then
        port=$(free_port)
        listen=127.0.0.1
    fi
    # kept for `up`, which starts the same server again
    echo "-k $T -p $port -c listen_addresses='$listen' -c fsync=off -c synchronous_commit=off \
-c full_page_writes=off" >"$T/pg_opts"
    as_pg "$bin/pg_ctl" -D "$T/data" -l "$T/server.log" -w -t 30 -o "$(cat "$T/pg_opts")" \
        start </dev/null >"$T/pg_ctl.log" 2>&1 || fail_start "the server did not start"
    [ -n "$owner" ] && start_watchdog "$owner"
    if [ "$tcp" = 1 ]; then
        echo "postgresql://postgres@127.0.0.1:$port/postgres"
    else
        echo "postgresql://postgres@/postgres?host=$T&port=$port"
    fi
    echo "$T/data"
}

stop() {
    [ $# -eq 1 ] || die "usage: pg_cluster.sh stop DATADIR"
    T=$(dirname "$1")
    # never remove a directory this script did not make
    [ -f "$T/.sotto-pg-cluster" ] || die "$1: not a cluster made by pg_cluster.sh"
    if [ -f "$T/watchdog.pid" ]; then
        kill "$(cat "$T/watchdog.pid")" 2>/dev/null || true
    fi
    bin=$(find_bin)
    cd "$T"
    as_pg "$bin/pg_ctl" -D "$1" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    rm -rf "$T"
}

# down / up / restart DATADIR: the server of a cluster this script made stops (fast: clients
# are disconnected), starts again with the same options, or both, keeping its data.
updown() {
    [ $# -eq 2 ] || die "usage: pg_cluster.sh down|up|restart DATADIR"
    T=$(dirname "$2")
    [ -f "$T/.sotto-pg-cluster" ] || die "$2: not a cluster made by pg_cluster.sh"
    bin=$(find_bin)
    cd "$T"
    case $1 in
    down | restart)
        as_pg "$bin/pg_ctl" -D "$2" -m fast -w -t 30 stop >>"$T/pg_ctl.log" 2>&1 ||
            die "the server did not stop"
        ;;
    esac
    case $1 in
    up | restart)
        as_pg "$bin/pg_ctl" -D "$2" -l "$T/server.log" -w -t 30 -o "$(cat "$T/pg_opts")" \
            start </dev/null >>"$T/pg_ctl.log" 2>&1 || die "the server did not start"
        ;;
    esac
}

case ${1:-} in
down | up | restart)
    updown "$@"
    ;;
start)
    shift
    start "$@"
    ;;
stop)
    shift
    stop "$@"
    ;;
*) die "usage: pg_cluster.sh start [--tcp] [--owner-pid PID] | stop|down|up|restart DATADIR" ;;
esac
