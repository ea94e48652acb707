# Sourced by scripts/test: makes sure Debian's Chromium is installed for the dashboard's
# end-to-end tests (tests/test_dashboard_e2e.py drives /usr/bin/chromium through playwright;
# no browser is downloaded from elsewhere). It installs nothing unless run as root with apt-get.
# shellcheck shell=bash

BROWSER_PACKAGES=(chromium)

browser_missing() {
    [ -x /usr/bin/chromium ] || echo chromium
}

ensure_browser() {
    [ -n "$(browser_missing)" ] || return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        # Not ours to install: the browser tests skip and say why.
        return 0
    fi
    echo "Installing Chromium for the dashboard's browser tests from the Debian packages..." >&2
    (
        set -e
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -qq "${BROWSER_PACKAGES[@]}" >/dev/null 2>&1; then
            apt-get update -qq >/dev/null
            apt-get install -y -qq "${BROWSER_PACKAGES[@]}" >/dev/null
        fi
    ) || echo "Could not install Chromium: the browser tests will be skipped." >&2
    return 0
}
