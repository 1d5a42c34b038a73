#!/bin/sh
# Install Debian's chromium for the review page's browser test (tests/test_review_browser.py,
# driven by Playwright with executable_path=/usr/bin/chromium: Playwright never downloads a
# browser).  Idempotent; needs root (or sudo) and the Debian archive.
set -eu
if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium
test -x /usr/bin/chromium
