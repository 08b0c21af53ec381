#!/bin/sh
# Installs the system packages the tests (and, with --demo, the demo) use, when they are
# missing and we can: as root with apt-get. Otherwise says what to install.
set -eu

need=""
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

if [ "${1:-}" = "--demo" ]; then
    # The demo falls back to a built-in target when there is no sshd: only npm is required
    # (the console's replay player comes from the npm registry).
    have sshd || need="$need openssh-server"
    have npm || need="$need npm"
    optional=1
else
    optional=0
    have sshd || need="$need openssh-server"
    have ssh || need="$need openssh-client"
    have rsync || need="$need rsync"
    have tmux || need="$need tmux"
    { have initdb || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || need="$need postgresql"
    have chromium || need="$need chromium"
    have nginx || need="$need nginx"
    have systemd-analyze || need="$need systemd"
    # The staff directory sign-in is tested against a real OpenLDAP server and its tools.
    have slapd || need="$need slapd"
    have ldapmodify || need="$need ldap-utils"
    have npm || need="$need npm"
fi

[ -z "$need" ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system packages:$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need >/dev/null
elif [ "$optional" = "1" ]; then
    echo "note: OpenSSH's sshd is not installed; the demo uses its built-in target instead"
else
    echo "missing system packages:$need -- install them (e.g. sudo apt-get install$need) and re-run" >&2
    exit 1
fi
