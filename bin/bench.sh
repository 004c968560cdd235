#!/bin/sh
# `make bench`: the benchmarks of docs/benchmarks.md, on the synthetic tree (built once, under
# target/bench, by fixtures/bench/make-tree.py). Needs hyperfine (Debian: apt-get install hyperfine).
# usage: bin/bench.sh BIN_DIR      (BIN_DIR holds the release binaries, e.g. target/release)
set -eu
bindir=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
tree=$top/target/bench/tree
command -v hyperfine >/dev/null 2>&1 || { echo "bench.sh: hyperfine is needed (apt-get install hyperfine)" >&2; exit 2; }
if [ ! -d "$tree" ]; then
    echo "building the synthetic tree in $tree (1,000 services x 10 instances, 20,000 tags; one 20,000-tag repo)" >&2
    mkdir -p "$top/target/bench"
    python3 "$top/fixtures/bench/make-tree.py" "$tree"
fi
PAASTA_SYSTEM_CONFIG_DIR=$tree/etc_paasta
export PAASTA_SYSTEM_CONFIG_DIR
gd=$bindir/generate-deployments
hyperfine -N --warmup 1 --runs 5 -n "generate-deployments --all (nothing to write)" "$gd -d $tree/soa --all"
hyperfine --warmup 1 --runs 5 -n "generate-deployments --all (every file written)" \
    --prepare "rm -f $tree/soa/*/deployments.json" "$gd -d $tree/soa --all"
hyperfine -N --warmup 2 --runs 20 -n "generate-deployments, one repo of 20,000 tags" "$gd -d $tree/big-soa -s bigrepo"
hyperfine -N --warmup 1 --runs 10 -i -n "soa-validate, 1,000 services" "$bindir/soa-validate -y $tree/soa"
# 40,000 files: the synthetic services eight times over under new names (svcNNNNxK), their
# parents renamed with them.
big=$top/target/bench/big40k
if [ ! -d "$big" ]; then
    mkdir -p "$big/soa"
    for k in 0 1 2 3 4 5 6 7; do
        for d in "$tree"/soa/svc*; do
            b=$(basename "$d")
            cp -R "$d" "$big/soa/${b}x$k"
            sed -i "s/\(svc[0-9]\{4\}\)\./\1x$k./g" "$big/soa/${b}x$k/chronos-bench.yaml"
        done
    done
fi
hyperfine -N --warmup 1 --runs 5 -n "soa-validate, 8,000 services, 40,000 files" "$bindir/soa-validate -y $big/soa"
for b in generate-deployments soa-validate setup-service check-replication; do
    hyperfine -N --warmup 5 --runs 50 -n "$b --help" "$bindir/$b --help"
done

# local-run: the fixture service with the busybox image as its deployed image.
lr=$top/target/bench/local-run
rm -rf "$lr"
sh "$top/fixtures/setup.sh" "$lr" >/dev/null
echo '{"docker_registry": "paasta-bench", "volumes": []}' > "$lr/etc_paasta/docker_registry.json"
rm -f "$lr/etc_paasta/volumes.json"
SOA_DIR=$lr/soa PAASTA_SYSTEM_CONFIG_DIR=$lr/etc_paasta "$gd" --all >/dev/null
sha=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["v2"]["deployments"]["prod"]["git_sha"])' "$lr/soa/example_service/deployments.json")
image=paasta-bench/services-example_service:paasta-$sha
sh "$top/fixtures/images/make-busybox-image.sh" "$image"
trap 'docker rmi -f "$image" >/dev/null 2>&1 || true' EXIT
export SOA_DIR=$lr/soa PAASTA_SYSTEM_CONFIG_DIR=$lr/etc_paasta
hyperfine -N --warmup 5 --runs 50 -n "local-run --dry-run" "$bindir/local-run -s example_service -i batch --dry-run"
echo "time to the first line of output, local-run (A) against docker run --rm of the same image (B):"
python3 "$top/fixtures/bench/first-line.py" 20 "$bindir/local-run -s example_service -i batch -C 'echo hello'" "docker run --rm $image sh -c 'echo hello'"
hyperfine --warmup 2 --runs 10 -n "local-run (whole process)" "$bindir/local-run -s example_service -i batch -C 'echo hello'" \
    -n "docker run --rm (whole process)" "docker run --rm $image sh -c 'echo hello'"

# setup-service over 200 running instances with nothing to change, and check-replication over
# 10,000 instances read from a snapshot.
c200=$top/target/bench/c200
c10k=$top/target/bench/c10k
rm -rf "$c200"
python3 "$top/fixtures/bench/make-cluster.py" "$c200" --instances 200
[ -f "$c10k/snapshot.json" ] || python3 "$top/fixtures/bench/make-cluster.py" "$c10k" --instances 10000 --snapshot
base=paasta-bench/base:latest
sh "$top/fixtures/images/make-busybox-image.sh" "$base"
for s in $(ls "$c200/soa"); do docker tag "$base" "paasta-bench/services-$s:paasta-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"; done
cleanup_cluster() {
    docker ps -aq --filter label=paasta.cluster=benchc | xargs -r docker rm -f >/dev/null
    docker images --format '{{.Repository}}:{{.Tag}}' | grep '^paasta-bench/' | xargs -r docker rmi -f >/dev/null
}
trap 'cleanup_cluster; docker rmi -f "$image" >/dev/null 2>&1 || true' EXIT
export PAASTA_SYSTEM_CONFIG_DIR=$c200/etc_paasta SETUP_SERVICE_LOCK_DIR=$c200/locks
echo "launching 200 instances (one container each)..." >&2
"$bindir/setup-service" -d "$c200/soa" --all -v 2>&1 >/dev/null | tail -1
hyperfine -N --warmup 2 --runs 20 -n "setup-service --all, 200 running instances, nothing to change" "$bindir/setup-service -d $c200/soa --all"
"$bindir/setup-service" -d "$c200/soa" --all -v 2>&1 >/dev/null | tail -1
export PAASTA_SYSTEM_CONFIG_DIR=$c10k/etc_paasta
hyperfine -N --warmup 2 --runs 20 -n "check-replication, 10,000 instances (snapshot)" "$bindir/check-replication -d $c10k/soa --backend snapshot:$c10k/snapshot.json --dry-run"
