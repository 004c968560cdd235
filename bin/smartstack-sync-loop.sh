#!/bin/sh
# Discovery on one host: smartstack-sync every INTERVAL seconds (default 2), for as long as it
# runs; one copy per host (a pid file refuses a second). Run it from the host's init, or from
# cron every minute (a copy already running makes the new one exit at once). Each run's JSON
# lines go to stdout only when something changed; errors to stderr.
#
# usage: smartstack-sync-loop.sh [smartstack-sync options...]
#   SOA_DIR (default /nail/etc/services), INTERVAL, PID_FILE (default
#   /var/run/smartstack/sync.pid), BIN_DIR (where the toolkit's binaries are; default $PATH).
#
# crontab:  * * * * *  /usr/local/share/paasta/bin/smartstack-sync-loop.sh >>/var/log/smartstack-sync.log 2>&1
set -u
interval=${INTERVAL:-2}
pid_file=${PID_FILE:-/var/run/smartstack/sync.pid}
bin=${BIN_DIR:+$BIN_DIR/}
mkdir -p "$(dirname "$pid_file")"
if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    exit 0
fi
echo $$ >"$pid_file"
trap 'rm -f "$pid_file"' EXIT
trap 'exit 0' INT TERM
while :; do
    out=$("${bin}smartstack-sync" -d "${SOA_DIR:-/nail/etc/services}" "$@")
    case $out in *'"changed":true'*) printf '%s\n' "$out" ;; esac
    sleep "$interval"
done
