#!/bin/sh
# wr-cloud's deploy and teardown on the docker provider, for docs/benchmarks.md: RUNS cycles of
# `cloud deploy` then `cloud teardown` of one deployment (a head node and its network), each
# command timed whole with /usr/bin/time, and deploy's own account of its steps (its JSON's
# `timings`) kept, so what is ours (copying wr-cloud and the configuration, starting the manager)
# can be told from what is the engine's (network, container) and sshd's (boot, ssh). Everything
# is under target/bench/wr-cloud; the deployment is torn down at the end, pass or fail.
# usage: bin/bench-wr-cloud.sh BIN_DIR [RUNS]   (BIN_DIR holds the release wr-cloud)
set -eu
bindir=$(cd "$1" && pwd)
runs=${2:-10}
top=$(cd "$(dirname "$0")/.." && pwd)
wr=$bindir/wr-cloud
work=$top/target/bench/wr-cloud
rm -rf "$work"; mkdir -p "$work/home"
sh "$top/bin/wr-node-image.sh" paasta-test/wr-node:1
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
printf 'flavors:\n  - {name: b.small, vcpus: 1, ram: 512}\n' >"$work/cloud.yml"
export HOME=$work/home WR_DEPLOYMENT=production WR_MANAGERPORT=$(port) WR_MANAGERWEB=$(port) \
    WR_DOCKER_CLOUD=$work/cloud.yml
name=paasta-test-bench
trap '"$wr" cloud teardown -p docker --resource_name $name --force >/dev/null 2>&1 || true' EXIT
i=0
while [ $i -lt "$runs" ]; do
    /usr/bin/time -f '%e' -o "$work/deploy.time" "$wr" cloud deploy -p docker --resource_name $name \
        -o paasta-test/wr-node -u wr -r 256 --network_cidr 10.213.90.0/24 \
        --network_gateway_ip 10.213.90.1 -c '' >"$work/deploy.json" 2>/dev/null
    /usr/bin/time -f '%e' -o "$work/teardown.time" "$wr" cloud teardown -p docker \
        --resource_name $name >/dev/null 2>&1
    python3 - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
t = json.load(open(f"{work}/deploy.json"))["timings"]
t["deploy_wall"] = float(open(f"{work}/deploy.time").read().split()[-1])
t["teardown_wall"] = float(open(f"{work}/teardown.time").read().split()[-1])
with open(f"{work}/runs.jsonl", "a") as f:
    f.write(json.dumps(t) + "\n")
EOF
    i=$((i + 1))
done
python3 - "$work/runs.jsonl" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print(f"{len(runs)} deploy + teardown cycles; median (min-max) seconds")
for k in ["deploy_wall", "resources", "head_node", "ssh_ready", "bootstrap", "manager_start",
          "tunnels", "teardown_wall"]:
    v = [r[k] for r in runs]
    print(f"  {k:14} {statistics.median(v):6.3f}  ({min(v):.3f}-{max(v):.3f})")
EOF
