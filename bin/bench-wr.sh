#!/bin/sh
# The wr-cloud benchmarks of docs/benchmarks.md. Needs hyperfine. Everything it makes is under
# target/bench/wr; the manager it starts is stopped at the end.
# usage: bin/bench-wr.sh BIN_DIR      (BIN_DIR holds the release wr-cloud, e.g. target/release)
set -eu
bindir=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null 2>&1 || { echo "bench-wr.sh: hyperfine is needed (apt-get install hyperfine)" >&2; exit 2; }
wr=$bindir/wr-cloud
work=$top/target/bench/wr
rm -rf "$work"; mkdir -p "$work/home"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export HOME=$work/home WR_DEPLOYMENT=production WR_MANAGERPORT=$(port) WR_MANAGERWEB=$(port)
trap '"$wr" manager stop >/dev/null 2>&1 || true' EXIT

# The scheduler core alone: 1,000,000 jobs, 1,000 simulated servers.
(cd "$top" && cargo run --quiet --release -p wr --example sched-bench)

"$wr" manager start --max_cores 2 >/dev/null
# 100,000 commands that cannot fit (1000 GB each) stay ready: add's own cost, not the runs'.
seq 1 100000 | sed 's/^/echo /' >"$work/cmds.txt"
hyperfine --runs 10 -n "wr-cloud add, 100,000 commands" \
    "sh -c '$wr add -f $work/cmds.txt -m 1000G -i big -c $work/run-\$\$ >/dev/null'"
# The queue now holds 1,000,000 jobs (10 runs of 100,000, plus hyperfine's warm-up).
hyperfine -N --warmup 3 --runs 20 -n "wr-cloud status --counts, 1,000,000 jobs" "$wr status --counts"
"$wr" remove -i big >/dev/null

# 1,000 trivial commands on 2 cores: the manager's runners against xargs -P 2.
cat >"$work/thousand.sh" <<S
set -eu
seq 1 1000 | sed 's/^/true /' | $wr add -i "t\$\$" -c "$work/t\$\$" --cpus 1 -m 10M >/dev/null
until $wr status -i "t\$\$" --counts | grep -q '"complete":1000'; do sleep 0.05; done
S
hyperfine --runs 5 -n "wr-cloud: 1,000 trivial commands, 2 cores" "sh $work/thousand.sh" \
    -n "xargs -P 2: the same" "sh -c 'seq 1 1000 | xargs -P 2 -I{} bash -c \"umask 7; true {}\"'"
