complete -c dsdt-run -l backend -d 'Where the container runs: the local Docker engine, or AWS Batch' -r -f -a "Local\t''
AWSBatch\t''"
complete -c dsdt-run -l use-aws-session-token -d 'Pass the container temporary credentials (STS GetSessionToken) valid this many seconds' -r
complete -c dsdt-run -l input-tag -d 'Take the input bundle with tag KEY:VALUE (repeatable; also -it)' -r
complete -c dsdt-run -l output-tag -d 'Tag the output bundle KEY:VALUE (repeatable; also -ot)' -r
complete -c dsdt-run -l image -d 'The image to run instead of the transform\'s own (disdat-<module>…:latest)' -r
complete -c dsdt-run -l vcpus -d 'AWSBatch: the job definition\'s vCPUs' -r
complete -c dsdt-run -l memory -d 'AWSBatch: the job definition\'s memory, MiB' -r
complete -c dsdt-run -l job-role-arn -d 'AWSBatch: the role the job runs as' -r
complete -c dsdt-run -l profile -d 'The AWS profile (as AWS_PROFILE)' -r
complete -c dsdt-run -l force -d 'Kept for Disdat\'s command line: runs are never skipped'
complete -c dsdt-run -l no-push-input -d 'Do not push the input bundle to the remote first (it is there already)'
complete -c dsdt-run -l wait -d 'AWSBatch: wait for the job to end, exit with its result, and pull the output bundle'
complete -c dsdt-run -l dry-run -d 'Say what would run (the container, or the Batch requests) and change nothing'
complete -c dsdt-run -s h -l help -d 'Print help'
complete -c dsdt-run -s V -l version -d 'Print version'
