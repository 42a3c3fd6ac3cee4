#!/usr/bin/env bash
# Make sure Debian's Chromium and ChromeDriver are installed for the
# browser test (no browser is downloaded at run time).
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "error: Chromium is missing; install Debian's chromium and chromium-driver" >&2
    exit 1
fi
echo "==> installing chromium and chromium-driver (Debian packages)"
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver >/dev/null
