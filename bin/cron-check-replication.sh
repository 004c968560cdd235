#!/bin/sh
# The replication check of a master, for cron (every minute): one Sensu event per long-running
# instance to the Sensu client, the events also on stdout. Exit status as Nagios/Sensu read it
# (0 OK, 2 CRITICAL, 3 UNKNOWN).
#
# usage: cron-check-replication.sh [SOA_DIR] [check-replication options...]
#   SOA_DIR defaults to $SOA_DIR, then /nail/etc/services. BIN_DIR, when set, is where the
#   toolkit's binaries are (default: $PATH). CLUSTER, when set, is passed as -c.
#
# crontab:  * * * * *  /usr/local/share/paasta/bin/cron-check-replication.sh >/dev/null
set -u
soa_dir=${SOA_DIR:-/nail/etc/services}
case ${1:-} in
    -*|'') ;;
    *) soa_dir=$1; shift ;;
esac
bin=${BIN_DIR:+$BIN_DIR/}
# shellcheck disable=SC2086
exec "${bin}check-replication" -d "$soa_dir" ${CLUSTER:+-c $CLUSTER} "$@"
