# bash completion for sockcat(1)                           -*- shell-script -*-
#
# Installed as share/bash-completion/completions/sockcat and loaded on demand
# by bash-completion.  Works with the 2.12+ API (_comp_initialize), the 2.11
# one (_init_completion), and, in a reduced form, without bash-completion.

# Options accepted in both modes, and in one mode only.  Keep in step with
# `sockcat --help` (tests/test_docs.sh checks that they agree).
_sockcat_opts_both='-4 -6 -C -h -i -n -o -P -q -U -u -V -v -x --append-output --crlf
    --help --hex-dump --idle-timeout --ipv4 --ipv6 --keepalive --no-shutdown
    --no-zerocopy --numeric --output --progress --quit-after-eof --recv-only
    --send-only --stats --udp --unix --verbose --version
    -c -e --exec --sh-exec --ssl --ssl-alpn --ssl-cert --ssl-ciphers --ssl-key
    --ssl-trustfile --ssl-verify'
_sockcat_opts_connect='-p -s -w -z --source --source-port --wait --zero-io --proxy
    --proxy-auth --proxy-dns --proxy-type --ssl-no-verify --ssl-pin --ssl-servername'
_sockcat_opts_listen='-k -m --allow --allowfile --broker --chat --deny --denyfile --keep-open
    --max-conns --ready-fd --slow-client'

# _sockcat_ports: adds to COMPREPLY the TCP service names and port numbers
# of /etc/services that start with $cur.
_sockcat_ports()
{
    local services
    services=$(awk '$1 !~ /^#/ && $2 ~ /^[0-9]+\/tcp$/ {
            sub("/tcp", "", $2); print $1; print $2 }' \
        /etc/services 2>/dev/null)
    COMPREPLY+=($(compgen -W "$services" -- "$cur"))
}

# _sockcat_hosts: adds to COMPREPLY the host names and addresses that start
# with $cur.
_sockcat_hosts()
{
    if declare -F _known_hosts_real >/dev/null; then
        _known_hosts_real -- "$cur"
    else
        COMPREPLY+=($(compgen -A hostname -- "$cur"))
    fi
}

# _sockcat_local_addrs: adds to COMPREPLY the numeric addresses of this host
# that start with $cur.  IPv6 ones hold colons, which readline takes for word
# breaks: what $cur holds up to its last colon is trimmed off every match.
_sockcat_local_addrs()
{
    local n=${#COMPREPLY[@]}
    if declare -F _ip_addresses >/dev/null; then
        _ip_addresses -a
    fi
    if ((${#COMPREPLY[@]} == n)); then
        COMPREPLY+=($(compgen -W '127.0.0.1 ::1' -- "$cur"))
    fi
    if declare -F __ltrim_colon_completions >/dev/null; then
        __ltrim_colon_completions "$cur"
    fi
}

_sockcat()
{
    local cur prev words cword split=false
    # -n : keeps an IPv6 address such as ::1 one word, so that the operands
    # after it are counted right.
    if declare -F _init_completion >/dev/null; then
        _init_completion -s -n : || return
    elif declare -F _comp_initialize >/dev/null; then
        local was_split
        _comp_initialize -s -n : -- "$@" || return
        [[ ${was_split-} ]] && split=true
    else
        # No bash-completion: COMP_WORDBREAKS splits "--opt=val" into three
        # words; join them back.
        COMPREPLY=()
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${words[cword]}
        prev=${words[cword - 1]-}
        if [[ $cur == = && $prev == --* ]]; then
            cur=
            split=true
        elif [[ $prev == = && $cword -ge 2 && ${words[cword - 2]} == --* ]]
        then
            prev=${words[cword - 2]}
            split=true
        fi
    fi

    # Arguments of options.
    case $prev in
        --slow-client)
            COMPREPLY=($(compgen -W 'block drop disconnect' -- "$cur"))
            return
            ;;
        --stats)
            COMPREPLY=($(compgen -W 'text json' -- "$cur"))
            return
            ;;
        -e | --exec | -c | --sh-exec)
            # A program (-e) or a shell command line (-c): command names.
            COMPREPLY=($(compgen -c -- "$cur"))
            return
            ;;
        --proxy-type)
            COMPREPLY=($(compgen -W 'http socks4 socks4a socks5' -- "$cur"))
            return
            ;;
        --proxy-dns)
            COMPREPLY=($(compgen -W 'local remote' -- "$cur"))
            return
            ;;
        --ssl-cert | --ssl-key | --ssl-trustfile)
            COMPREPLY=($(compgen -f -- "$cur"))
            compopt -o filenames 2>/dev/null
            return
            ;;
        --proxy)
            _sockcat_hosts
            return
            ;;
        --proxy-auth | --ssl-alpn | --ssl-ciphers | --ssl-pin | --ssl-servername)
            return
            ;;
        -p | --source-port)
            _sockcat_ports
            return
            ;;
        -s | --source)
            # A numeric address: names are not accepted here.
            _sockcat_local_addrs
            return
            ;;
        -x | --hex-dump | -o | --output | --allowfile | --denyfile)
            if declare -F _filedir >/dev/null; then
                _filedir
            else
                COMPREPLY=($(compgen -f -- "$cur"))
            fi
            return
            ;;
        -m | --max-conns | -w | --wait | --allow | --deny | --ready-fd | \
            -i | --idle-timeout | -q | --quit-after-eof)
            # A number or an address: nothing worth guessing.
            return
            ;;
        -h | --help | -V | --version)
            return
            ;;
    esac
    $split && return

    # Find the command word and count the operands before the cursor.
    local i word mode='' first='' nopnd=0 endopts=false unix=false
    for ((i = 1; i < cword; i++)); do
        word=${words[i]}
        if ! $endopts; then
            case $word in
                --)
                    endopts=true
                    continue
                    ;;
                --*=*)
                    continue
                    ;;
                --source | --source-port | --wait | --max-conns | --allow | \
                    --deny | --ready-fd | --slow-client | --stats | --hex-dump | \
                    --output | --allowfile | --denyfile | --exec | --sh-exec | \
                    --proxy | --proxy-auth | --proxy-dns | --proxy-type | --ssl-alpn | \
                    --ssl-cert | --ssl-ciphers | --ssl-key | --ssl-pin | \
                    --ssl-servername | --ssl-trustfile | \
                    --idle-timeout | --quit-after-eof)
                    # Without bash-completion "--opt=val" is three words.
                    [[ ${words[i + 1]-} == = ]] && ((i++))
                    ((i++))
                    continue
                    ;;
                --unix)
                    unix=true
                    continue
                    ;;
                --*)
                    continue
                    ;;
                -?*)
                    # A bundle such as -4w: an argument-taking letter takes
                    # the rest of the word, or the next word if it is last.
                    local j=1 c
                    while ((j < ${#word})); do
                        c=${word:j:1}
                        [[ $c == U ]] && unix=true
                        if [[ $c == [mpswecxoiq] ]]; then
                            ((j == ${#word} - 1)) && ((i++))
                            break
                        fi
                        ((j++))
                    done
                    continue
                    ;;
            esac
        fi
        if [[ -z $mode ]]; then
            mode=$word
        else
            ((nopnd++ == 0)) && first=$word
        fi
    done

    if [[ $cur == -* ]] && ! $endopts; then
        local opts=$_sockcat_opts_both
        case $mode in
            connect) opts+=" $_sockcat_opts_connect" ;;
            listen) opts+=" $_sockcat_opts_listen" ;;
            '') opts+=" $_sockcat_opts_connect $_sockcat_opts_listen" ;;
            *) return ;;
        esac
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi

    # -U: the one operand is a socket's path.
    if $unix && [[ $mode == connect || $mode == listen ]]; then
        if ((nopnd == 0)); then
            if declare -F _filedir >/dev/null; then
                _filedir
            else
                COMPREPLY=($(compgen -f -- "$cur"))
            fi
        fi
        return
    fi

    case $mode in
        '')
            COMPREPLY=($(compgen -W 'connect listen' -- "$cur"))
            ;;
        connect)
            case $nopnd in
                0) _sockcat_hosts ;;
                1) _sockcat_ports ;;
            esac
            ;;
        listen)
            # listen [HOST] PORT: the first operand is either.
            case $nopnd in
                0)
                    _sockcat_ports
                    _sockcat_local_addrs
                    ;;
                1)
                    # Unless the first one was already the port.
                    [[ $first =~ ^[0-9]+$ ]] || _sockcat_ports
                    ;;
            esac
            ;;
    esac
} &&
    complete -F _sockcat sockcat

# ex: filetype=sh
