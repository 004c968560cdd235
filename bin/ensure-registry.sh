#!/bin/sh
# Makes sure Debian's docker-registry is installed, for the tests that push images to a
# registry of their own on loopback (`make test` runs this). It is not started here: each test
# starts one on a free port and stops it.
set -eu
command -v docker-registry >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-registry: docker-registry is missing: install Debian's docker-registry package" >&2
    exit 1
fi
echo "ensure-registry: installing docker-registry" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends docker-registry >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends docker-registry >/dev/null; }
command -v docker-registry >/dev/null 2>&1
