#!/usr/bin/env bash
# Find Chromium and ChromeDriver for the browser test (tests/e2e/), and
# install Debian's packages when they are missing and this is root on Debian
# (no browser is downloaded at run time).
#
#   CHROMIUM, CHROMEDRIVER   the programs (default: chromium and chromedriver
#                            on PATH, else in /usr/bin)
#
# Exit 0: both are there. Still missing: in CI (CI=true), "error: ..." on
# stderr and exit 1; elsewhere, one line on stdout saying how to install
# them and exit 3, so that make test leaves the browser test out and says so.
set -euo pipefail

find_program() {
    command -v "$1" 2>/dev/null || echo "/usr/bin/$1"
}
chromium="${CHROMIUM:-$(find_program chromium)}"
chromedriver="${CHROMEDRIVER:-$(find_program chromedriver)}"
present() {
    [ -x "$chromium" ] && [ -x "$chromedriver" ]
}

if present; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing chromium and chromium-driver (Debian packages)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver >/dev/null
    present && exit 0
fi
install="install it with: sudo apt-get install chromium chromium-driver (Debian, Ubuntu; elsewhere your package manager's Chromium and ChromeDriver)"
if [ "${CI:-}" = true ]; then
    echo "error: Chromium or ChromeDriver is missing ($chromium, $chromedriver); $install" >&2
    exit 1
fi
echo "not run: the browser test (tests/e2e/): Chromium is missing; $install"
exit 3
