complete -c hacheck -l bind -d 'The address to listen on' -r
complete -c hacheck -s p -l port -d 'The port to listen on (the drain method\'s and HAProxy\'s hacheck port)' -r
complete -c hacheck -l spool-dir -d 'Where the spool is kept across restarts' -r -F
complete -c hacheck -l check-timeout -d 'Seconds a task\'s own health check (/http, /tcp) may take' -r
complete -c hacheck -l threads -d 'Threads answering requests' -r
complete -c hacheck -s h -l help -d 'Print help'
complete -c hacheck -s V -l version -d 'Print version'
