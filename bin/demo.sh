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
image=paasta-demo/services-example_service:paasta-$new_sha
sh "$top/fixtures/images/make-busybox-image.sh" "$image"
trap 'docker rmi -f "$image" >/dev/null 2>&1 || true' EXIT
"$bindir/local-run" -s example_service -i batch --dry-run | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)))'
"$bindir/local-run" -s example_service -i batch
echo "(exit status $?)"

step "local-run -t: only the health check of the long-running instance 'main' (busybox httpd)"
"$bindir/local-run" -s example_service -i main -t && echo "(healthy: exit status 0)"

step "A broken config is caught with file, line, instance and key"
printf 'oops:\n  cpus: lots\n  deploy_group: nowhere\n' >> "$SOA_DIR/example_service/marathon-local.yaml"
"$bindir/soa-validate" -s example_service || echo "(soa-validate exited $?, as expected)"
