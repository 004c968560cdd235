complete -c drain -l method -d 'The drain method: noop, hacheck, http or test' -r
complete -c drain -l param -d 'A drain_method_params entry, KEY=VALUE; nested keys with dots (drain.url_format=…)' -r
complete -c drain -l service -r
complete -c drain -l instance -r
complete -c drain -l host -d 'The host the task runs on' -r
complete -c drain -l port -d 'The task\'s port' -r
complete -c drain -l registration -d 'A name the task is registered under (repeatable; default <service>.<instance>)' -r
complete -c drain -l connect-timeout -d 'Seconds to wait for a connection to the drain endpoint' -r
complete -c drain -l timeout -d 'Seconds to wait for a whole answer from the drain endpoint' -r
complete -c drain -s h -l help -d 'Print help (see more with \'--help\')'
complete -c drain -s V -l version -d 'Print version'
