complete -c smartstack-sync -s d -l soa-dir -d 'The soa-configs root' -r -F
complete -c smartstack-sync -s c -l cluster -d 'The cluster (default: the system config\'s `cluster`)' -r
complete -c smartstack-sync -l backend -d 'Where the cluster runs: docker (this host\'s engine), swarm (the Docker Swarm whose manager DOCKER_HOST names), marathon:URL[,URL…] (long-running instances on Marathon; http[s]://[user:password@]host:port, tried in turn; `marathon` alone: the system config\'s marathon_servers), chronos:URL[,URL…] (scheduled jobs on Chronos; `chronos` alone: the system config\'s chronos_config), or snapshot:FILE (a saved state, read-only: with --dry-run only)' -r
complete -c smartstack-sync -l engine-timeout -d 'Seconds to wait for the Docker engine (or swarm manager) to answer' -r
complete -c smartstack-sync -l haproxy-config -d 'The HAProxy configuration written (its directory also holds haproxy.pid and haproxy.sock)' -r -F
complete -c smartstack-sync -l haproxy -d 'The HAProxy binary' -r -F
complete -c smartstack-sync -l bind -d 'The address frontends listen on' -r
complete -c smartstack-sync -l hacheck-port -d 'The port of every host\'s hacheck (the drain method\'s)' -r
complete -c smartstack-sync -l check-interval -d 'Seconds between two checks of a server' -r
complete -c smartstack-sync -l fall -d 'Failed checks in a row that take a server out' -r
complete -c smartstack-sync -l rise -d 'Passed checks in a row that put a server back' -r
complete -c smartstack-sync -l dry-run -d 'Print the configuration that would be written; change nothing'
complete -c smartstack-sync -s h -l help -d 'Print help'
complete -c smartstack-sync -s V -l version -d 'Print version'
