complete -c dsdt-dockerize -l base-image -d 'The image to build on; it must be on the engine already (never pulled). A Python transform needs python3 in it' -r
complete -c dsdt-dockerize -l profile -d 'The AWS profile, for ECR (as AWS_PROFILE)' -r
complete -c dsdt-dockerize -l runtime -d 'The dsdt binary to ship as the runtime (default: the dsdt beside this program)' -r -F
complete -c dsdt-dockerize -l push -d 'Push the image to `[docker] registry` of Disdat\'s config (`*ECR*`: to the ECR repository, made when missing)'
complete -c dsdt-dockerize -l dry-run -d 'Say what would be built and pushed; change nothing'
complete -c dsdt-dockerize -s h -l help -d 'Print help'
complete -c dsdt-dockerize -s V -l version -d 'Print version'
