# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_service_ctl_global_optspecs
    string join \n c/cluster= y/soa-dir= dry-run backend= engine-timeout= git-timeout= lock-dir= lock-wait= h/help V/version
end

function __fish_service_ctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_service_ctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_service_ctl_using_subcommand
    set -l cmd (__fish_service_ctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c service-ctl -n "__fish_service_ctl_needs_command" -s c -l cluster -d 'The cluster (default: the system config\'s `cluster`)' -r
complete -c service-ctl -n "__fish_service_ctl_needs_command" -s y -l soa-dir -d 'The soa-configs root' -r -F
complete -c service-ctl -n "__fish_service_ctl_needs_command" -l backend -d 'Where the cluster runs: docker (this host\'s engine), swarm (the Docker Swarm whose manager DOCKER_HOST names), marathon:URL[,URL…] (long-running instances on Marathon; http[s]://[user:password@]host:port, tried in turn; `marathon` alone: the system config\'s marathon_servers), chronos:URL[,URL…] (scheduled jobs on Chronos; `chronos` alone: the system config\'s chronos_config), or snapshot:FILE (a saved state, read-only: with --dry-run only)' -r
complete -c service-ctl -n "__fish_service_ctl_needs_command" -l engine-timeout -d 'Seconds to wait for the Docker engine (or swarm manager) to answer' -r
complete -c service-ctl -n "__fish_service_ctl_needs_command" -l git-timeout -d 'Seconds to wait for a remote git repository' -r
complete -c service-ctl -n "__fish_service_ctl_needs_command" -l lock-dir -d 'Where setup-service\'s per-instance lock files live' -r -F
complete -c service-ctl -n "__fish_service_ctl_needs_command" -l lock-wait -d 'Seconds to wait for a setup-service pass holding the instance' -r
complete -c service-ctl -n "__fish_service_ctl_needs_command" -l dry-run -d 'Say what would be done (same JSON), change nothing'
complete -c service-ctl -n "__fish_service_ctl_needs_command" -s h -l help -d 'Print help'
complete -c service-ctl -n "__fish_service_ctl_needs_command" -s V -l version -d 'Print version'
complete -c service-ctl -n "__fish_service_ctl_needs_command" -f -a "start" -d 'Push a start control tag: the instance runs (again) until a stop or a new deploy'
complete -c service-ctl -n "__fish_service_ctl_needs_command" -f -a "stop" -d 'Push a stop control tag: the instance stops until a start or a new deploy'
complete -c service-ctl -n "__fish_service_ctl_needs_command" -f -a "restart" -d 'Push a start control tag with a new timestamp: a new app, bounced in'
complete -c service-ctl -n "__fish_service_ctl_needs_command" -f -a "emergency-start" -d 'Now: launch missing tasks (long-running) or run the job (scheduled)'
complete -c service-ctl -n "__fish_service_ctl_needs_command" -f -a "emergency-stop" -d 'Now: kill every task without draining (long-running), or kill the runs in flight and hold the job until the next deploy (scheduled)'
complete -c service-ctl -n "__fish_service_ctl_needs_command" -f -a "status" -d 'The instance as configs, deployments.json and the cluster see it'
complete -c service-ctl -n "__fish_service_ctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand start" -s c -l cluster -d 'The cluster (default: the system config\'s `cluster`)' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand start" -s y -l soa-dir -d 'The soa-configs root' -r -F
complete -c service-ctl -n "__fish_service_ctl_using_subcommand start" -l backend -d 'Where the cluster runs: docker (this host\'s engine), swarm (the Docker Swarm whose manager DOCKER_HOST names), marathon:URL[,URL…] (long-running instances on Marathon; http[s]://[user:password@]host:port, tried in turn; `marathon` alone: the system config\'s marathon_servers), chronos:URL[,URL…] (scheduled jobs on Chronos; `chronos` alone: the system config\'s chronos_config), or snapshot:FILE (a saved state, read-only: with --dry-run only)' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand start" -l engine-timeout -d 'Seconds to wait for the Docker engine (or swarm manager) to answer' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand start" -l git-timeout -d 'Seconds to wait for a remote git repository' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand start" -l lock-dir -d 'Where setup-service\'s per-instance lock files live' -r -F
complete -c service-ctl -n "__fish_service_ctl_using_subcommand start" -l lock-wait -d 'Seconds to wait for a setup-service pass holding the instance' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand start" -l dry-run -d 'Say what would be done (same JSON), change nothing'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand start" -s h -l help -d 'Print help'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand stop" -s c -l cluster -d 'The cluster (default: the system config\'s `cluster`)' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand stop" -s y -l soa-dir -d 'The soa-configs root' -r -F
complete -c service-ctl -n "__fish_service_ctl_using_subcommand stop" -l backend -d 'Where the cluster runs: docker (this host\'s engine), swarm (the Docker Swarm whose manager DOCKER_HOST names), marathon:URL[,URL…] (long-running instances on Marathon; http[s]://[user:password@]host:port, tried in turn; `marathon` alone: the system config\'s marathon_servers), chronos:URL[,URL…] (scheduled jobs on Chronos; `chronos` alone: the system config\'s chronos_config), or snapshot:FILE (a saved state, read-only: with --dry-run only)' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand stop" -l engine-timeout -d 'Seconds to wait for the Docker engine (or swarm manager) to answer' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand stop" -l git-timeout -d 'Seconds to wait for a remote git repository' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand stop" -l lock-dir -d 'Where setup-service\'s per-instance lock files live' -r -F
complete -c service-ctl -n "__fish_service_ctl_using_subcommand stop" -l lock-wait -d 'Seconds to wait for a setup-service pass holding the instance' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand stop" -l dry-run -d 'Say what would be done (same JSON), change nothing'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand stop" -s h -l help -d 'Print help'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand restart" -s c -l cluster -d 'The cluster (default: the system config\'s `cluster`)' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand restart" -s y -l soa-dir -d 'The soa-configs root' -r -F
complete -c service-ctl -n "__fish_service_ctl_using_subcommand restart" -l backend -d 'Where the cluster runs: docker (this host\'s engine), swarm (the Docker Swarm whose manager DOCKER_HOST names), marathon:URL[,URL…] (long-running instances on Marathon; http[s]://[user:password@]host:port, tried in turn; `marathon` alone: the system config\'s marathon_servers), chronos:URL[,URL…] (scheduled jobs on Chronos; `chronos` alone: the system config\'s chronos_config), or snapshot:FILE (a saved state, read-only: with --dry-run only)' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand restart" -l engine-timeout -d 'Seconds to wait for the Docker engine (or swarm manager) to answer' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand restart" -l git-timeout -d 'Seconds to wait for a remote git repository' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand restart" -l lock-dir -d 'Where setup-service\'s per-instance lock files live' -r -F
complete -c service-ctl -n "__fish_service_ctl_using_subcommand restart" -l lock-wait -d 'Seconds to wait for a setup-service pass holding the instance' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand restart" -l dry-run -d 'Say what would be done (same JSON), change nothing'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand restart" -s h -l help -d 'Print help'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-start" -s c -l cluster -d 'The cluster (default: the system config\'s `cluster`)' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-start" -s y -l soa-dir -d 'The soa-configs root' -r -F
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-start" -l backend -d 'Where the cluster runs: docker (this host\'s engine), swarm (the Docker Swarm whose manager DOCKER_HOST names), marathon:URL[,URL…] (long-running instances on Marathon; http[s]://[user:password@]host:port, tried in turn; `marathon` alone: the system config\'s marathon_servers), chronos:URL[,URL…] (scheduled jobs on Chronos; `chronos` alone: the system config\'s chronos_config), or snapshot:FILE (a saved state, read-only: with --dry-run only)' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-start" -l engine-timeout -d 'Seconds to wait for the Docker engine (or swarm manager) to answer' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-start" -l git-timeout -d 'Seconds to wait for a remote git repository' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-start" -l lock-dir -d 'Where setup-service\'s per-instance lock files live' -r -F
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-start" -l lock-wait -d 'Seconds to wait for a setup-service pass holding the instance' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-start" -l dry-run -d 'Say what would be done (same JSON), change nothing'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-start" -s h -l help -d 'Print help'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-stop" -s c -l cluster -d 'The cluster (default: the system config\'s `cluster`)' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-stop" -s y -l soa-dir -d 'The soa-configs root' -r -F
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-stop" -l backend -d 'Where the cluster runs: docker (this host\'s engine), swarm (the Docker Swarm whose manager DOCKER_HOST names), marathon:URL[,URL…] (long-running instances on Marathon; http[s]://[user:password@]host:port, tried in turn; `marathon` alone: the system config\'s marathon_servers), chronos:URL[,URL…] (scheduled jobs on Chronos; `chronos` alone: the system config\'s chronos_config), or snapshot:FILE (a saved state, read-only: with --dry-run only)' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-stop" -l engine-timeout -d 'Seconds to wait for the Docker engine (or swarm manager) to answer' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-stop" -l git-timeout -d 'Seconds to wait for a remote git repository' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-stop" -l lock-dir -d 'Where setup-service\'s per-instance lock files live' -r -F
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-stop" -l lock-wait -d 'Seconds to wait for a setup-service pass holding the instance' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-stop" -l dry-run -d 'Say what would be done (same JSON), change nothing'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand emergency-stop" -s h -l help -d 'Print help'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand status" -l runs -d 'How many of the latest runs and reruns to show (scheduled jobs)' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand status" -s c -l cluster -d 'The cluster (default: the system config\'s `cluster`)' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand status" -s y -l soa-dir -d 'The soa-configs root' -r -F
complete -c service-ctl -n "__fish_service_ctl_using_subcommand status" -l backend -d 'Where the cluster runs: docker (this host\'s engine), swarm (the Docker Swarm whose manager DOCKER_HOST names), marathon:URL[,URL…] (long-running instances on Marathon; http[s]://[user:password@]host:port, tried in turn; `marathon` alone: the system config\'s marathon_servers), chronos:URL[,URL…] (scheduled jobs on Chronos; `chronos` alone: the system config\'s chronos_config), or snapshot:FILE (a saved state, read-only: with --dry-run only)' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand status" -l engine-timeout -d 'Seconds to wait for the Docker engine (or swarm manager) to answer' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand status" -l git-timeout -d 'Seconds to wait for a remote git repository' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand status" -l lock-dir -d 'Where setup-service\'s per-instance lock files live' -r -F
complete -c service-ctl -n "__fish_service_ctl_using_subcommand status" -l lock-wait -d 'Seconds to wait for a setup-service pass holding the instance' -r
complete -c service-ctl -n "__fish_service_ctl_using_subcommand status" -l dry-run -d 'Say what would be done (same JSON), change nothing'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand status" -s h -l help -d 'Print help'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart emergency-start emergency-stop status help" -f -a "start" -d 'Push a start control tag: the instance runs (again) until a stop or a new deploy'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart emergency-start emergency-stop status help" -f -a "stop" -d 'Push a stop control tag: the instance stops until a start or a new deploy'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart emergency-start emergency-stop status help" -f -a "restart" -d 'Push a start control tag with a new timestamp: a new app, bounced in'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart emergency-start emergency-stop status help" -f -a "emergency-start" -d 'Now: launch missing tasks (long-running) or run the job (scheduled)'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart emergency-start emergency-stop status help" -f -a "emergency-stop" -d 'Now: kill every task without draining (long-running), or kill the runs in flight and hold the job until the next deploy (scheduled)'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart emergency-start emergency-stop status help" -f -a "status" -d 'The instance as configs, deployments.json and the cluster see it'
complete -c service-ctl -n "__fish_service_ctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart emergency-start emergency-stop status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
