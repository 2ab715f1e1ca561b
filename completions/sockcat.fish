# fish completion for sockcat(1).  Installed as
# share/fish/vendor_completions.d/sockcat.fish.  Keep the options in step with
# `sockcat --help` (tests/test_docs.sh checks that they agree).

# __sockcat_operand MODE N: true when the command word is MODE and N operands
# follow it before the token being completed.
function __sockcat_operand -a mode n
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l cmd
    set -l count 0
    set -l skip 0
    set -l endopts 0
    for tok in $tokens
        if test $skip -eq 1
            set skip 0
            continue
        end
        if test $endopts -eq 0
            switch $tok
                case --
                    set endopts 1
                    continue
                case '--*=*'
                    continue
                case --source --source-port --wait --max-conns --allow --deny --ready-fd --slow-client --stats
                    set skip 1
                    continue
                case '--*'
                    continue
                case '-?*'
                    # A bundle such as -4w takes the next word when its
                    # argument-taking letter comes last.
                    if string match -qr -- '^-[^mpsw]*[mpsw]$' $tok
                        set skip 1
                    end
                    continue
            end
        end
        if test -z "$cmd"
            set cmd $tok
        else
            set count (math $count + 1)
        end
    end
    test "$cmd" = "$mode"; and test $count -eq $n
end

# __sockcat_listen_port: true when the next operand of listen is the PORT
# that follows a HOST.
function __sockcat_listen_port
    __sockcat_operand listen 1; or return
    set -l tokens (commandline -opc)
    not string match -qr '^[0-9]+$' -- $tokens[-1]
end

# __sockcat_ports: TCP service names and numbers from /etc/services.
function __sockcat_ports
    test -r /etc/services; or return
    awk '$1 !~ /^#/ && $2 ~ /^[0-9]+\/tcp$/ {
        sub("/tcp", "", $2); print $1 "\tport " $2; print $2 "\t" $1 }' /etc/services
end

complete -c sockcat -f

# Command words.
complete -c sockcat -n 'not __fish_seen_subcommand_from connect listen' -a connect -d 'Connect to HOST PORT'
complete -c sockcat -n 'not __fish_seen_subcommand_from connect listen' -a listen -d 'Wait for clients on PORT'

# Operands.
complete -c sockcat -n '__sockcat_operand connect 0' -a '(__fish_print_hostnames)' -d Host
complete -c sockcat -n '__sockcat_operand connect 1' -a '(__sockcat_ports)'
complete -c sockcat -n '__sockcat_operand listen 0' -a '(__sockcat_ports)'
complete -c sockcat -n '__sockcat_operand listen 0' -a '(__fish_print_addresses)' -d 'Local address'
complete -c sockcat -n __sockcat_listen_port -a '(__sockcat_ports)'

# Options of both modes.
complete -c sockcat -s 4 -l ipv4 -d 'Use IPv4 addresses only'
complete -c sockcat -s 6 -l ipv6 -d 'Use IPv6 addresses only'
complete -c sockcat -s h -l help -d 'Show the options and exit'
complete -c sockcat -s n -l numeric -d 'No DNS: addresses must be numeric'
complete -c sockcat -s P -l progress -d 'Show a live progress line on stderr'
complete -c sockcat -s V -l version -d 'Show the version and exit'
complete -c sockcat -s v -l verbose -d 'Report more on stderr (repeatable)'
complete -c sockcat -l no-shutdown -d 'Do not half-close at stdin EOF'
complete -c sockcat -l recv-only -d 'Never read stdin, send nothing'
complete -c sockcat -l send-only -d 'Never read from the peer'
complete -c sockcat -l stats -x -a 'text json' -d 'Print end-of-run figures on stderr'

# Options of connect (offered before the command word too).
complete -c sockcat -n 'not __fish_seen_subcommand_from listen' -s p -l source-port -x -a '(__sockcat_ports)' -d 'Bind the local end to this port'
complete -c sockcat -n 'not __fish_seen_subcommand_from listen' -s s -l source -x -a '(__fish_print_addresses)' -d 'Bind the local end to this numeric address'
complete -c sockcat -n 'not __fish_seen_subcommand_from listen' -s w -l wait -x -d 'Give up connecting after SECS seconds'

# Options of listen (offered before the command word too).
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -s k -l keep-open -d 'Serve many clients at once, broadcast stdin'
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -s m -l max-conns -x -d 'Serve at most N clients at once'
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -l allow -x -d 'Serve only clients from ADDR[/BITS]'
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -l deny -x -d 'Never serve clients from ADDR[/BITS]'
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -l ready-fd -x -d 'Write the bound port to fd N'
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -l slow-client -x -a 'block drop disconnect' -d 'What to do with a client that cannot keep up'
