complete -c rerun -s s -l service -d 'The job\'s service' -r
complete -c rerun -s i -l instance -d 'The job (a chronos instance)' -r
complete -c rerun -s c -l clusters -d 'The clusters to rerun it in (default: the system config\'s cluster)' -r
complete -c rerun -s y -l soa-dir -d 'The soa-configs root' -r -F
complete -c rerun -s d -l execution-date -d 'The date to run as (UTC): the command\'s time variables take their values at it. Required when the command has time variables' -r
complete -c rerun -s t -l rerun-type -d 'The job alone, or with its related jobs' -r -f -a "instance\t'The job alone'
graph\t'The job and every job related to it through parents, parents first'"
complete -c rerun -l backend -d 'Where the cluster runs: docker (this host\'s engine), swarm (the Docker Swarm whose manager DOCKER_HOST names), marathon:URL[,URL…] (long-running instances on Marathon; http[s]://[user:password@]host:port, tried in turn; `marathon` alone: the system config\'s marathon_servers), chronos:URL[,URL…] (scheduled jobs on Chronos; `chronos` alone: the system config\'s chronos_config), or snapshot:FILE (a saved state, read-only: with --dry-run only)' -r
complete -c rerun -l engine-timeout -d 'Seconds to wait for the Docker engine (or swarm manager) to answer' -r
complete -c rerun -s f -l force-disabled -d 'Rerun a job even if it is disabled'
complete -c rerun -l wait -d 'Wait for the run to end and report its result (-t graph always waits)'
complete -c rerun -l dry-run -d 'Print the record(s) without starting anything'
complete -c rerun -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rerun -s V -l version -d 'Print version'
