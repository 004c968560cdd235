#!/bin/sh
# Makes sure a Docker engine answers, for `make test` and `make demo`.
# If `docker info` fails and this is a Debian-like machine where we are root, installs Debian's
# docker.io (and busybox-static, from which tests and the demo build their images), starts
# dockerd in the background and waits for its socket. Otherwise says what is missing and fails.
set -eu
engine_up() { docker info >/dev/null 2>&1; }
if command -v docker >/dev/null 2>&1 && engine_up; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-docker: no Docker engine answers, and this is not a Debian-like machine where we are root:" >&2
    echo "ensure-docker: start a Docker engine (dockerd) reachable at \$DOCKER_HOST or /var/run/docker.sock" >&2
    exit 1
fi
missing=""
command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
# Images are made from /bin/busybox: it must be the static build (Debian's plain busybox
# package installs a dynamic one at the same path, useless in an image without a libc).
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' || missing="$missing busybox-static"
if [ -n "$missing" ]; then
    echo "ensure-docker: installing$missing" >&2
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
if ! engine_up; then
    echo "ensure-docker: starting dockerd (log: /var/log/dockerd.log)" >&2
    nohup dockerd >/var/log/dockerd.log 2>&1 &
    i=0
    until engine_up; do
        i=$((i + 1))
        if [ "$i" -gt 60 ]; then
            echo "ensure-docker: dockerd did not answer within 30 s; its log ends:" >&2
            tail -n 20 /var/log/dockerd.log >&2
            exit 1
        fi
        sleep 0.5
    done
fi
echo "ensure-docker: engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')" >&2
