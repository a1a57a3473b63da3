#!/usr/bin/env bash
# Makes sure the Debian packages the test suite needs are installed (`make test`
# runs this first). An already set-up machine pays a few `command -v` calls.
# As root, missing packages are installed with apt-get; otherwise this stops
# with the one command to run.
#   chromium      browser tests (Playwright drives the system Chromium)
#   wrk           soak tests (load generator)
#   redis-server  broadcast tests (a real Redis), Flask-Caching's suite
#   memcached     Flask-Caching's suite (scripts/extension-suites.sh)
#   postgresql    database tests (the server binaries, /usr/lib/postgresql/*/bin)
#   curl          the README's curl session, run as written
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v memcached >/dev/null 2>&1 || need+=(memcached)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)
command -v curl >/dev/null 2>&1 || need+=(curl)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi

if [ "${EUID:-$(id -u)}" -ne 0 ]; then
    {
        echo "make test needs these Debian packages, which are missing: ${need[*]}"
        echo "Install them with this one command, then run make test again:"
        echo
        echo "    sudo sh -c 'apt-get update && apt-get install -y ${need[*]}'"
        echo
    } >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "make test needs these Debian packages, and this machine has no apt-get:" \
        "${need[*]}" >&2
    exit 1
fi

echo "Installing the system packages the tests need: ${need[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
