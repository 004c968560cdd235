# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_wr_cloud_global_optspecs
    string join \n deployment= h/help V/version
end

function __fish_wr_cloud_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_wr_cloud_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_wr_cloud_using_subcommand
    set -l cmd (__fish_wr_cloud_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -s V -l version -d 'Print version'
complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -f -a "manager" -d 'Start, stop or ask after the manager of this deployment'
complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -f -a "add" -d 'Queue commands: one a line on stdin (or -f FILE); a line may be a command, a command + TAB + JSON options, or a JSON object with "cmd". All lines are checked before any is queued'
complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -f -a "status" -d 'The jobs, as JSON lines (or counts per state with --counts)'
complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -f -a "kill" -d 'Kill running jobs (they are buried, for `retry`)'
complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -f -a "remove" -d 'Remove jobs that are not running'
complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -f -a "retry" -d 'Make buried jobs ready again'
complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -f -a "conf" -d 'The merged configuration: every key, its value and where it came from'
complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -f -a "cloud" -d 'The cloud: what its scheduler would do (`plan`)'
complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -f -a "runner" -d 'Run jobs of one group for the manager (started by the manager itself)'
complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and not __fish_seen_subcommand_from start stop status help" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and not __fish_seen_subcommand_from start stop status help" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and not __fish_seen_subcommand_from start stop status help" -f -a "start" -d 'Start the manager in the background (or here with --foreground)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and not __fish_seen_subcommand_from start stop status help" -f -a "stop" -d 'Stop the manager; running jobs go on and report to the next manager'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and not __fish_seen_subcommand_from start stop status help" -f -a "status" -d 'Whether the manager runs (exit 0) or not (exit 1), with its ports and backup health'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and not __fish_seen_subcommand_from start stop status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l max_cores -d 'Cores of this host the jobs may use (default: all)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l max_ram -d 'MB of this host\'s memory the jobs may use (default: all)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -s t -l timeout -d 'Seconds to wait for the manager to answer after starting it' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l retry_delay -d 'Seconds before a failed job\'s first retry; each next waits twice as long (at most 30 min)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l backup_interval -d 'Seconds between database backups at least' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l touch_ttr -d 'Seconds a runner may go without touching its job before the job is lost' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l touch_every -d 'Seconds between a runner\'s touches' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l reserve_timeout -d 'Seconds a runner waits for another job of its group before it ends' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -s f -l foreground -d 'Run in this process instead of in the background'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l dry-run -d 'Say what would start, and start nothing'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from stop" -l timeout -d 'Seconds to wait for it to end' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from stop" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from stop" -l dry-run
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from status" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from help" -f -a "start" -d 'Start the manager in the background (or here with --foreground)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stop the manager; running jobs go on and report to the next manager'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from help" -f -a "status" -d 'Whether the manager runs (exit 0) or not (exit 1), with its ports and backup health'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -s f -l file -d 'Read the commands from FILE instead of stdin' -r -F
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -s i -l rep_grp -d 'Reporting group of the jobs' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -s g -l req_grp -d 'Requirements group (default: the base name of the command\'s first word)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -l cpus -d 'Cores each job needs (0 allowed)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -s m -l memory -d 'Memory each job needs: 1G, 500M, or MB' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -l disk -d 'Disk each job needs, GB' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -s t -l time -d 'Time each job needs: 1h, 30m, 90s, or seconds' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -s r -l retries -d 'Retries after a failure before a job is buried' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -s p -l priority -d 'Priority 0-255; higher runs first' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -s c -l cwd -d 'Directory the commands run in (default: the current one)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -s e -l env -d 'KEY=VALUE pairs for the commands\' environment, comma separated' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -l dep_grps -d 'Dependency groups the jobs belong to, comma separated' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -s d -l deps -d 'Dependency groups whose jobs must all be complete first, comma separated' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -l dry-run -d 'Print the jobs that would be queued (JSON lines), and queue nothing'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand status" -s i -l rep_grp -d 'Only jobs of this reporting group' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand status" -s s -l state -d 'Only jobs in this state' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand status" -l limit -d 'At most this many jobs' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand status" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand status" -l counts -d 'Counts per state instead of jobs'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand status" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand kill" -s i -l rep_grp -d 'The jobs of this reporting group' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand kill" -l id -d 'These jobs, by id' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand kill" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand kill" -s a -l all -d 'Every job'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand kill" -l dry-run -d 'Say how many jobs it would act on, and change nothing'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand kill" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand remove" -s i -l rep_grp -d 'The jobs of this reporting group' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand remove" -l id -d 'These jobs, by id' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand remove" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand remove" -s a -l all -d 'Every job'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand remove" -l dry-run -d 'Say how many jobs it would act on, and change nothing'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand remove" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand retry" -s i -l rep_grp -d 'The jobs of this reporting group' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand retry" -l id -d 'These jobs, by id' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand retry" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand retry" -s a -l all -d 'Every job'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand retry" -l dry-run -d 'Say how many jobs it would act on, and change nothing'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand retry" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand conf" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand conf" -l json -d 'One JSON object instead of lines'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand conf" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and not __fish_seen_subcommand_from plan help" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and not __fish_seen_subcommand_from plan help" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and not __fish_seen_subcommand_from plan help" -f -a "plan" -d 'What the cloud scheduler would do now, for a cloud and queue described in JSON (flavors, quota, servers with their free room, queued groups, the deployment\'s limits): runners started on the servers there are, servers spawned with their flavors, spawns refused and why, groups that can never run. Touches no cloud. Schema: CLOUD PLAN below'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and not __fish_seen_subcommand_from plan help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from plan" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from plan" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from help" -f -a "plan" -d 'What the cloud scheduler would do now, for a cloud and queue described in JSON (flavors, quota, servers with their free room, queued groups, the deployment\'s limits): runners started on the servers there are, servers spawned with their flavors, spawns refused and why, groups that can never run. Touches no cloud. Schema: CLOUD PLAN below'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand runner" -l server -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand runner" -l ca -r -F
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand runner" -l token-file -r -F
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand runner" -l runner-id -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand runner" -l group -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand runner" -l reserve-timeout -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand runner" -l touch-every -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand runner" -l shell -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand runner" -l umask -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand runner" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand runner" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and not __fish_seen_subcommand_from manager add status kill remove retry conf cloud runner help" -f -a "manager" -d 'Start, stop or ask after the manager of this deployment'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and not __fish_seen_subcommand_from manager add status kill remove retry conf cloud runner help" -f -a "add" -d 'Queue commands: one a line on stdin (or -f FILE); a line may be a command, a command + TAB + JSON options, or a JSON object with "cmd". All lines are checked before any is queued'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and not __fish_seen_subcommand_from manager add status kill remove retry conf cloud runner help" -f -a "status" -d 'The jobs, as JSON lines (or counts per state with --counts)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and not __fish_seen_subcommand_from manager add status kill remove retry conf cloud runner help" -f -a "kill" -d 'Kill running jobs (they are buried, for `retry`)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and not __fish_seen_subcommand_from manager add status kill remove retry conf cloud runner help" -f -a "remove" -d 'Remove jobs that are not running'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and not __fish_seen_subcommand_from manager add status kill remove retry conf cloud runner help" -f -a "retry" -d 'Make buried jobs ready again'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and not __fish_seen_subcommand_from manager add status kill remove retry conf cloud runner help" -f -a "conf" -d 'The merged configuration: every key, its value and where it came from'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and not __fish_seen_subcommand_from manager add status kill remove retry conf cloud runner help" -f -a "cloud" -d 'The cloud: what its scheduler would do (`plan`)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and not __fish_seen_subcommand_from manager add status kill remove retry conf cloud runner help" -f -a "runner" -d 'Run jobs of one group for the manager (started by the manager itself)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and not __fish_seen_subcommand_from manager add status kill remove retry conf cloud runner help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "start" -d 'Start the manager in the background (or here with --foreground)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "stop" -d 'Stop the manager; running jobs go on and report to the next manager'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "status" -d 'Whether the manager runs (exit 0) or not (exit 1), with its ports and backup health'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and __fish_seen_subcommand_from cloud" -f -a "plan" -d 'What the cloud scheduler would do now, for a cloud and queue described in JSON (flavors, quota, servers with their free room, queued groups, the deployment\'s limits): runners started on the servers there are, servers spawned with their flavors, spawns refused and why, groups that can never run. Touches no cloud. Schema: CLOUD PLAN below'
