complete -c soa-validate -s s -l service -d 'Validate only this service' -r
complete -c soa-validate -s y -l soa-dir -l yelpsoa-config-root -d 'The soa-configs root (PaaSTA\'s --yelpsoa-config-root is the same)' -r -F
complete -c soa-validate -l json -d 'Print one JSON document instead of ✓/✗ lines'
complete -c soa-validate -s v -l verbose -d 'Also list what is accepted and not used here: keys of PaaSTA\'s kubernetes and tron schemas that do not change how a task runs on these backends, monitoring.yaml\'s own keys, per-cluster files that are symbolic links (not checked themselves, as PaaSTA)'
complete -c soa-validate -l strict -d 'Count warnings (a file type not supported here) as problems'
complete -c soa-validate -s h -l help -d 'Print help (see more with \'--help\')'
complete -c soa-validate -s V -l version -d 'Print version'
