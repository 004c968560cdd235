complete -c setup-service -s d -l soa-dir -d 'The soa-configs root' -r -F
complete -c setup-service -s c -l cluster -d 'The cluster (default: the system config\'s `cluster`)' -r
complete -c setup-service -l backend -d 'Where the cluster runs: docker (this host\'s engine), swarm (the Docker Swarm whose manager DOCKER_HOST names), marathon:URL[,URL…] (long-running instances on Marathon; http[s]://[user:password@]host:port, tried in turn; `marathon` alone: the system config\'s marathon_servers), chronos:URL[,URL…] (scheduled jobs on Chronos; `chronos` alone: the system config\'s chronos_config), or snapshot:FILE (a saved state, read-only: with --dry-run only)' -r
complete -c setup-service -l engine-timeout -d 'Seconds to wait for the Docker engine (or swarm manager) to answer' -r
complete -c setup-service -l sensu -d 'The Sensu client to send events to (default: the system config\'s sensu_host and sensu_port)' -r
complete -c setup-service -l sensu-timeout -d 'Seconds the whole run may spend sending Sensu events (one connection); events past it are dropped, never waited for' -r
complete -c setup-service -l lock-dir -d 'Where the per-instance lock files live' -r -F
complete -c setup-service -l lock-wait -d 'Seconds to wait for an instance another run holds, before skipping it' -r
complete -c setup-service -l drain-timeouts -d 'Seconds a drain endpoint has to accept a connection, and to answer' -r
complete -c setup-service -s j -l jobs -d 'How many instances are worked on at once' -r
complete -c setup-service -l now -d 'The time scheduled jobs are decided at (RFC 3339, or unix seconds) instead of the clock: replays a moment, or drives a simulated calendar. Long-running instances keep the clock' -r
complete -c setup-service -l dry-run -d 'Say what would be done (same JSON lines), change nothing'
complete -c setup-service -l show-definitions -d 'With --dry-run on Marathon or Chronos: instead of the instance lines, print each create or update as it would be sent, one JSON line per request ({method, path, body}), to diff with what runs'
complete -c setup-service -l all -d 'Every long-running instance and scheduled job of the cluster; apps of instances no longer configured are removed'
complete -c setup-service -s v -l verbose -d 'Each action on stderr as it is taken, and the number of backend calls'
complete -c setup-service -s h -l help -d 'Print help (see more with \'--help\')'
complete -c setup-service -s V -l version -d 'Print version'
