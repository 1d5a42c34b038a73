#!/bin/sh
# Install Virtuoso 7 (server + isql) for tests/test_sync_servers.py; idempotent.
# Needs root (or sudo) and the Debian/Ubuntu archive; does nothing when already installed.
set -eu
if command -v virtuoso-t >/dev/null 2>&1 && command -v isql-vt >/dev/null 2>&1; then
    echo "virtuoso already installed: $(command -v virtuoso-t)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends virtuoso-opensource-7-bin
# The package starts a system service on some releases; the tests run their own server.
if command -v service >/dev/null 2>&1; then
    $SUDO service virtuoso-opensource-7 stop >/dev/null 2>&1 || true
fi
command -v virtuoso-t && command -v isql-vt
