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
    docker ps -aq --filter label=paasta.cluster=local --filter label=paasta_service=example_service | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker rmi -f "$image" "$canary_image" ${v3_image:-} >/dev/null 2>&1 || true
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
    acts = ", ".join(a["action"] for a in d["actions"]) or "nothing to do"
    print("  %s.%s: %d/%d happy, %s%s" % (d["service"], d["instance"], d["happy"], d["desired"], acts, ", bounce in progress" if d["bounce_in_progress"] else ""))')
        [ -n "${CHECK:-}" ] && now="$now
$(replication)"
        [ "$now" = "$last" ] || printf '%s\n' "$now"
        last=$now
        printf '%s\n' "$out" | python3 -c '
import json, sys
sys.exit(0 if all(not d["bounce_in_progress"] and d["happy"] == d["desired"] and not d["actions"] for d in map(json.loads, sys.stdin)) else 1)' && break
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

step "A broken config is caught with file, line, instance and key"
printf 'oops:\n  cpus: lots\n  deploy_group: nowhere\n' >> "$SOA_DIR/example_service/marathon-local.yaml"
"$bindir/soa-validate" -s example_service || echo "(soa-validate exited $?, as expected)"
