#!/bin/sh
# The Marathon and Chronos backends' benchmarks of docs/benchmarks.md, against the project's
# test Marathon and test Chronos (the mesos-testbed binary, on loopback, stopped at the end):
#  1. setup-service --backend marathon --all when nothing is to be done, over 200 long-running
#     instances, and the API calls of such a pass;
#  2. the same on Chronos over 200 scheduled jobs, and its API calls;
#  3. setup-service --backend chronos --all --dry-run --show-definitions after a change to every
#     job: the 200 bodies a pass would send;
#  4. the real pass that re-sends those 200 jobs, timed once per change (4 changes).
# The servers answer from memory, so the figures are the tools' own cost plus loopback HTTP.
# usage: bin/bench-mesos.sh BIN_DIR [RUNS]      (BIN_DIR holds the release binaries)
set -eu
bindir=$(cd "$1" && pwd)
runs=${2:-10}
top=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null 2>&1 || { echo "bench-mesos.sh: hyperfine is needed (apt-get install hyperfine)" >&2; exit 2; }
work=$top/target/bench/mesos
rm -rf "$work"
mkdir -p "$work/etc_paasta" "$work/soa/bench_web" "$work/soa/bench_etl" "$work/locks"
"$bindir/mesos-testbed" > "$work/urls" &
testbed=$!
trap 'kill $testbed 2>/dev/null || true' EXIT
while [ "$(wc -l < "$work/urls")" -lt 2 ]; do sleep 0.1; done
marathon=$(sed -n 's/^MARATHON_URL=//p' "$work/urls")
chronos=$(sed -n 's/^CHRONOS_URL=//p' "$work/urls")

echo '{"cluster": "bench-mesos"}' > "$work/etc_paasta/cluster.json"
echo '{"docker_registry": "registry.example:443"}' > "$work/etc_paasta/docker_registry.json"
sha=1111111111111111111111111111111111111111
for s in bench_web bench_etl; do
    echo "git_url: /nonexistent/$s.git" > "$work/soa/$s/service.yaml"
    printf '{"v1": {}, "v2": {"deployments": {"prod": {"docker_image": "services-%s:paasta-%s", "git_sha": "%s"}}, "controls": {}}}\n' "$s" "$sha" "$sha" > "$work/soa/$s/deployments.json"
done
jobs() {
    i=0
    while [ $i -lt 200 ]; do
        printf 'i%03d:\n  cmd: "run --day {shortdate-1}"\n  schedule: R/2026-01-01T03:00:00Z/P1D\n  cpus: %s\n  deploy_group: prod\n' $i "$1"
        i=$((i + 1))
    done > "$work/soa/bench_etl/chronos-bench-mesos.yaml"
}
i=0
while [ $i -lt 200 ]; do
    printf 'i%03d:\n  instances: 1\n  cmd: serve\n  deploy_group: prod\n' $i
    i=$((i + 1))
done > "$work/soa/bench_web/marathon-bench-mesos.yaml"
jobs 0.5

export PAASTA_SYSTEM_CONFIG_DIR="$work/etc_paasta" SETUP_SERVICE_LOCK_DIR="$work/locks"
ss() { "$bindir/setup-service" -d "$work/soa" "$@"; }
now=2026-11-20T12:00:00Z
ss --backend "marathon:$marathon" --all > /dev/null
ss --backend "chronos:$chronos" --all --now $now > /dev/null
sleep 1
ss --backend "marathon:$marathon" --all > /dev/null

echo "== 1. marathon, 200 instances, nothing to do: API calls"
ss --backend "marathon:$marathon" --all --verbose 2>&1 >/dev/null | tail -1
echo "== 2. chronos, 200 jobs, nothing to do: API calls"
ss --backend "chronos:$chronos" --all --now $now --verbose 2>&1 >/dev/null | tail -1
hyperfine -N --warmup 2 --runs "$runs" \
    "$bindir/setup-service -d $work/soa --backend marathon:$marathon --all" \
    "$bindir/setup-service -d $work/soa --backend chronos:$chronos --all --now $now"

echo "== 3. chronos --dry-run --show-definitions after a change to all 200 jobs"
jobs 0.75
echo "requests: $(ss --backend "chronos:$chronos" --all --now $now --dry-run --show-definitions | wc -l)"
hyperfine -N --warmup 2 --runs "$runs" \
    "$bindir/setup-service -d $work/soa --backend chronos:$chronos --all --now $now --dry-run --show-definitions"

echo "== 4. chronos: the 200 changed jobs re-sent, single runs (cpus alternated between runs)"
for v in 0.75 0.5 0.75 0.5; do
    sed -i "s/cpus: [0-9.]*/cpus: $v/" "$work/soa/bench_etl/chronos-bench-mesos.yaml"
    /usr/bin/time -f "%e s" "$bindir/setup-service" -d "$work/soa" --backend "chronos:$chronos" --all --now $now --verbose 2>&1 >/dev/null | tail -2 | tr '\n' ' '
    echo
done
