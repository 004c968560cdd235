#!/bin/sh
# The swarm backend's benchmarks of docs/benchmarks.md, on the three-node testbed
# (bin/swarm-testbed.sh, under target/bench/swarm, removed at the end):
#  1. setup-service --backend swarm --all when nothing is to be done, over 200 long-running
#     instances of one task each (hyperfine), and the Engine API calls of such a run for all 200
#     and for 3 named instances;
#  2. a crossover bounce of a 6-task instance with an http health check (checked every second),
#     from the deploy of a new version to the pass that finds nothing left to do, setup-service
#     repeated every 0.5 s, on the swarm and on this host's engine (--backend docker), ROUNDS
#     times each (default 3).
# usage: bin/bench-swarm.sh BIN_DIR [ROUNDS]      (BIN_DIR holds the release binaries)
set -eu
bindir=$(cd "$1" && pwd)
rounds=${2:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null 2>&1 || { echo "bench-swarm.sh: hyperfine is needed (apt-get install hyperfine)" >&2; exit 2; }
sh "$top/bin/ensure-docker.sh" >/dev/null
sh "$top/bin/ensure-registry.sh" >/dev/null
work=$top/target/bench/swarm
[ ! -d "$work/testbed" ] || sh "$top/bin/swarm-testbed.sh" down "$work/testbed"
rm -rf "$work"
mkdir -p "$work"
sh "$top/bin/swarm-testbed.sh" up "$work/testbed"
manager=$(sed -n 's/^DOCKER_HOST=//p' "$work/testbed/env")
registry=$(sed -n 's/^SWARM_REGISTRY=//p' "$work/testbed/env")
v1=1111111111111111111111111111111111111111
v2=2222222222222222222222222222222222222222
local_images="paasta-bench/services-bench_bounce:paasta-$v1 paasta-bench/services-bench_bounce:paasta-$v2"
cleanup() {
    docker ps -aq --filter label=paasta.cluster=bench-docker | xargs -r docker rm -f >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    docker rmi -f $local_images >/dev/null 2>&1 || true
    sh "$top/bin/swarm-testbed.sh" down "$work/testbed"
}
trap cleanup EXIT

# A soa tree and system config per cluster: bench-swarm (the testbed, its registry) and
# bench-docker (this host's engine, a local image name).
for cluster in bench-swarm bench-docker; do
    etc=$work/$cluster/etc_paasta
    mkdir -p "$etc" "$work/$cluster/soa/bench_sw"
    echo "{\"cluster\": \"$cluster\"}" >"$etc/cluster.json"
    echo '{"volumes": []}' >"$etc/volumes.json"
    if [ $cluster = bench-swarm ]; then reg=$registry; else reg=paasta-bench; fi
    echo "{\"docker_registry\": \"$reg\"}" >"$etc/docker_registry.json"
    echo "description: benchmark" >"$work/$cluster/soa/bench_sw/service.yaml"
done
python3 - "$work/bench-swarm/soa/bench_sw" "$v1" <<'EOF'
import json, sys
d, sha = sys.argv[1], sys.argv[2]
with open(f"{d}/marathon-bench-swarm.yaml", "w") as f:
    for i in range(200):
        f.write(f"i{i:03}:\n  cpus: 0.01\n  mem: 32\n  instances: 1\n  deploy_group: prod\n  cmd: httpd -f -p 8888 -h /srv/www\n")
json.dump({"v2": {"deployments": {"prod": {"docker_image": f"services-bench_sw:paasta-{sha}", "git_sha": sha}}, "controls": {}}},
          open(f"{d}/deployments.json", "w"))
EOF
images="$registry/services-bench_sw:paasta-$v1 $registry/services-bench_bounce:paasta-$v1 $registry/services-bench_bounce:paasta-$v2"
# shellcheck disable=SC2086
DOCKER_HOST=$manager sh "$top/fixtures/images/make-busybox-image.sh" $images >/dev/null
for i in $images; do DOCKER_HOST=$manager docker push -q "$i" >/dev/null; done
# shellcheck disable=SC2086
sh "$top/fixtures/images/make-busybox-image.sh" $local_images >/dev/null

# Runs setup-service for CLUSTER (bench-swarm: on the testbed's manager, bench-docker: on this
# host's engine) with the given arguments every 0.5 s until a pass has every instance happy with
# nothing to do; prints the seconds it took.
settle() {
    cluster=$1
    shift
    if [ "$cluster" = bench-swarm ]; then host=$manager; else host=${DOCKER_HOST:-unix:///var/run/docker.sock}; fi
    start=$(date +%s.%N)
    while :; do
        out=$(DOCKER_HOST=$host SOA_DIR=$work/$cluster/soa PAASTA_SYSTEM_CONFIG_DIR=$work/$cluster/etc_paasta \
            SETUP_SERVICE_LOCK_DIR=$work/$cluster/locks "$bindir/setup-service" "$@" 2>/dev/null) || true
        printf '%s\n' "$out" | python3 -c '
import json, sys
lines = [json.loads(l) for l in sys.stdin if l.strip()]
sys.exit(0 if lines and all(not d["bounce_in_progress"] and d["happy"] == d["desired"] and not d["actions"] for d in lines) else 1)' && break
        sleep 0.5
    done
    awk -v end="$(date +%s.%N)" -v start="$start" 'BEGIN { printf "%.1f\n", end - start }'
}

echo "== 200 instances on the swarm: first launch" >&2
t=$(settle bench-swarm --backend swarm --all)
echo "launched and settled in $t s" >&2
swarm_env="SOA_DIR=$work/bench-swarm/soa PAASTA_SYSTEM_CONFIG_DIR=$work/bench-swarm/etc_paasta SETUP_SERVICE_LOCK_DIR=$work/bench-swarm/locks DOCKER_HOST=$manager"
for what in "--all" "bench_sw.i000 bench_sw.i100 bench_sw.i199"; do
    # shellcheck disable=SC2086
    calls=$(env $swarm_env "$bindir/setup-service" --backend swarm -v $what 2>&1 >/dev/null | sed -n 's/.*: \([0-9]*\) Engine API calls.*/\1/p')
    echo "setup-service --backend swarm $what: $calls Engine API calls" >&2
done
hyperfine -N --warmup 2 --runs 10 -n "setup-service --backend swarm --all, 200 instances, nothing to do" \
    "env $swarm_env $bindir/setup-service --backend swarm --all"
# The 200 go before the bounces, so that both backends bounce on idle nodes.
DOCKER_HOST=$manager docker service ls -q --filter label=paasta.cluster=bench-swarm | xargs -r env DOCKER_HOST="$manager" docker service rm >/dev/null

# The bounced instance joins only now, so that the no-op run above is over the 200 alone.
for cluster in bench-swarm bench-docker; do
    mkdir -p "$work/$cluster/soa/bench_bounce"
    echo "description: benchmark" >"$work/$cluster/soa/bench_bounce/service.yaml"
    cat >"$work/$cluster/soa/bench_bounce/marathon-$cluster.yaml" <<EOF
main:
  cpus: 0.1
  mem: 64
  instances: 6
  deploy_group: prod
  cmd: httpd -f -p 8888 -h /srv/www
  bounce_method: crossover
  healthcheck_mode: http
  healthcheck_uri: /status
  healthcheck_interval_seconds: 1
  healthcheck_timeout_seconds: 1
  healthcheck_grace_period_seconds: 1
  healthcheck_max_consecutive_failures: 3
EOF
done
deploy() {
    echo "{\"v2\": {\"deployments\": {\"prod\": {\"docker_image\": \"services-bench_bounce:paasta-$2\", \"git_sha\": \"$2\"}}, \"controls\": {}}}" \
        >"$work/$1/soa/bench_bounce/deployments.json"
}
echo "== crossover bounce of 6 tasks: seconds from deploy to settled" >&2
# v1, then one bounce to v2 and back not counted (the nodes pull each image once), then ROUNDS
# counted bounces on each backend in turn.
for cluster in bench-swarm bench-docker; do
    for sha in $v1 $v2 $v1; do
        deploy "$cluster" "$sha"
        settle "$cluster" --backend "${cluster#bench-}" bench_bounce.main >/dev/null
    done
done
sha=$v2
for r in $(seq "$rounds"); do
    for cluster in bench-swarm bench-docker; do
        deploy "$cluster" "$sha"
        t=$(settle "$cluster" --backend "${cluster#bench-}" bench_bounce.main)
        echo "${cluster#bench-} round $r: $t s"
    done
    if [ $sha = $v2 ]; then sha=$v1; else sha=$v2; fi
done
