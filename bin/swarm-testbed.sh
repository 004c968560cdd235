#!/bin/sh
# A real three-node Docker swarm on this one machine, for the swarm tests and the demo: three
# dockerd processes, each in a network namespace of its own (own data-root, exec-root, pidfile,
# socket and containerd), joined to a Linux bridge by veth pairs, one manager and two workers,
# with node labels region and pool; and Debian's docker-registry on the bridge, the registry
# every node pulls from. Nothing of the machine's own engine is touched.
#
#   bridge ptswbr0 10.251.0.1/24 (the registry listens there, on REGISTRY_PORT, default 5123)
#   node n0 (manager)  netns ptsw-n0  10.251.0.10  region=r0 pool=default  (host name ptsw-n0)
#   node n1 (worker)   netns ptsw-n1  10.251.0.11  region=r1 pool=default
#   node n2 (worker)   netns ptsw-n2  10.251.0.12  region=r1 pool=batch
#
# The daemons are entered with `nsenter --net=`, not `ip netns exec`, which remounts /sys and
# hides the cgroup mounts dockerd needs. Published ports use host mode: the routing mesh needs
# IPVS, which this kernel lacks. The one change to the host besides the bridge and its links: a
# FORWARD rule accepting traffic between the bridge's ports, removed by `down`.
#
# usage: swarm-testbed.sh up DIR     makes it; DIR/env then holds DOCKER_HOST (the manager's
#                                    socket) and SWARM_REGISTRY (host:port every node pulls from)
#        swarm-testbed.sh down DIR   stops what `up DIR` started (by its pid files) and removes
#                                    the namespaces, links, bridge and DIR; safe to run twice
set -eu
[ $# -eq 2 ] || { echo "usage: $0 up|down DIR" >&2; exit 2; }
action=$1
dir=$2
nodes="0 1 2"
registry_port=${REGISTRY_PORT:-5123}

down() {
    for i in $nodes; do
        pid_file=$dir/n$i/docker.pid
        if [ -f "$pid_file" ]; then
            pid=$(cat "$pid_file")
            kill "$pid" 2>/dev/null || true
            # dockerd stops its containers first; give it time, then insist.
            n=0
            while kill -0 "$pid" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    # What a node's dockerd left when it was killed (its containerd, shims and containers,
    # all started in the node's namespace by `up`).
    for i in $nodes; do
        pids=$(ip netns pids "ptsw-n$i" 2>/dev/null || true)
        [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
    done
    if [ -f "$dir/registry.pid" ]; then
        kill "$(cat "$dir/registry.pid")" 2>/dev/null || true
    fi
    # Mounts a daemon left (its overlay layers, netns files), deepest first.
    if [ -d "$dir" ]; then
        awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done
    fi
    for i in $nodes; do
        ip netns del "ptsw-n$i" 2>/dev/null || true
        ip link del "ptsw-h$i" 2>/dev/null || true
    done
    ip link del ptswbr0 2>/dev/null || true
    while iptables -D FORWARD -i ptswbr0 -o ptswbr0 -j ACCEPT 2>/dev/null; do :; done
    rm -rf "$dir"
}

if [ "$action" = down ]; then
    down
    exit 0
fi
[ "$action" = up ] || { echo "usage: $0 up|down DIR" >&2; exit 2; }
if ip link show ptswbr0 >/dev/null 2>&1; then
    echo "swarm-testbed: bridge ptswbr0 exists: another testbed runs (swarm-testbed.sh down ITS_DIR)" >&2
    exit 1
fi
command -v docker-registry >/dev/null 2>&1 || { echo "swarm-testbed: docker-registry is missing (sh bin/ensure-registry.sh)" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
trap 'down' INT TERM
fail() { echo "swarm-testbed: $*" >&2; down; exit 1; }

ip link add ptswbr0 type bridge || fail "cannot make bridge ptswbr0 (root is needed)"
ip addr add 10.251.0.1/24 dev ptswbr0
ip link set ptswbr0 up
# Bridged frames pass the host's FORWARD chain (br_netfilter), whose policy the machine's own
# engine sets to DROP: the nodes' traffic to one another is let through, and only theirs.
iptables -I FORWARD -i ptswbr0 -o ptswbr0 -j ACCEPT
for i in $nodes; do
    ns=ptsw-n$i
    ip netns add "$ns"
    ip link add "ptsw-h$i" type veth peer name "ptsw-c$i"
    ip link set "ptsw-h$i" master ptswbr0 up
    ip link set "ptsw-c$i" netns "$ns"
    ip -n "$ns" addr add "10.251.0.1$i/24" dev "ptsw-c$i"
    ip -n "$ns" link set "ptsw-c$i" up
    ip -n "$ns" link set lo up
    ip -n "$ns" route add default via 10.251.0.1
    mkdir -p "$dir/n$i"
    # A UTS namespace too, so each node has a host name of its own (ptsw-nI).
    nsenter --net="/var/run/netns/$ns" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$ns" dockerd \
        --data-root "$dir/n$i/data" --exec-root "$dir/n$i/exec" --pidfile "$dir/n$i/docker.pid" \
        -H "unix://$dir/n$i/docker.sock" \
        --containerd-namespace "$ns" --containerd-plugins-namespace "$ns-plugins" \
        --insecure-registry 10.251.0.0/24 --bip "172.31.$((10 + i)).1/24" \
        >"$dir/n$i/dockerd.log" 2>&1 &
done

cat >"$dir/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/registry
http:
  addr: 10.251.0.1:$registry_port
EOF
docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
echo $! >"$dir/registry.pid"

d() { n=$1; shift; docker -H "unix://$dir/n$n/docker.sock" "$@"; }
for i in $nodes; do
    n=0
    until d "$i" info >/dev/null 2>&1; do
        [ $n -lt 300 ] || fail "dockerd of node n$i did not answer (see $dir/n$i/dockerd.log)"
        sleep 0.1; n=$((n + 1))
    done
done
d 0 swarm init --advertise-addr 10.251.0.10 --dispatcher-heartbeat 1s >/dev/null || fail "swarm init failed on n0"
token=$(d 0 swarm join-token -q worker)
for i in 1 2; do
    d "$i" swarm join --token "$token" --advertise-addr "10.251.0.1$i" 10.251.0.10:2377 >/dev/null ||
        fail "node n$i did not join"
done
n=0
until [ "$(d 0 node ls --format '{{.Status}}' | grep -c Ready)" = 3 ]; do
    [ $n -lt 300 ] || fail "the three nodes are not all Ready: $(d 0 node ls)"
    sleep 0.1; n=$((n + 1))
done
for i in $nodes; do
    node=$(d "$i" info --format '{{.Swarm.NodeID}}')
    case $i in 0) region=r0 pool=default ;; 1) region=r1 pool=default ;; *) region=r1 pool=batch ;; esac
    d 0 node update --label-add "region=$region" --label-add "pool=$pool" "$node" >/dev/null
done
printf 'DOCKER_HOST=unix://%s/n0/docker.sock\nSWARM_REGISTRY=10.251.0.1:%s\n' "$dir" "$registry_port" >"$dir/env"
echo "swarm-testbed: 3 nodes ready (manager unix://$dir/n0/docker.sock), registry 10.251.0.1:$registry_port" >&2
