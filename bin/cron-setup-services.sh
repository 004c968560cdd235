#!/bin/sh
# The deploy loop of a master, for cron (every minute): turn each service's git tags into
# deployments.json, then move the cluster toward it. Every service and instance is handled even
# when another fails; setup-service locks each instance, so an overlapping run skips what this
# one holds. Progress and errors go to stderr (cron mails them); the JSON lines to stdout.
#
# usage: cron-setup-services.sh [SOA_DIR]
#   SOA_DIR defaults to $SOA_DIR, then /nail/etc/services. BIN_DIR, when set, is where the
#   toolkit's binaries are (default: $PATH). CLUSTER, when set, is passed as -c.
#
# crontab:  * * * * *  /usr/local/share/paasta/bin/cron-setup-services.sh >>/var/log/setup-service.jsonl
set -u
soa_dir=${1:-${SOA_DIR:-/nail/etc/services}}
bin=${BIN_DIR:+$BIN_DIR/}
cluster_args=${CLUSTER:+-c $CLUSTER}
status=0
"${bin}generate-deployments" -d "$soa_dir" --all >/dev/null || status=$?
# shellcheck disable=SC2086
"${bin}setup-service" -d "$soa_dir" $cluster_args --all || { s=$?; [ "$s" -gt "$status" ] && status=$s; }
exit "$status"
