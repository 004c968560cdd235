#!/bin/sh
# smartstack-sync's benchmark of docs/benchmarks.md: one sync over 1,000 registrations and
# 10,000 tasks (a saved cluster state, the snapshot backend) when nothing changed, with the
# HAProxy it started running. Needs hyperfine and Debian's haproxy. Everything is under
# target/bench/smartstack; the HAProxy it starts is stopped at the end.
# usage: bin/bench-smartstack.sh BIN_DIR      (BIN_DIR holds the release smartstack-sync)
set -eu
bindir=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null 2>&1 || { echo "bench-smartstack.sh: hyperfine is needed (apt-get install hyperfine)" >&2; exit 2; }
sh "$top/bin/ensure-haproxy.sh"
work=$top/target/bench/smartstack
rm -rf "$work"
python3 "$top/fixtures/bench/make-smartstack.py" "$work"
export PAASTA_SYSTEM_CONFIG_DIR=$work/etc_paasta
sync="$bindir/smartstack-sync -d $work/soa --backend snapshot:$work/state.json --haproxy-config $work/haproxy/haproxy.cfg"
$sync >/dev/null
trap 'kill "$(cat "$work/haproxy/haproxy.pid")" 2>/dev/null || true' EXIT
hyperfine -N --warmup 2 --runs 20 -n "smartstack-sync, 1,000 registrations, 10,000 tasks, nothing changed" "$sync"
