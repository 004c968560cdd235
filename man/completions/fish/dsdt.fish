# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dsdt_global_optspecs
    string join \n profile= verbose h/help V/version
end

function __fish_dsdt_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dsdt_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dsdt_using_subcommand
    set -l cmd (__fish_dsdt_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dsdt -n "__fish_dsdt_needs_command" -l profile -d 'The AWS profile for remotes (as AWS_PROFILE)' -r
complete -c dsdt -n "__fish_dsdt_needs_command" -l verbose -d 'Say more on stderr'
complete -c dsdt -n "__fish_dsdt_needs_command" -s h -l help -d 'Print help'
complete -c dsdt -n "__fish_dsdt_needs_command" -s V -l version -d 'Print version'
complete -c dsdt -n "__fish_dsdt_needs_command" -f -a "init" -d 'Write the Disdat config (~/.config/disdat/disdat.cfg)'
complete -c dsdt -n "__fish_dsdt_needs_command" -f -a "context" -d 'Make the context [REMOTE/]LOCAL, or with no argument list the contexts'
complete -c dsdt -n "__fish_dsdt_needs_command" -f -a "switch" -d 'Make LOCAL the current context'
complete -c dsdt -n "__fish_dsdt_needs_command" -f -a "add" -d 'Make a bundle NAME of the files (a directory: every file below it)'
complete -c dsdt -n "__fish_dsdt_needs_command" -f -a "commit" -d 'Commit the latest bundle NAME (or the bundle -u UUID)'
complete -c dsdt -n "__fish_dsdt_needs_command" -f -a "ls" -d 'List bundles: names, or with -v one line each'
complete -c dsdt -n "__fish_dsdt_needs_command" -f -a "cat" -d 'Print the latest bundle\'s value (its files\' paths)'
complete -c dsdt -n "__fish_dsdt_needs_command" -f -a "rm" -d 'Remove the latest bundle NAME (or -u UUID; --all: every version; --old: all but the latest)'
complete -c dsdt -n "__fish_dsdt_needs_command" -f -a "remote" -d 'Bind the current context to remote context REMOTE at URL (s3://BUCKET/PREFIX, or file:///DIRECTORY)'
complete -c dsdt -n "__fish_dsdt_needs_command" -f -a "push" -d 'Push the committed bundle NAME (or -u UUID) to the remote; with neither, every committed bundle\'s files the remote lacks'
complete -c dsdt -n "__fish_dsdt_needs_command" -f -a "pull" -d 'Pull the remote\'s bundles (NAME or -u UUID: that one) without their data; -l fetches the data too'
complete -c dsdt -n "__fish_dsdt_needs_command" -f -a "lineage" -d 'The lineage of the bundle UUID, then of what it depends on, breadth first'
complete -c dsdt -n "__fish_dsdt_needs_command" -f -a "entrypoint" -d 'The runtime inside a transform\'s image (its entrypoint, which dsdt dockerize sets): pull the input bundle, run the transform, commit and push the output bundle'
complete -c dsdt -n "__fish_dsdt_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dsdt -n "__fish_dsdt_using_subcommand init" -l profile -d 'The AWS profile for remotes (as AWS_PROFILE)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand init" -l verbose -d 'Say more on stderr'
complete -c dsdt -n "__fish_dsdt_using_subcommand init" -s h -l help -d 'Print help'
complete -c dsdt -n "__fish_dsdt_using_subcommand context" -l profile -d 'The AWS profile for remotes (as AWS_PROFILE)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand context" -l verbose -d 'Say more on stderr'
complete -c dsdt -n "__fish_dsdt_using_subcommand context" -s h -l help -d 'Print help'
complete -c dsdt -n "__fish_dsdt_using_subcommand switch" -l profile -d 'The AWS profile for remotes (as AWS_PROFILE)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand switch" -l verbose -d 'Say more on stderr'
complete -c dsdt -n "__fish_dsdt_using_subcommand switch" -s h -l help -d 'Print help'
complete -c dsdt -n "__fish_dsdt_using_subcommand add" -s t -l tag -d 'A tag KEY:VALUE (repeatable)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand add" -l profile -d 'The AWS profile for remotes (as AWS_PROFILE)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand add" -l verbose -d 'Say more on stderr'
complete -c dsdt -n "__fish_dsdt_using_subcommand add" -s h -l help -d 'Print help'
complete -c dsdt -n "__fish_dsdt_using_subcommand commit" -s u -l uuid -r
complete -c dsdt -n "__fish_dsdt_using_subcommand commit" -s t -l tag -d 'Only bundles with tag KEY:VALUE (repeatable)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand commit" -l profile -d 'The AWS profile for remotes (as AWS_PROFILE)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand commit" -l verbose -d 'Say more on stderr'
complete -c dsdt -n "__fish_dsdt_using_subcommand commit" -s h -l help -d 'Print help'
complete -c dsdt -n "__fish_dsdt_using_subcommand ls" -s u -l uuid -r
complete -c dsdt -n "__fish_dsdt_using_subcommand ls" -s t -l tag -d 'Only bundles with tag KEY:VALUE (repeatable)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand ls" -l profile -d 'The AWS profile for remotes (as AWS_PROFILE)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand ls" -s v -l verbose -d 'One line per bundle: name, processing name, owner, date, committed, uuid'
complete -c dsdt -n "__fish_dsdt_using_subcommand ls" -s p -l print-tags -d 'With -v: the tags'
complete -c dsdt -n "__fish_dsdt_using_subcommand ls" -s a -l print-args -d 'With -v: the arguments (__param tags)'
complete -c dsdt -n "__fish_dsdt_using_subcommand ls" -s c -l committed -d 'Committed bundles only'
complete -c dsdt -n "__fish_dsdt_using_subcommand ls" -l uncommitted -d 'Uncommitted bundles only'
complete -c dsdt -n "__fish_dsdt_using_subcommand ls" -s l -l latest -d 'The latest bundle of each name only'
complete -c dsdt -n "__fish_dsdt_using_subcommand ls" -s i -l intermediates -d 'Intermediate outputs only (bundles without the root_task tag)'
complete -c dsdt -n "__fish_dsdt_using_subcommand ls" -s r -l roots -d 'Outputs of root tasks only (tag root_task=True)'
complete -c dsdt -n "__fish_dsdt_using_subcommand ls" -l json -d 'JSON lines, one per bundle'
complete -c dsdt -n "__fish_dsdt_using_subcommand ls" -s h -l help -d 'Print help'
complete -c dsdt -n "__fish_dsdt_using_subcommand cat" -s u -l uuid -r
complete -c dsdt -n "__fish_dsdt_using_subcommand cat" -s t -l tag -d 'Only bundles with tag KEY:VALUE (repeatable)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand cat" -l profile -d 'The AWS profile for remotes (as AWS_PROFILE)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand cat" -l json -d 'One JSON line instead of Disdat\'s text'
complete -c dsdt -n "__fish_dsdt_using_subcommand cat" -l verbose -d 'Say more on stderr'
complete -c dsdt -n "__fish_dsdt_using_subcommand cat" -s h -l help -d 'Print help'
complete -c dsdt -n "__fish_dsdt_using_subcommand rm" -s u -l uuid -r
complete -c dsdt -n "__fish_dsdt_using_subcommand rm" -s t -l tag -d 'Only bundles with tag KEY:VALUE (repeatable)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand rm" -l profile -d 'The AWS profile for remotes (as AWS_PROFILE)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand rm" -l all
complete -c dsdt -n "__fish_dsdt_using_subcommand rm" -l old
complete -c dsdt -n "__fish_dsdt_using_subcommand rm" -l verbose -d 'Say more on stderr'
complete -c dsdt -n "__fish_dsdt_using_subcommand rm" -s h -l help -d 'Print help'
complete -c dsdt -n "__fish_dsdt_using_subcommand remote" -l profile -d 'The AWS profile for remotes (as AWS_PROFILE)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand remote" -l verbose -d 'Say more on stderr'
complete -c dsdt -n "__fish_dsdt_using_subcommand remote" -s h -l help -d 'Print help'
complete -c dsdt -n "__fish_dsdt_using_subcommand push" -s u -l uuid -r
complete -c dsdt -n "__fish_dsdt_using_subcommand push" -s t -l tag -d 'Only bundles with tag KEY:VALUE (repeatable)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand push" -l profile -d 'The AWS profile for remotes (as AWS_PROFILE)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand push" -l json -d 'One JSON line instead of Disdat\'s text'
complete -c dsdt -n "__fish_dsdt_using_subcommand push" -l verbose -d 'Say more on stderr'
complete -c dsdt -n "__fish_dsdt_using_subcommand push" -s h -l help -d 'Print help'
complete -c dsdt -n "__fish_dsdt_using_subcommand pull" -s u -l uuid -r
complete -c dsdt -n "__fish_dsdt_using_subcommand pull" -s t -l tag -d 'Only bundles with tag KEY:VALUE (repeatable)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand pull" -l profile -d 'The AWS profile for remotes (as AWS_PROFILE)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand pull" -s l -l localize -d 'Fetch the bundles\' data files as well'
complete -c dsdt -n "__fish_dsdt_using_subcommand pull" -l json -d 'One JSON line instead of Disdat\'s text'
complete -c dsdt -n "__fish_dsdt_using_subcommand pull" -l verbose -d 'Say more on stderr'
complete -c dsdt -n "__fish_dsdt_using_subcommand pull" -s h -l help -d 'Print help'
complete -c dsdt -n "__fish_dsdt_using_subcommand lineage" -s d -l depth -d 'How many levels of dependencies to follow' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand lineage" -l profile -d 'The AWS profile for remotes (as AWS_PROFILE)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand lineage" -s f -l follow -d 'Follow the dependencies (they always are; kept for Disdat\'s command line)'
complete -c dsdt -n "__fish_dsdt_using_subcommand lineage" -l json -d 'JSON lines, one per bundle reached, instead of Disdat\'s text'
complete -c dsdt -n "__fish_dsdt_using_subcommand lineage" -l verbose -d 'Say more on stderr'
complete -c dsdt -n "__fish_dsdt_using_subcommand lineage" -s h -l help -d 'Print help'
complete -c dsdt -n "__fish_dsdt_using_subcommand entrypoint" -l pipeline -d 'The pipeline directory in the image' -r -F
complete -c dsdt -n "__fish_dsdt_using_subcommand entrypoint" -l pipe-cls -d 'The transform: a Python class `module.submodule.Class` of the pipeline, or an executable\'s path inside it' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand entrypoint" -l output-bundle-uuid -d 'The uuid the output bundle gets' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand entrypoint" -l remote -d 'The remote: s3://BUCKET[/PREFIX] (or file:///DIR)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand entrypoint" -l branch -d 'The context, REMOTE/LOCAL (a bare LOCAL is its own remote context)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand entrypoint" -l input-tag -d 'Take the input bundle with tag KEY:VALUE (repeatable)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand entrypoint" -l output-tag -d 'Tag the output bundle KEY:VALUE (repeatable)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand entrypoint" -l profile -d 'The AWS profile for remotes (as AWS_PROFILE)' -r
complete -c dsdt -n "__fish_dsdt_using_subcommand entrypoint" -l verbose -d 'Say more on stderr'
complete -c dsdt -n "__fish_dsdt_using_subcommand entrypoint" -s h -l help -d 'Print help'
complete -c dsdt -n "__fish_dsdt_using_subcommand help; and not __fish_seen_subcommand_from init context switch add commit ls cat rm remote push pull lineage entrypoint help" -f -a "init" -d 'Write the Disdat config (~/.config/disdat/disdat.cfg)'
complete -c dsdt -n "__fish_dsdt_using_subcommand help; and not __fish_seen_subcommand_from init context switch add commit ls cat rm remote push pull lineage entrypoint help" -f -a "context" -d 'Make the context [REMOTE/]LOCAL, or with no argument list the contexts'
complete -c dsdt -n "__fish_dsdt_using_subcommand help; and not __fish_seen_subcommand_from init context switch add commit ls cat rm remote push pull lineage entrypoint help" -f -a "switch" -d 'Make LOCAL the current context'
complete -c dsdt -n "__fish_dsdt_using_subcommand help; and not __fish_seen_subcommand_from init context switch add commit ls cat rm remote push pull lineage entrypoint help" -f -a "add" -d 'Make a bundle NAME of the files (a directory: every file below it)'
complete -c dsdt -n "__fish_dsdt_using_subcommand help; and not __fish_seen_subcommand_from init context switch add commit ls cat rm remote push pull lineage entrypoint help" -f -a "commit" -d 'Commit the latest bundle NAME (or the bundle -u UUID)'
complete -c dsdt -n "__fish_dsdt_using_subcommand help; and not __fish_seen_subcommand_from init context switch add commit ls cat rm remote push pull lineage entrypoint help" -f -a "ls" -d 'List bundles: names, or with -v one line each'
complete -c dsdt -n "__fish_dsdt_using_subcommand help; and not __fish_seen_subcommand_from init context switch add commit ls cat rm remote push pull lineage entrypoint help" -f -a "cat" -d 'Print the latest bundle\'s value (its files\' paths)'
complete -c dsdt -n "__fish_dsdt_using_subcommand help; and not __fish_seen_subcommand_from init context switch add commit ls cat rm remote push pull lineage entrypoint help" -f -a "rm" -d 'Remove the latest bundle NAME (or -u UUID; --all: every version; --old: all but the latest)'
complete -c dsdt -n "__fish_dsdt_using_subcommand help; and not __fish_seen_subcommand_from init context switch add commit ls cat rm remote push pull lineage entrypoint help" -f -a "remote" -d 'Bind the current context to remote context REMOTE at URL (s3://BUCKET/PREFIX, or file:///DIRECTORY)'
complete -c dsdt -n "__fish_dsdt_using_subcommand help; and not __fish_seen_subcommand_from init context switch add commit ls cat rm remote push pull lineage entrypoint help" -f -a "push" -d 'Push the committed bundle NAME (or -u UUID) to the remote; with neither, every committed bundle\'s files the remote lacks'
complete -c dsdt -n "__fish_dsdt_using_subcommand help; and not __fish_seen_subcommand_from init context switch add commit ls cat rm remote push pull lineage entrypoint help" -f -a "pull" -d 'Pull the remote\'s bundles (NAME or -u UUID: that one) without their data; -l fetches the data too'
complete -c dsdt -n "__fish_dsdt_using_subcommand help; and not __fish_seen_subcommand_from init context switch add commit ls cat rm remote push pull lineage entrypoint help" -f -a "lineage" -d 'The lineage of the bundle UUID, then of what it depends on, breadth first'
complete -c dsdt -n "__fish_dsdt_using_subcommand help; and not __fish_seen_subcommand_from init context switch add commit ls cat rm remote push pull lineage entrypoint help" -f -a "entrypoint" -d 'The runtime inside a transform\'s image (its entrypoint, which dsdt dockerize sets): pull the input bundle, run the transform, commit and push the output bundle'
complete -c dsdt -n "__fish_dsdt_using_subcommand help; and not __fish_seen_subcommand_from init context switch add commit ls cat rm remote push pull lineage entrypoint help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
