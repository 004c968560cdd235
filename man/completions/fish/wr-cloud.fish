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
complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -f -a "cloud" -d 'The cloud: deploy a manager into one, tear it down, its servers, what its scheduler would do'
complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -f -a "runner" -d 'Run jobs of one group for the manager (started by the manager itself)'
complete -c wr-cloud -n "__fish_wr_cloud_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and not __fish_seen_subcommand_from start stop status help" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and not __fish_seen_subcommand_from start stop status help" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and not __fish_seen_subcommand_from start stop status help" -f -a "start" -d 'Start the manager in the background (or here with --foreground)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and not __fish_seen_subcommand_from start stop status help" -f -a "stop" -d 'Stop the manager; running jobs go on and report to the next manager'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and not __fish_seen_subcommand_from start stop status help" -f -a "status" -d 'Whether the manager runs (exit 0) or not (exit 1), with its ports and backup health'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and not __fish_seen_subcommand_from start stop status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l max_cores -d 'Cores of this host the jobs may use; -1 or absent: all, 0: none' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l max_ram -d 'MB of this host\'s memory the jobs may use; -1 or absent: all, 0: none' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -s t -l timeout -d 'Seconds to wait for the manager to answer after starting it' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l retry_delay -d 'Seconds before a failed job\'s first retry; each next waits twice as long (at most 30 min)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l backup_interval -d 'Seconds between database backups at least' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l touch_ttr -d 'Seconds a runner may go without touching its job before the job is lost' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l touch_every -d 'Seconds between a runner\'s touches' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l reserve_timeout -d 'Seconds a runner waits for another job of its group before it ends' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -s s -l scheduler -d 'local, or a cloud to spawn servers in: openstack or docker [managerscheduler]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l local_username -d 'The deployment\'s resource name (its prefix is wr-prod-NAME or wr-dev-NAME; default: $USER)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -s o -l cloud_os -d 'Image of new servers: a name, or the start of a name or id [cloudos]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -s u -l cloud_username -d 'Login name on new servers [clouduser]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -s r -l cloud_ram -d 'MB the image needs at least [cloudram]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -s d -l cloud_disk -d 'GB of disk new servers get at least [clouddisk]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -s l -l cloud_flavor -d 'A pattern flavor names must match [cloudflavor]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l cloud_flavor_sets -d 'Sets of flavor patterns, in order of preference: "a,b;c" [cloudflavorsets]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -s p -l cloud_script -d 'A script each new server runs before it takes work [cloudscript]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -s y -l cloud_destroy_script -d 'A script each server runs before it is destroyed [clouddestroyscript]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l cloud_config_files -d 'Files copied to each new server: src[:dst],… [cloudconfigfiles]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -s k -l cloud_keepalive -d 'Seconds an idle server lives; 0: for ever [cloudkeepalive]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -s m -l cloud_servers -d 'Servers to spawn at most; -1: the quota decides [cloudservers]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l cloud_spawns -d 'Spawns under way at once at most; 0: no cap [cloudspawns]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l cloud_auto_confirm_dead -d 'Minutes a bad server lives before it is destroyed; 0: until confirmed dead [cloudautoconfirmdead]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l cloud_cidr -d 'The network\'s CIDR [cloudcidr] (the network itself comes from the resource file)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand manager; and __fish_seen_subcommand_from start" -l cloud_check_every -d 'Seconds between checks of every server' -r
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
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -l cloud_os -d 'Cloud deployments: the image of servers for these jobs (a name, or the start of a name or id)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -l cloud_username -d 'Cloud deployments: the login name on that image' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -l cloud_ram -d 'Cloud deployments: memory that image needs at least (1G, 500M, or MB)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -l cloud_flavor -d 'Cloud deployments: the flavor (name or id) of servers for these jobs' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -l cloud_script -d 'Cloud deployments: a script new servers for these jobs run first (its contents are queued)' -r -F
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand add" -l cloud_config_files -d 'Cloud deployments: files copied to new servers for these jobs, after the deployment\'s: src[:dst],…' -r
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
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and not __fish_seen_subcommand_from deploy teardown servers plan help" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and not __fish_seen_subcommand_from deploy teardown servers plan help" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and not __fish_seen_subcommand_from deploy teardown servers plan help" -f -a "deploy" -d 'Deploy a manager into a cloud: the deployment\'s resources, a head node running the manager in cloud mode (it spawns servers for the queue), port forwards to it from here'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and not __fish_seen_subcommand_from deploy teardown servers plan help" -f -a "teardown" -d 'Remove a deployment: its queue saved (to S3, or fetched here), its manager stopped, its servers, addresses, router, network, security group and key removed'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and not __fish_seen_subcommand_from deploy teardown servers plan help" -f -a "servers" -d 'The cloud manager\'s bad servers (or all with --all), and destroying them'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and not __fish_seen_subcommand_from deploy teardown servers plan help" -f -a "plan" -d 'What the cloud scheduler would do now, for a cloud and queue described in JSON (flavors, quota, servers with their free room, queued groups, the deployment\'s limits): runners started on the servers there are, servers spawned with their flavors, spawns refused and why, groups that can never run. Touches no cloud. Schema: CLOUD PLAN below'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and not __fish_seen_subcommand_from deploy teardown servers plan help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -s p -l provider -d 'The cloud: openstack (OS_* variables) or docker (WR_DOCKER_CLOUD)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -l resource_name -d 'Names the deployment\'s resources, wr-prod-NAME or wr-dev-NAME (default: $USER; at most 18 characters)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -s o -l os -d 'Image of the servers: a name, or the start of a name or id [cloudos]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -s u -l username -d 'Login name on the servers [clouduser]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -s r -l os_ram -d 'MB the image needs at least [cloudram]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -s d -l os_disk -d 'GB of disk the servers get at least [clouddisk]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -s f -l flavor -d 'A pattern flavor names must match [cloudflavor]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -l manager_flavor -d 'A pattern for the head node\'s flavor (default: --flavor) [cloudflavormanager]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -l flavor_sets -d 'Sets of flavor patterns in order of preference, "a,b;c" [cloudflavorsets]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -s s -l script -d 'A script every new server runs before it takes work, the head node too [cloudscript]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -s y -l destroy_script -d 'A script each worker runs before it is destroyed [clouddestroyscript]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -l max_spawns -d 'Spawns under way at once at most; 0: no cap [cloudspawns]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -l max_local_cores -d 'Cores of the head node jobs may use; -1: all, 0: none' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -l max_local_ram -d 'MB of the head node\'s memory jobs may use; -1: all, 0: none' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -s x -l on_success -d 'A program run here after a deploy, with WR_MANAGERIP and WR_MANAGERCERTDOMAIN set [deploysuccessscript]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -s k -l keepalive -d 'Seconds an idle worker lives; 0: for ever [cloudkeepalive]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -s m -l max_servers -d 'Servers at most, the head node included; 0 or -1: the quota decides [cloudservers + 1]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -l network_gateway_ip -d 'The gateway of the deployment\'s network [cloudgateway]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -l network_cidr -d 'The deployment\'s network [cloudcidr]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -l network_dns -d 'DNS servers of the network, comma separated [clouddns]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -s c -l config_files -d 'Files copied to every new server: src[:dst],… [cloudconfigfiles]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -s t -l timeout -d 'Seconds to wait for the remote manager to start' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -l auto_confirm_dead -d 'Minutes a bad worker lives before it is destroyed; 0: until confirmed dead [cloudautoconfirmdead]' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -l check_every -d 'Seconds between the manager\'s checks of every worker' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -l retry_delay -d 'Seconds before a failed job\'s first retry (doubling each time, at most 30 min)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -l dry-run -d 'Say what would be made (the image, the head node\'s flavor, the names), and make nothing'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from deploy" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from teardown" -s p -l provider -d 'The cloud: openstack or docker' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from teardown" -l resource_name -d 'The deployment\'s resource name (default: $USER)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from teardown" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from teardown" -s f -l force -d 'Go on when the manager cannot be reached or its queue cannot be saved'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from teardown" -l dry-run -d 'Say what would be removed, and remove nothing'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from teardown" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from servers" -s i -l id -d 'The bad server with this id or name (with --confirmdead)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from servers" -l destroy -d 'Destroy this server (hostname, name or id), bad or not' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from servers" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from servers" -s d -l confirmdead -d 'Destroy bad servers (with --all or --id): their jobs are lost and retried elsewhere'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from servers" -s a -l all -d 'Every bad server (with --confirmdead); alone, list every server, good ones too'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from servers" -l dry-run -d 'Say which servers would be destroyed, and destroy nothing'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from servers" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from plan" -l deployment -d 'The deployment: production or development (else WR_DEPLOYMENT, else production)' -r
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from plan" -s h -l help -d 'Print help'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from help" -f -a "deploy" -d 'Deploy a manager into a cloud: the deployment\'s resources, a head node running the manager in cloud mode (it spawns servers for the queue), port forwards to it from here'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from help" -f -a "teardown" -d 'Remove a deployment: its queue saved (to S3, or fetched here), its manager stopped, its servers, addresses, router, network, security group and key removed'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand cloud; and __fish_seen_subcommand_from help" -f -a "servers" -d 'The cloud manager\'s bad servers (or all with --all), and destroying them'
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
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and not __fish_seen_subcommand_from manager add status kill remove retry conf cloud runner help" -f -a "cloud" -d 'The cloud: deploy a manager into one, tear it down, its servers, what its scheduler would do'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and not __fish_seen_subcommand_from manager add status kill remove retry conf cloud runner help" -f -a "runner" -d 'Run jobs of one group for the manager (started by the manager itself)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and not __fish_seen_subcommand_from manager add status kill remove retry conf cloud runner help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "start" -d 'Start the manager in the background (or here with --foreground)'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "stop" -d 'Stop the manager; running jobs go on and report to the next manager'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and __fish_seen_subcommand_from manager" -f -a "status" -d 'Whether the manager runs (exit 0) or not (exit 1), with its ports and backup health'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and __fish_seen_subcommand_from cloud" -f -a "deploy" -d 'Deploy a manager into a cloud: the deployment\'s resources, a head node running the manager in cloud mode (it spawns servers for the queue), port forwards to it from here'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and __fish_seen_subcommand_from cloud" -f -a "teardown" -d 'Remove a deployment: its queue saved (to S3, or fetched here), its manager stopped, its servers, addresses, router, network, security group and key removed'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and __fish_seen_subcommand_from cloud" -f -a "servers" -d 'The cloud manager\'s bad servers (or all with --all), and destroying them'
complete -c wr-cloud -n "__fish_wr_cloud_using_subcommand help; and __fish_seen_subcommand_from cloud" -f -a "plan" -d 'What the cloud scheduler would do now, for a cloud and queue described in JSON (flavors, quota, servers with their free room, queued groups, the deployment\'s limits): runners started on the servers there are, servers spawned with their flavors, spawns refused and why, groups that can never run. Touches no cloud. Schema: CLOUD PLAN below'
