complete -c check-replication -s d -l soa-dir -d 'The soa-configs root' -r -F
complete -c check-replication -s c -l cluster -d 'The cluster (default: the system config\'s `cluster`)' -r
complete -c check-replication -l backend -d 'Where the cluster runs: docker (this host\'s engine), swarm (the Docker Swarm whose manager DOCKER_HOST names), marathon:URL[,URL…] (long-running instances on Marathon; http[s]://[user:password@]host:port, tried in turn; `marathon` alone: the system config\'s marathon_servers), chronos:URL[,URL…] (scheduled jobs on Chronos; `chronos` alone: the system config\'s chronos_config), or snapshot:FILE (a saved state, read-only: with --dry-run only)' -r
complete -c check-replication -l engine-timeout -d 'Seconds to wait for the Docker engine (or swarm manager) to answer' -r
complete -c check-replication -l sensu -d 'The Sensu client to send events to (default: the system config\'s sensu_host and sensu_port)' -r
complete -c check-replication -l sensu-timeout -d 'Seconds the whole run may spend sending Sensu events (one connection); events past it are dropped, never waited for' -r
complete -c check-replication -l crit -d 'The run is CRITICAL (exit 2) when at least this percent of the instances are critical...' -r
complete -c check-replication -l min-count-critical -d '...and at least this many of them' -r
complete -c check-replication -l dry-run -d 'Print the events, send none'
complete -c check-replication -s h -l help -d 'Print help'
complete -c check-replication -s V -l version -d 'Print version'
