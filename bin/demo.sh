#!/bin/sh
# `make demo`: the main job on the fixtures, step by step, in a scratch directory.
# usage: bin/demo.sh BIN_DIR      (BIN_DIR holds the built binaries, e.g. target/release)
set -eu
bindir=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
work=$top/target/demo
rm -rf "$work"
sh "$top/fixtures/setup.sh" "$work" >/dev/null
SOA_DIR=$work/soa
PAASTA_SYSTEM_CONFIG_DIR=$work/etc_paasta
export SOA_DIR PAASTA_SYSTEM_CONFIG_DIR
step() { printf '\n== %s\n' "$*"; }

step "soa-validate: check the fixture soa-configs ($SOA_DIR)"
"$bindir/soa-validate"

step "generate-deployments --all: turn each service's git tags into deployments.json"
"$bindir/generate-deployments" --all -v

step "What example_service now runs (deployments.json v2)"
python3 -m json.tool "$SOA_DIR/example_service/deployments.json" | sed -n '/"v2"/,$p'

step "Mark a new commit for deployment to prod (a new deploy tag), then regenerate"
repo=$work/repos/example_service.git
new_sha=$(git --git-dir="$repo" rev-parse refs/heads/master)
git --git-dir="$repo" update-ref refs/tags/paasta-prod-20260103T090000-deploy "$new_sha"
"$bindir/generate-deployments" -s example_service -v

step "Run again: nothing changed, nothing written"
"$bindir/generate-deployments" --all -v

step "local-run: the adhoc instance 'batch' once, in the container a deployment would give it"
# No registry is reachable here: the demo's image is made from busybox-static and tagged as the
# image deployments.json names, under a registry name of the demo's own.
echo '{"docker_registry": "paasta-demo"}' > "$PAASTA_SYSTEM_CONFIG_DIR/docker_registry.json"
echo '{"volumes": []}' > "$PAASTA_SYSTEM_CONFIG_DIR/volumes.json"
# No Sensu client listens here: setup-service sends no events when none is configured.
rm -f "$PAASTA_SYSTEM_CONFIG_DIR/sensu.json"
image=paasta-demo/services-example_service:paasta-$new_sha
sh "$top/fixtures/images/make-busybox-image.sh" "$image"
trap 'docker rmi -f "$image" >/dev/null 2>&1 || true' EXIT
"$bindir/local-run" -s example_service -i batch --dry-run | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)))'
"$bindir/local-run" -s example_service -i batch
echo "(exit status $?)"

step "local-run -t: only the health check of the long-running instance 'main' (busybox httpd)"
"$bindir/local-run" -s example_service -i main -t && echo "(healthy: exit status 0)"

# The long-running instances on this machine's engine: cluster "local" of the fixtures.
canary_sha=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["v2"]["deployments"]["canary"]["git_sha"])' "$SOA_DIR/example_service/deployments.json")
canary_image=paasta-demo/services-example_service:paasta-$canary_sha
docker tag "$image" "$canary_image"
locks=$work/locks
export SETUP_SERVICE_LOCK_DIR=$locks
cleanup() {
    [ -n "${client_pid:-}" ] && kill "$client_pid" 2>/dev/null
    [ -n "${loop_pid:-}" ] && kill "$loop_pid" 2>/dev/null
    [ -n "${hacheck_pid:-}" ] && kill "$hacheck_pid" 2>/dev/null
    [ -f "$work/smartstack/haproxy.pid" ] && kill "$(cat "$work/smartstack/haproxy.pid")" 2>/dev/null
    for s in example_service reports; do
        docker ps -aq --filter label=paasta.cluster=local --filter label=paasta_service=$s | xargs -r docker rm -f >/dev/null 2>&1 || true
    done
    docker rmi -f "$image" "$canary_image" ${v3_image:-} ${reports_image:-} >/dev/null 2>&1 || true
    [ -z "${swarm_up:-}" ] || sh "$top/bin/swarm-testbed.sh" down "$work/swarm"
}
trap cleanup EXIT
# One setup-service run every few seconds (cron would run it every minute) until nothing is in
# progress and every instance has its tasks happy.
settle() {
    last=
    while :; do
        out=$("$bindir/setup-service" --all) || true
        # Only what changed since the previous run is shown.
        now=$(printf '%s\n' "$out" | python3 -c '
import json, sys
for l in sys.stdin:
    d = json.loads(l)
    if "job" in d:
        continue
    acts = ", ".join(a["action"] for a in d["actions"]) or "nothing to do"
    print("  %s.%s: %d/%d happy, %s%s" % (d["service"], d["instance"], d["happy"], d["desired"], acts, ", bounce in progress" if d["bounce_in_progress"] else ""))')
        [ -n "${CHECK:-}" ] && now="$now
$(replication)"
        [ "$now" = "$last" ] || printf '%s\n' "$now"
        last=$now
        printf '%s\n' "$out" | python3 -c '
import json, sys
sys.exit(0 if all(not d["bounce_in_progress"] and d["happy"] == d["desired"] and not d["actions"] for d in map(json.loads, sys.stdin) if "job" not in d) else 1)' && break
        sleep 5
    done
}
replication() {
    "$bin/check-replication" --dry-run | python3 -c '
import json, sys
for l in sys.stdin:
    d = json.loads(l)
    print("  check-replication: %s %s" % ({0: "OK", 2: "CRITICAL"}[d["status"]], d["output"]))'
}
bin=$bindir

step "setup-service --all: main (3 tasks) and canary (1) come up; runs repeat (cron: every minute) until all are happy"
settle

step "check-replication: main's tasks count once up a minute, as setup-service's happy does (min_task_uptime)"
sleep 2
replication

step "Discovery: hacheck and smartstack-sync put main's tasks behind HAProxy on proxy_port 20001 (smartstack.yaml)"
hacheck_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bindir/hacheck" --port "$hacheck_port" --spool-dir "$work/spool" 2>/dev/null &
hacheck_pid=$!
sync_args="--haproxy-config $work/smartstack/haproxy.cfg --hacheck-port $hacheck_port"
# shellcheck disable=SC2086
"$bindir/smartstack-sync" $sync_args | sed 's/^/  /'
# shellcheck disable=SC2086
INTERVAL=1 PID_FILE=$work/smartstack/sync.pid BIN_DIR=$bindir sh "$top/bin/smartstack-sync-loop.sh" $sync_args >/dev/null &
loop_pid=$!
sleep 3
echo "  a client on this host: curl http://127.0.0.1:20001/  ->  $(curl -s http://127.0.0.1:20001/ 2>&1 || python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:20001/").read().decode())')"
# A client sends 10 requests a second through the proxy port for the rest of the bounce.
python3 -c '
import sys, time, urllib.request
ok = failed = 0
out = sys.argv[1]
while True:
    try:
        urllib.request.urlopen("http://127.0.0.1:20001/", timeout=5).read(); ok += 1
    except Exception:
        failed += 1
    open(out, "w").write("%d %d\n" % (ok, failed))
    time.sleep(0.1)' "$work/client.count" &
client_pid=$!

step "A new commit is tagged for prod; generate-deployments, then setup-service bounces main (crossover)"
v3_sha=$(git --git-dir="$repo" commit-tree "$new_sha^{tree}" -p "$new_sha" -m "demo: a change to deploy" </dev/null)
git --git-dir="$repo" update-ref refs/heads/master "$v3_sha"
git --git-dir="$repo" update-ref refs/tags/paasta-prod-20260104T090000-deploy "$v3_sha"
v3_image=paasta-demo/services-example_service:paasta-$v3_sha
docker tag "$image" "$v3_image"
"$bindir/generate-deployments" -s example_service -v
echo "  (the new tasks count for the bounce once up a minute: bounce_health_params.min_task_uptime)"
CHECK=1 settle
docker ps --filter label=paasta.cluster=local --format '  {{.Names}}  {{.Status}}'
sleep 3
kill "$client_pid" 2>/dev/null; client_pid=
read -r ok failed <"$work/client.count"
echo "  the client through proxy_port 20001 during the bounce: $ok requests answered, $failed failed"
kill "$loop_pid" 2>/dev/null; loop_pid=

step "Scheduled jobs on a compressed calendar: setup-service --now steps through two nights, a minute a pass"
# The demo's nightly job reads its day's input from a host directory; the input of the second
# night is late, so that night's run fails (and its one retry too).
inputs=$work/inputs
mkdir -p "$inputs"
cat > "$SOA_DIR/example_service/chronos-local.yaml" <<EOF
nightly:
  cmd: "test -e /inputs/{shortdate-1} && echo reindexed {shortdate-1}"
  schedule: "R/2026-01-01T03:00:00Z/P1D"
  epsilon: PT10M
  retries: 1
  deploy_group: prod
  extra_volumes:
    - {containerPath: /inputs, hostPath: $inputs, mode: RO}
nightly_report:
  cmd: "echo report for %(shortdate-1)s"
  parents: [example_service.nightly]
  deploy_group: prod
EOF
reports_sha=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["v2"]["deployments"]["prod"]["git_sha"])' "$SOA_DIR/reports/deployments.json")
reports_image=paasta-demo/services-reports:paasta-$reports_sha
docker tag "$image" "$reports_image"
touch "$inputs/2026-11-19"
jobs="example_service.nightly example_service.nightly_report reports.weekly"
for now in 2026-11-20T03:00:20Z 2026-11-20T03:01:20Z 2026-11-20T03:02:20Z 2026-11-21T03:00:20Z 2026-11-21T03:01:20Z 2026-11-21T03:02:20Z; do
    "$bindir/setup-service" --now "$now" $jobs | NOW=$now python3 -c '
import json, os, sys
for l in sys.stdin:
    d = json.loads(l)
    for a in d["actions"]:
        if a["action"] == "start_run":
            print("  %s  %s: start (due %s, attempt %d): %s" % (os.environ["NOW"], d["job"], a["due"], a["attempt"], a["command"]))
        else:
            print("  %s  %s: %s" % (os.environ["NOW"], d["job"], a["action"]))'
    sleep 1
done

step "service-ctl status example_service.nightly: the last runs, with their results"
"$bindir/service-ctl" status example_service.nightly | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("  state %s, next due %s" % (d["state"], d["next_due"]))
for r in d["runs"]:
    print("  due %s attempt %d: %s (exit %s) %s" % (r["due"], r["attempt"], r["result"], r.get("exit_code"), " | ".join(r.get("output_tail", []))))'

step "The late input arrives: rerun the failed night for its date, with its related jobs (-t graph)"
touch "$inputs/2026-11-20"
"$bindir/rerun" -s example_service -i nightly -d 2026-11-21T03:00:00 -t graph | python3 -c '
import json, sys
for l in sys.stdin:
    d = json.loads(l)
    print("  %s: %s -> %s" % (d["job"], d["command"], d["result"]))'
"$bindir/service-ctl" status example_service.nightly | python3 -c '
import json, sys
d = json.load(sys.stdin)
for r in d["reruns"]:
    print("  service-ctl status shows the rerun %s for %s: %s, output: %s" % (r["job"], r["due"], r["result"], " | ".join(r["output_tail"])))'

step "Beyond one host: main on a three-node Docker Swarm (bin/swarm-testbed.sh), the same configs with --backend swarm"
# Three dockerd in network namespaces of their own, joined as one swarm, with a registry they all
# pull from; the deployed image is pushed there, and the system config names that registry.
sh "$top/bin/swarm-testbed.sh" up "$work/swarm"
swarm_up=1
swarm_etc=$work/etc_swarm
cp -R "$PAASTA_SYSTEM_CONFIG_DIR" "$swarm_etc"
(
    . "$work/swarm/env"
    export DOCKER_HOST PAASTA_SYSTEM_CONFIG_DIR="$swarm_etc"
    echo "{\"docker_registry\": \"$SWARM_REGISTRY\"}" > "$swarm_etc/docker_registry.json"
    prod_sha=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["v2"]["deployments"]["prod"]["git_sha"])' "$SOA_DIR/example_service/deployments.json")
    swarm_image=$SWARM_REGISTRY/services-example_service:paasta-$prod_sha
    sh "$top/fixtures/images/make-busybox-image.sh" "$swarm_image"
    docker push -q "$swarm_image" >/dev/null
    echo "  pushed $swarm_image"
    n=0
    last=
    while :; do
        now=$("$bindir/setup-service" --backend swarm -v example_service.main 2>"$work/swarm-setup.err" | python3 -c '
import json, sys
for l in sys.stdin:
    d = json.loads(l)
    acts = ", ".join(a["action"] for a in d["actions"]) or "nothing to do"
    print("  setup-service --backend swarm: %s.%s: %d/%d happy, %s" % (d["service"], d["instance"], d["happy"], d["desired"], acts))')
        [ "$now" = "$last" ] || printf '%s\n' "$now"
        last=$now
        running=$(docker service ls --filter label=paasta.cluster=local --format '{{.Replicas}}' | grep -c '^1/1' || true)
        [ "$running" -ge 3 ] && break
        n=$((n + 1)); [ $n -lt 30 ] || { echo "  the swarm did not run main's tasks:"; cat "$work/swarm-setup.err"; exit 1; }
        sleep 2
    done
    grep -h "API calls" "$work/swarm-setup.err" | sed 's/^/  /' || true
    echo "  main's tasks, one Swarm service each, on the nodes its constraints allow (pool LIKE default):"
    for s in $(docker service ls -q --filter label=paasta.cluster=local); do
        docker service ps "$s" --filter desired-state=running --format '{{.Name}} on {{.Node}}, published {{.Ports}}' | sed 's/^/    /; s/,\*:.*//'
    done
)
sh "$top/bin/swarm-testbed.sh" down "$work/swarm"
swarm_up=

step "A broken config is caught with file, line, instance and key"
printf 'oops:\n  cpus: lots\n  deploy_group: nowhere\n' >> "$SOA_DIR/example_service/marathon-local.yaml"
"$bindir/soa-validate" -s example_service || echo "(soa-validate exited $?, as expected)"
