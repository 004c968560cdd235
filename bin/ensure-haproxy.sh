#!/bin/sh
# Makes sure Debian's haproxy is installed, for smartstack-sync's tests (`make test` runs this).
# It is not started here: smartstack-sync starts its own master (haproxy -W -D) beside the
# configuration it writes, and each test stops the one it started.
set -eu
command -v haproxy >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-haproxy: haproxy is missing: install Debian's haproxy package" >&2
    exit 1
fi
echo "ensure-haproxy: installing haproxy" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends haproxy >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends haproxy >/dev/null; }
command -v haproxy >/dev/null 2>&1
