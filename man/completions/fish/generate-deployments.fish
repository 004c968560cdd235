complete -c generate-deployments -s d -l soa-dir -d 'The soa-configs root' -r -F
complete -c generate-deployments -s s -l service -d 'The service to generate deployments.json for' -r
complete -c generate-deployments -s o -l output -d 'Write the file here instead of <SOA_DIR>/<SERVICE>/deployments.json (\'-\': stdout, in place of the summary line)' -r -F
complete -c generate-deployments -s j -l jobs -d 'Services processed at once with --all (default: the number of cores)' -r
complete -c generate-deployments -l git-timeout -d 'Seconds to wait for a remote git repository before giving up on it' -r
complete -c generate-deployments -l all -d 'Generate for every service of the soa-configs root'
complete -c generate-deployments -s v -l verbose -d 'Say what is done for each service on stderr'
complete -c generate-deployments -l dry-run -d 'Compute and report, but write nothing'
complete -c generate-deployments -s h -l help -d 'Print help (see more with \'--help\')'
complete -c generate-deployments -s V -l version -d 'Print version'
