complete -c local-run -s s -l service -d 'The service' -r
complete -c local-run -s c -l cluster -d 'The cluster whose configs to use (default: this machine\'s, from the system config)' -r
complete -c local-run -s i -l instance -d 'The instance (default: the interactive one)' -r
complete -c local-run -s y -l soa-dir -l yelpsoa-config-root -d 'The soa-configs root (PaaSTA\'s --yelpsoa-config-root is the same)' -r -F
complete -c local-run -s C -l cmd -d 'Run this command (with `sh -c`) instead of the instance\'s' -r
complete -c local-run -s o -l port -d 'Publish the service\'s port 8888 on this host port' -r
complete -c local-run -l date -d 'Interpolate a scheduled job\'s time variables as at this date (YYYY-MM-DD; default now)' -r
complete -c local-run -l sha -d 'Run the image of this commit instead of the deployed one (hex, 4 to 40 digits)' -r
complete -c local-run -l vault-auth-method -d 'Accepted for PaaSTA\'s sake; unused (no Vault here)' -r
complete -c local-run -l vault-token-file -d 'Accepted for PaaSTA\'s sake; unused (no Vault here)' -r -F
complete -c local-run -s p -l pull -d 'Pull the image from the registry first'
complete -c local-run -s b -l build -d 'Build the image from the Dockerfile in the current directory'
complete -c local-run -s d -l dry-run -d 'Print the equivalent `docker run` argv as a JSON array; run nothing'
complete -c local-run -l json-dict -d 'Print the container spec as JSON (env values included) instead; run nothing. PaaSTA users write it with --dry-run, which is accepted'
complete -c local-run -s I -l interactive -d 'Attach a terminal and stdin (a shell when there is no command)'
complete -c local-run -s k -l no-healthcheck -d 'Do not simulate the health check'
complete -c local-run -s t -l healthcheck-only -d 'Only run the health check: exit 0 when healthy, 1 when not'
complete -c local-run -s v -l verbose -d 'Say on stderr what will run (the equivalent `docker run` argv) before running it'
complete -c local-run -l skip-secrets -d 'Accepted for PaaSTA\'s sake; this local-run reads no secrets'
complete -c local-run -s h -l help -d 'Print help (see more with \'--help\')'
complete -c local-run -s V -l version -d 'Print version'
