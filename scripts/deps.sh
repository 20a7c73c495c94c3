#!/usr/bin/env bash
# Installs every Debian 12 package Sotto needs to build, test, fuzz and benchmark.
# Idempotent: checks what is installed first and runs apt-get only for what is missing.
# SPDX-License-Identifier: GPL-3.0-or-later
set -euo pipefail

pkgs=(
    build-essential pkg-config meson ninja-build clang libclang-rt-14-dev
    libsignal-protocol-c-dev libssl-dev openssl libsodium-dev libsqlite3-dev sqlite3
    libjansson-dev libqrencode-dev libedit-dev libwebsockets-dev libevent-dev libpq-dev
    libcriterion-dev clang-format tmux python3 zbar-tools
    postgresql wrk nginx-light tshark
)

missing=()
for p in "${pkgs[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#pkgs[@]} packages present"
    exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: run as root or install sudo" >&2; exit 1; }
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
