# Sourced by scripts/test: makes sure the Debian mail servers the IMAP tests run against are
# installed (Dovecot IMAP + LMTP + Sieve, Postfix). It never starts or enables a system service:
# the test fixtures (tests/mailserver.py) start private instances on loopback ports.
# shellcheck shell=bash

MAIL_PACKAGES=(dovecot-imapd dovecot-lmtpd dovecot-sieve postfix)

mail_servers_missing() {
    local pkg
    for pkg in "${MAIL_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            echo "$pkg"
        fi
    done
}

ensure_mail_servers() {
    command -v dpkg-query >/dev/null 2>&1 || return 0
    local missing
    missing="$(mail_servers_missing)"
    [ -n "$missing" ] || return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        # Not ours to install: the IMAP tests skip and say which binary is missing.
        return 0
    fi
    echo "Installing the mail servers for the IMAP tests from the Debian packages..." >&2
    # A subshell, so the trap that removes our temporary policy-rc.d cannot leak to the caller.
    (
        set -e
        created_policy=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            # Debian's answer to "install, but start no service": invoke-rc.d asks this script,
            # and 101 means "action not allowed". Only ours is removed afterwards.
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            created_policy=yes
        fi
        trap '[ -z "$created_policy" ] || rm -f /usr/sbin/policy-rc.d' EXIT
        # Postfix asks what kind of mail system this is; "No configuration" leaves main.cf
        # alone, since the fixtures write their own in a private directory.
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        echo "postfix postfix/mailname string localhost" | debconf-set-selections
        export DEBIAN_FRONTEND=noninteractive
        # shellcheck disable=SC2086
        if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
            apt-get update -qq >/dev/null
            # shellcheck disable=SC2086
            apt-get install -y -qq --no-install-recommends $missing >/dev/null
        fi
    ) || echo "Could not install the mail servers ($missing): the IMAP tests will be skipped." >&2
    return 0
}
