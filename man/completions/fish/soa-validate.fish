complete -c soa-validate -s s -l service -d 'Validate only this service' -r
complete -c soa-validate -s y -l soa-dir -l yelpsoa-config-root -d 'The soa-configs root (PaaSTA\'s --yelpsoa-config-root is the same)' -r -F
complete -c soa-validate -l json -d 'Print one JSON document instead of ✓/✗ lines'
complete -c soa-validate -s h -l help -d 'Print help (see more with \'--help\')'
complete -c soa-validate -s V -l version -d 'Print version'
