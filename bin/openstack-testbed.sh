#!/bin/sh
# A real OpenStack control plane on this machine for wr-cloud's OpenStack provider tests:
# Keystone, Glance, Placement, Nova (fake virt driver: servers go ACTIVE, nothing boots) and
# Neutron (ML2 with a mechanism driver that binds every port, no agents), from PyPI into a kept
# virtualenv, on Debian's MariaDB and RabbitMQ, each a private instance under DIR; everything on
# 127.0.0.1. Nothing of the machine's own services is used or changed.
#
#   keystone 127.0.0.1:15000/v3   glance :19292   placement :18778   nova :18774/v2.1
#   neutron :19696   mariadb :13306 (DIR/mysql/mysqld.sock)   rabbitmq :16672
#
# Seeded: service users, the catalog, flavors m1.tiny (1 vCPU, 512 MB, 1 GB), m1.small (2, 2048,
# 10), m1.medium (4, 8192, 20) and m1.giant (2048 vCPUs: "No valid host"), an image
# "debian-12-test" (1 MB raw), an external flat network "public" (its subnet exists only in
# Neutron's database: nothing is routed), and a project "wr-test" with a user "wr-test". DIR/env
# is an rc file for that user (OS_AUTH_URL, OS_USERNAME, …, OS_POOL_NAME=public); DIR/admin-env
# the admin's.
#
# usage: openstack-testbed.sh up DIR     (about 100 s the first time, then about a minute)
#        openstack-testbed.sh down DIR   stops what `up DIR` started, by the pids it recorded,
#                                        and removes DIR; safe to run twice
# The virtualenv: $OPENSTACK_VENV, else ~/.cache/paasta-toolkit/openstack-nova34, installed with
# the versions in fixtures/openstack/constraints.txt.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 up|down DIR" >&2; exit 2; }
action=$1
dir=$2
top=$(cd "$(dirname "$0")/.." && pwd)
venv=${OPENSTACK_VENV:-$HOME/.cache/paasta-toolkit/openstack-nova34}
pw=ptos-secret
db_port=13306
# Below the kernel's ephemeral range (32768 and up): a port in it can be taken by any outgoing
# connection, even by the readiness poll itself (a loopback connect to a port nobody listens on
# can connect to itself), and RabbitMQ then cannot listen.
amqp_port=16672
epmd_port=14369

stop_pid_file() {
    f=$1
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    # oslo.service waits up to 60 s for a graceful end: give it 15.
    n=0
    while kill -0 "$pid" 2>/dev/null && [ $n -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
}

down() {
    if [ -d "$dir/run" ]; then
        # The services first, all at once (each may take its time to end), then the bus and
        # the database they were using.
        pids=
        for f in "$dir"/run/*.pid; do
            [ -e "$f" ] || continue
            case $f in */mariadb.pid | */rabbitmq.pid | */epmd.pid) ;; *) pids="$pids $(cat "$f")"; rm -f "$f" ;; esac
        done
        if [ -n "$pids" ]; then
            # shellcheck disable=SC2086
            kill $pids 2>/dev/null || true
            n=0
            # oslo.service waits up to 60 s for a graceful end: give them 15.
            while [ $n -lt 150 ]; do
                alive=
                for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
                [ -n "$alive" ] || break
                sleep 0.1; n=$((n + 1))
            done
            # shellcheck disable=SC2086
            kill -9 $pids 2>/dev/null || true
        fi
        stop_pid_file "$dir/run/rabbitmq.pid"
        stop_pid_file "$dir/run/epmd.pid"
        stop_pid_file "$dir/run/mariadb.pid"
    fi
    rm -rf "$dir"
}

if [ "$action" = down ]; then
    down
    exit 0
fi
[ "$action" = up ] || { echo "usage: $0 up|down DIR" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
trap 'down' INT TERM
fail() {
    echo "openstack-testbed: $*" >&2
    for log in "$dir"/log/*.log; do
        [ -s "$log" ] && { echo "--- $log" >&2; tail -n 15 "$log" >&2; }
    done
    down
    exit 1
}
say() { echo "openstack-testbed: $*" >&2; }
started=$(date +%s)

# Debian's MariaDB and RabbitMQ; the services' own start-up at install is not wanted, and
# policy-rc.d is how Debian lets an installer say so (removed again at once).
need=
command -v mariadbd >/dev/null 2>&1 || need="$need mariadb-server"
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need="$need rabbitmq-server"
if [ -n "$need" ]; then
    say "installing$need"
    [ "$(id -u)" = 0 ] || fail "root is needed to install$need"
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    # shellcheck disable=SC2086
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null; } ||
        { rm -f /usr/sbin/policy-rc.d; fail "apt-get install$need failed"; }
    rm -f /usr/sbin/policy-rc.d
fi

# The virtualenv, with the services at the versions that were tested together.
if [ ! -x "$venv/bin/nova-manage" ] || [ ! -f "$venv/.ptbind" ]; then
    say "installing the OpenStack services into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip >/dev/null
    "$venv/bin/pip" install -q -c "$top/fixtures/openstack/constraints.txt" \
        keystone glance openstack-placement nova neutron python-openstackclient gunicorn PyMySQL ||
        fail "pip could not install the OpenStack services"
    # Built from a copy: a build writes beside the sources.
    cp -R "$top/fixtures/openstack/ptbind" "$dir/ptbind-src"
    "$venv/bin/pip" install -q "$dir/ptbind-src" || fail "pip could not install ptbind"
    touch "$venv/.ptbind"
fi
py=$venv/bin/python3
mkdir -p "$dir/run" "$dir/log" "$dir/etc" "$dir/wsgi"

# MariaDB: a private server on a spare port.
say "starting MariaDB"
mkdir -p "$dir/mysql"
mariadb-install-db --no-defaults --datadir="$dir/mysql/data" --user=root --auth-root-authentication-method=normal \
    >"$dir/log/mariadb-install.log" 2>&1 || fail "mariadb-install-db failed"
mariadbd --no-defaults --datadir="$dir/mysql/data" --socket="$dir/mysql/mysqld.sock" --port=$db_port \
    --bind-address=127.0.0.1 --pid-file="$dir/mysql/mariadbd.pid" --user=root --skip-log-bin \
    --innodb-buffer-pool-size=64M --max-connections=500 >"$dir/log/mariadb.log" 2>&1 &
echo $! >"$dir/run/mariadb.pid"
sql() { mariadb --no-defaults -S "$dir/mysql/mysqld.sock" -u root "$@"; }
n=0
until sql -e 'select 1' >/dev/null 2>&1; do
    [ $n -lt 300 ] || fail "MariaDB did not answer"
    sleep 0.1; n=$((n + 1))
done
for db in keystone glance placement neutron nova_api nova_cell0 nova_cell1; do
    sql -e "CREATE DATABASE $db"
done
sql -e "CREATE USER 'os'@'127.0.0.1' IDENTIFIED BY '$pw'; GRANT ALL ON *.* TO 'os'@'127.0.0.1'"
dburl() { echo "mysql+pymysql://os:$pw@127.0.0.1:$db_port/$1"; }

# RabbitMQ: a private node; its epmd on a spare port too.
say "starting RabbitMQ"
mkdir -p "$dir/rabbit/home" "$dir/rabbit/mnesia" "$dir/rabbit/log"
echo '[].' >"$dir/rabbit/enabled_plugins"
(
    export HOME="$dir/rabbit/home" RABBITMQ_NODENAME=ptos@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT=$amqp_port RABBITMQ_DIST_PORT=$((amqp_port + 1)) ERL_EPMD_ADDRESS=127.0.0.1 \
        ERL_EPMD_PORT=$epmd_port RABBITMQ_MNESIA_BASE="$dir/rabbit/mnesia" RABBITMQ_LOG_BASE="$dir/rabbit/log" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$dir/rabbit/enabled_plugins" RABBITMQ_PID_FILE="$dir/rabbit/rabbit.pid" \
        RABBITMQ_CONFIG_FILE="$dir/rabbit/rabbitmq"
    exec /usr/lib/rabbitmq/bin/rabbitmq-server >"$dir/log/rabbitmq.log" 2>&1
) &
echo $! >"$dir/run/rabbitmq.pid"
n=0
until "$py" -c "import socket,sys; socket.create_connection(('127.0.0.1', $amqp_port), 1)" 2>/dev/null; do
    [ $n -lt 600 ] || fail "RabbitMQ did not listen on $amqp_port"
    sleep 0.1; n=$((n + 1))
done
epmd_pid=$(ss -ltnpH "sport = :$epmd_port" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
[ -z "$epmd_pid" ] || echo "$epmd_pid" >"$dir/run/epmd.pid"
amqp="rabbit://guest:guest@127.0.0.1:$amqp_port/"

auth_section() { # NAME (the service user)
    cat <<EOF
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:15000
auth_url = http://127.0.0.1:15000
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $pw
service_token_roles_required = true
EOF
}
client_section() { # GROUP USER
    cat <<EOF
[$1]
auth_type = password
auth_url = http://127.0.0.1:15000/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $pw
region_name = RegionOne
EOF
}
# Each API is served by gunicorn from a module that hides gunicorn's arguments from oslo.config.
serve() { # NAME PORT MODULE [ENV=VALUE...]
    name=$1 port=$2 module=$3
    shift 3
    printf 'import sys\nsys.argv = sys.argv[:1]\nfrom %s import application  # noqa: E402,F401\n' "$module" >"$dir/wsgi/${name}_app.py"
    env "$@" "$venv/bin/gunicorn" --bind "127.0.0.1:$port" --workers 1 --threads 4 --timeout 120 \
        --chdir "$dir/wsgi" --pythonpath "$dir/wsgi" "${name}_app:application" >"$dir/log/$name.log" 2>&1 &
    echo $! >"$dir/run/$name.pid"
}
wait_http() { # URL NAME
    n=0
    until "$py" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$1" 2>/dev/null ||
        "$py" -c "
import urllib.request, urllib.error, sys
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code < 500 else 1)
sys.exit(1)" "$1" 2>/dev/null; do
        [ $n -lt 600 ] || fail "$2 did not answer at $1"
        sleep 0.2; n=$((n + 1))
    done
}
background() { # NAME COMMAND...
    name=$1
    shift
    "$@" >"$dir/log/$name.log" 2>&1 &
    echo $! >"$dir/run/$name.pid"
}

# Keystone.
say "setting up Keystone"
mkdir -p "$dir/etc/keystone" "$dir/keystone/fernet-keys" "$dir/keystone/credential-keys"
cat >"$dir/etc/keystone/keystone.conf" <<EOF
[database]
connection = $(dburl keystone)
[token]
provider = fernet
[fernet_tokens]
key_repository = $dir/keystone/fernet-keys
[credential]
key_repository = $dir/keystone/credential-keys
EOF
km() { "$venv/bin/keystone-manage" --config-file "$dir/etc/keystone/keystone.conf" "$@" >>"$dir/log/keystone-manage.log" 2>&1; }
km db_sync || fail "keystone-manage db_sync failed"
km fernet_setup --keystone-user root --keystone-group root || fail "keystone fernet_setup failed"
km credential_setup --keystone-user root --keystone-group root || fail "keystone credential_setup failed"
km bootstrap --bootstrap-password "$pw" --bootstrap-region-id RegionOne \
    --bootstrap-admin-url http://127.0.0.1:15000/v3 --bootstrap-internal-url http://127.0.0.1:15000/v3 \
    --bootstrap-public-url http://127.0.0.1:15000/v3 || fail "keystone bootstrap failed"
serve keystone 15000 keystone.wsgi.api OS_KEYSTONE_CONFIG_FILES="$dir/etc/keystone/keystone.conf"
wait_http http://127.0.0.1:15000/v3 Keystone

cat >"$dir/admin-env" <<EOF
export OS_AUTH_URL=http://127.0.0.1:15000/v3
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=admin
export OS_PASSWORD=$pw
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
EOF
os() { (. "$dir/admin-env" && "$venv/bin/openstack" "$@") >>"$dir/log/seed.log" 2>&1; }
say "seeding users and the catalog"
os project create --domain default service || fail "openstack project create service failed"
for svc in glance placement nova neutron; do
    os user create --domain default --password "$pw" "$svc" || fail "openstack user create $svc failed"
    os role add --project service --user "$svc" admin
    os role add --project service --user "$svc" service
done
endpoint() { # TYPE NAME URL
    os service create --name "$2" "$1"
    for i in public internal admin; do os endpoint create --region RegionOne "$1" "$i" "$3"; done
}
endpoint image glance http://127.0.0.1:19292
endpoint placement placement http://127.0.0.1:18778
endpoint compute nova http://127.0.0.1:18774/v2.1
endpoint network neutron http://127.0.0.1:19696

# Placement.
say "setting up Placement, Glance, Neutron and Nova"
mkdir -p "$dir/etc/placement"
{
    printf '[placement_database]\nconnection = %s\n[api]\nauth_strategy = keystone\n' "$(dburl placement)"
    auth_section placement
} >"$dir/etc/placement/placement.conf"
"$venv/bin/placement-manage" --config-file "$dir/etc/placement/placement.conf" db sync >"$dir/log/placement-manage.log" 2>&1 ||
    fail "placement-manage db sync failed"
serve placement 18778 placement.wsgi.api OS_PLACEMENT_CONFIG_DIR="$dir/etc/placement"

# Glance.
mkdir -p "$dir/etc/glance" "$dir/glance/images" "$dir/glance/staging" "$dir/glance/tasks"
cp "$venv/etc/glance/glance-api-paste.ini" "$dir/etc/glance/"
{
    cat <<EOF
[DEFAULT]
enabled_backends = fs:file
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $dir/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $dir/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $dir/glance/tasks
[database]
connection = $(dburl glance)
[paste_deploy]
flavor = keystone
config_file = $dir/etc/glance/glance-api-paste.ini
EOF
    auth_section glance
} >"$dir/etc/glance/glance-api.conf"
"$venv/bin/glance-manage" --config-file "$dir/etc/glance/glance-api.conf" db_sync >"$dir/log/glance-manage.log" 2>&1 ||
    fail "glance-manage db_sync failed"
serve glance 19292 glance.wsgi.api OS_GLANCE_CONFIG_DIR="$dir/etc/glance"

# Neutron: ML2, flat external and vxlan project networks, every port bound by ptbind.
mkdir -p "$dir/etc/neutron" "$dir/neutron/lock"
cp "$venv/etc/neutron/api-paste.ini" "$dir/etc/neutron/"
{
    cat <<EOF
[DEFAULT]
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
transport_url = $amqp
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
api_paste_config = $dir/etc/neutron/api-paste.ini
[database]
connection = $(dburl neutron)
[oslo_concurrency]
lock_path = $dir/neutron/lock
EOF
    auth_section neutron
    client_section nova nova
} >"$dir/etc/neutron/neutron.conf"
# The WSGI app reads plugins/ml2/ml2_conf.ini beside neutron.conf.
mkdir -p "$dir/etc/neutron/plugins/ml2"
cat >"$dir/etc/neutron/plugins/ml2/ml2_conf.ini" <<EOF
[ml2]
type_drivers = flat,vxlan
tenant_network_types = vxlan
mechanism_drivers = ptbind
extension_drivers = port_security
[ml2_type_flat]
flat_networks = *
[ml2_type_vxlan]
vni_ranges = 1:1000
EOF
"$venv/bin/neutron-db-manage" --config-file "$dir/etc/neutron/neutron.conf" \
    --config-file "$dir/etc/neutron/plugins/ml2/ml2_conf.ini" upgrade heads >"$dir/log/neutron-db-manage.log" 2>&1 ||
    fail "neutron-db-manage upgrade heads failed"
serve neutron 19696 neutron.wsgi.api OS_NEUTRON_CONFIG_DIR="$dir/etc/neutron"

# Nova: API, conductor, scheduler, and a compute with the fake driver (its config has no database).
mkdir -p "$dir/etc/nova" "$dir/nova/state" "$dir/nova/instances" "$dir/nova/lock"
cp "$venv/etc/nova/api-paste.ini" "$dir/etc/nova/"
nova_common() {
    cat <<EOF
[DEFAULT]
transport_url = $amqp
compute_driver = fake.FakeDriver
my_ip = 127.0.0.1
host = ptos-compute
state_path = $dir/nova/state
instances_path = $dir/nova/instances
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = $dir/etc/nova/api-paste.ini
[oslo_concurrency]
lock_path = $dir/nova/lock
[vnc]
enabled = false
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 2
[glance]
region_name = RegionOne
EOF
    auth_section nova
    client_section placement placement
    client_section neutron neutron
    client_section service_user nova
    echo "send_service_user_token = true"
}
{
    nova_common
    printf '[api_database]\nconnection = %s\n[database]\nconnection = %s\n' "$(dburl nova_api)" "$(dburl nova_cell1)"
} >"$dir/etc/nova/nova.conf"
nova_common >"$dir/etc/nova/nova-compute.conf"
nm() { "$venv/bin/nova-manage" --config-file "$dir/etc/nova/nova.conf" "$@" >>"$dir/log/nova-manage.log" 2>&1; }
nm api_db sync || fail "nova-manage api_db sync failed"
nm cell_v2 map_cell0 --database_connection "$(dburl nova_cell0)" || fail "nova-manage cell_v2 map_cell0 failed"
nm cell_v2 create_cell --name cell1 || fail "nova-manage cell_v2 create_cell failed"
nm db sync || fail "nova-manage db sync failed"
serve nova_api 18774 nova.wsgi.osapi_compute OS_NOVA_CONFIG_DIR="$dir/etc/nova"
background nova-conductor "$venv/bin/nova-conductor" --config-file "$dir/etc/nova/nova.conf"
background nova-scheduler "$venv/bin/nova-scheduler" --config-file "$dir/etc/nova/nova.conf"
background nova-compute "$venv/bin/nova-compute" --config-file "$dir/etc/nova/nova-compute.conf"

wait_http http://127.0.0.1:18778/ Placement
wait_http http://127.0.0.1:19292/ Glance
wait_http http://127.0.0.1:19696/ Neutron
wait_http http://127.0.0.1:18774/ Nova
# The compute has reported its inventory once Placement lists a resource provider; then the
# cell learns of the host.
say "waiting for the compute host"
n=0
until (. "$dir/admin-env" && "$venv/bin/openstack" resource provider list -f value -c name 2>/dev/null) | grep -q .; do
    [ $n -lt 120 ] || fail "nova-compute never reported to Placement"
    sleep 1; n=$((n + 1))
done
# The compute host may reach Placement before its row is in the cell's database: map it until
# the mapping is there (a server scheduled before that fails with "not mapped to any cell").
n=0
until "$venv/bin/nova-manage" --config-file "$dir/etc/nova/nova.conf" cell_v2 list_hosts 2>>"$dir/log/nova-manage.log" | grep -q ptos-compute; do
    [ $n -lt 60 ] || fail "nova-manage cell_v2 discover_hosts never mapped the compute host"
    nm cell_v2 discover_hosts || fail "nova-manage cell_v2 discover_hosts failed"
    sleep 1; n=$((n + 1))
done

say "seeding flavors, an image, the external network and the test project"
os flavor create --vcpus 1 --ram 512 --disk 1 m1.tiny || fail "openstack flavor create failed"
os flavor create --vcpus 2 --ram 2048 --disk 10 m1.small
os flavor create --vcpus 4 --ram 8192 --disk 20 m1.medium
os flavor create --vcpus 2048 --ram 512 --disk 1 m1.giant
head -c 1048576 /dev/zero >"$dir/image.raw"
os image create --disk-format raw --container-format bare --public --file "$dir/image.raw" debian-12-test ||
    fail "openstack image create failed"
os network create --external --provider-network-type flat --provider-physical-network public public ||
    fail "openstack network create public failed"
os subnet create --network public --subnet-range 198.51.100.0/24 --no-dhcp public-subnet ||
    fail "openstack subnet create failed"
os project create --domain default wr-test || fail "openstack project create wr-test failed"
os user create --domain default --project wr-test --password "$pw" wr-test
os role add --project wr-test --user wr-test member
os role add --project wr-test --user wr-test admin
sed -e 's/OS_USERNAME=admin/OS_USERNAME=wr-test/' -e 's/OS_PROJECT_NAME=admin/OS_PROJECT_NAME=wr-test/' \
    "$dir/admin-env" >"$dir/env"
echo "export OS_POOL_NAME=public" >>"$dir/env"
say "ready in $(($(date +%s) - started)) s (rc files: $dir/env, $dir/admin-env; logs in $dir/log)"
