# fish completion for sockcat(1).  Installed as
# share/fish/vendor_completions.d/sockcat.fish.  Keep the options in step with
# `sockcat --help` (tests/test_docs.sh checks that they agree).

# __sockcat_words: prints the command word, then the operands that follow
# it, one per line, of the tokens before the one being completed: options
# and their arguments are left out.
function __sockcat_words
    set -l tokens (commandline -opc)
    set -e tokens[1]
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
                case --source --source-port --wait --max-conns --allow --deny --ready-fd --slow-client --stats --hex-dump --output --allowfile --denyfile --exec --sh-exec --proxy --proxy-auth --proxy-dns --proxy-type --ssl-alpn --ssl-cert --ssl-ciphers --ssl-key --ssl-pin --ssl-servername --ssl-trustfile --idle-timeout --quit-after-eof
                    set skip 1
                    continue
                case '--*'
                    continue
                case '-?*'
                    # A bundle such as -4w takes the next word when its
                    # argument-taking letter comes last.
                    if string match -qr -- '^-[^mpswecxoiq]*[mpswecxoiq]$' $tok
                        set skip 1
                    end
                    continue
            end
        end
        printf '%s\n' $tok
    end
end

# __sockcat_unix: true when -U or --unix comes before the token being
# completed (alone or in a bundle such as -kU).
function __sockcat_unix
    for tok in (commandline -opc)
        switch $tok
            case --unix
                return 0
            case '--*'
                continue
            case '-*'
                string match -qr -- '^-[^mpswecxoiq]*U' $tok; and return 0
        end
    end
    return 1
end

# __sockcat_operand MODE N: true when the command word is MODE and N operands
# follow it before the token being completed (HOST and PORT, not -U's PATH).
function __sockcat_operand -a mode n
    not __sockcat_unix; or return
    set -l words (__sockcat_words)
    test "$words[1]" = "$mode"; and test (count $words) -eq (math $n + 1)
end

# __sockcat_unix_path: true where -U's PATH goes: the first operand.
function __sockcat_unix_path
    __sockcat_unix; or return
    set -l words (__sockcat_words)
    contains -- "$words[1]" connect listen; and test (count $words) -eq 1
end

# __sockcat_listen_port: true when the next operand of listen is the PORT
# that follows a HOST: one operand was given, and it was not a port number.
function __sockcat_listen_port
    not __sockcat_unix; or return
    set -l words (__sockcat_words)
    test "$words[1]" = listen; and test (count $words) -eq 2; or return
    not string match -qr -- '^[0-9]+$' $words[2]
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
complete -c sockcat -n __sockcat_unix_path -F -d 'Socket path'

# Options of both modes.
complete -c sockcat -s 4 -l ipv4 -d 'Use IPv4 only'
complete -c sockcat -s 6 -l ipv6 -d 'Use IPv6 only'
complete -c sockcat -s h -l help -d 'Show this help and exit'
complete -c sockcat -s i -l idle-timeout -x -d 'End a connection idle either way for SECS'
complete -c sockcat -l keepalive -d 'TCP keepalive probes (default 60,10,6)'
complete -c sockcat -s q -l quit-after-eof -x -d 'After stdin EOF, wait at most SECS for the peer'
complete -c sockcat -s n -l numeric -d 'No DNS: HOST is a numeric address'
complete -c sockcat -s P -l progress -d 'Live progress on a terminal\'s stderr'
complete -c sockcat -s V -l version -d 'Show the version and exit'
complete -c sockcat -s v -l verbose -d 'Say more on stderr (repeatable)'
complete -c sockcat -l no-shutdown -d 'Do not half-close at stdin EOF'
complete -c sockcat -l no-zerocopy -d 'Always copy through sockcat (no splice/sendfile)'
complete -c sockcat -l recv-only -d 'Never read stdin; send nothing'
complete -c sockcat -l send-only -d 'Discard what the peer sends'
complete -c sockcat -l stats -x -a 'text json' -d 'Figures at exit on stderr: text or json'
complete -c sockcat -s u -l udp -d 'UDP: one datagram per read; runs until a signal'
complete -c sockcat -s U -l unix -d 'Unix socket: PATH (or @NAME) replaces HOST PORT'
complete -c sockcat -s e -l exec -x -a '(__fish_complete_command)' -d 'Talk to COMMAND instead of stdio (no shell)'
complete -c sockcat -s c -l sh-exec -x -a '(__fish_complete_command)' -d 'Talk to /bin/sh -c COMMAND instead of stdio'
complete -c sockcat -s C -l crlf -d 'Send each LF of stdin as CRLF'
complete -c sockcat -s x -l hex-dump -r -F -d 'Log both directions to FILE as a hex dump'
complete -c sockcat -s o -l output -r -F -d 'Log the raw bytes of both directions to FILE'
complete -c sockcat -l append-output -d '-x and -o append to FILE'
complete -c sockcat -l ssl -d 'TLS (connect checks the server\'s certificate)'
complete -c sockcat -l ssl-alpn -x -d 'Offer (listen: accept) these ALPN names, a,b'
complete -c sockcat -l ssl-cert -r -F -d 'Certificate (PEM); listen: default self-signed'
complete -c sockcat -l ssl-ciphers -x -d 'OpenSSL cipher list (TLS_... for TLS 1.3)'
complete -c sockcat -l ssl-key -r -F -d 'Private key (PEM); default: in --ssl-cert'
complete -c sockcat -l ssl-trustfile -r -F -d 'Trust these CA certificates, not the system\'s'
complete -c sockcat -l ssl-verify -d 'Connect: the default; listen: ask for client certs'

# Options of connect (offered before the command word too).
complete -c sockcat -n 'not __fish_seen_subcommand_from listen' -s p -l source-port -x -a '(__sockcat_ports)' -d 'Connect from this local port'
complete -c sockcat -n 'not __fish_seen_subcommand_from listen' -s s -l source -x -a '(__fish_print_addresses)' -d 'Connect from this local address (-U -u: PATH)'
complete -c sockcat -n 'not __fish_seen_subcommand_from listen' -s w -l wait -x -d 'Give up connecting after SECS seconds (-z: 1)'
complete -c sockcat -n 'not __fish_seen_subcommand_from listen' -s z -l zero-io -d 'Probe PORTS, at most 256 at a time; send nothing'
complete -c sockcat -n 'not __fish_seen_subcommand_from listen' -l proxy -x -a '(__fish_print_hostnames)' -d 'Connect via HOST[:PORT] (port 3128; socks 1080)'
complete -c sockcat -n 'not __fish_seen_subcommand_from listen' -l proxy-auth -x -d 'USER:PASS for HTTP Basic, SOCKS5 (SOCKS4: USER)'
complete -c sockcat -n 'not __fish_seen_subcommand_from listen' -l proxy-dns -x -a 'local remote' -d 'Local or remote: who resolves HOST (remote)'
complete -c sockcat -n 'not __fish_seen_subcommand_from listen' -l proxy-type -x -a 'http socks4 socks4a socks5' -d 'Http, socks4, socks4a or socks5 (default http)'
complete -c sockcat -n 'not __fish_seen_subcommand_from listen' -l ssl-no-verify -d 'Do not check the server\'s certificate'
complete -c sockcat -n 'not __fish_seen_subcommand_from listen' -l ssl-pin -x -d 'Sha256:HEX of the one certificate or key to accept'
complete -c sockcat -n 'not __fish_seen_subcommand_from listen' -l ssl-servername -x -a '(__fish_print_hostnames)' -d 'Name for SNI and the certificate check'

# Options of listen (offered before the command word too).
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -s k -l keep-open -d 'Serve many clients at once; broadcast stdin'
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -s m -l max-conns -x -d 'At most N clients at once'
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -l allow -x -d 'Accept only ADDR[/BITS] or NAME (repeatable)'
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -l broker -d 'Pass each client\'s data to all others (implies -k)'
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -l chat -d 'A broker for people: "<user N>" lines, escaped'
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -l deny -x -d 'Never accept ADDR[/BITS] or NAME (repeatable)'
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -l allowfile -r -F -d '--allow each entry of FILE, one a line'
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -l denyfile -r -F -d '--deny each entry of FILE, one a line'
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -l ready-fd -x -d 'Write the bound port (-U: PATH) to fd N'
complete -c sockcat -n 'not __fish_seen_subcommand_from connect' -l slow-client -x -a 'block drop disconnect' -d 'Block, drop or disconnect (default block)'
