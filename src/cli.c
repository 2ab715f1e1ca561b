#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "diag.h"
#include "duration.h"
#include "net.h"
#include "portlist.h"
#include "tls.h"

/* Which subcommands an option belongs to. */
enum { FOR_CONNECT = 1, FOR_LISTEN = 2, FOR_BOTH = 3 };

/* Long-only options take ids above any character. */
enum {
    OPT_ALLOW = 256,
    OPT_ALLOWFILE,
    OPT_APPEND_OUTPUT,
    OPT_BROKER,
    OPT_CHAT,
    OPT_DENY,
    OPT_DENYFILE,
    OPT_KEEPALIVE,
    OPT_NO_SHUTDOWN,
    OPT_NO_ZEROCOPY,
    OPT_READY_FD,
    OPT_RECV_ONLY,
    OPT_SEND_ONLY,
    OPT_SLOW_CLIENT,
    OPT_STATS,
    OPT_PROXY,
    OPT_PROXY_AUTH,
    OPT_PROXY_DNS,
    OPT_PROXY_TYPE,
    OPT_SSL,
    OPT_SSL_ALPN,
    OPT_SSL_CERT,
    OPT_SSL_CIPHERS,
    OPT_SSL_KEY,
    OPT_SSL_NO_VERIFY,
    OPT_SSL_PIN,
    OPT_SSL_SERVERNAME,
    OPT_SSL_TRUSTFILE,
    OPT_SSL_VERIFY,
};

struct option_spec {
    const char *name;
    int has_arg;
    int id;           /* the short letter, or an OPT_ id */
    unsigned modes;
    const char *arg;  /* placeholder shown in --help */
    const char *help;
};

/* The one table of options: sorted by long name; --help is made from it. */
static const struct option_spec option_specs[] = {
    { "allow",       required_argument, OPT_ALLOW,       FOR_LISTEN,  "ENTRY",       "accept only ADDR[/BITS] or NAME (repeatable)" },
    { "allowfile",   required_argument, OPT_ALLOWFILE,   FOR_LISTEN,  "FILE",        "--allow each entry of FILE, one a line" },
    { "append-output", no_argument,     OPT_APPEND_OUTPUT, FOR_BOTH,  NULL,          "-x and -o append to FILE" },
    { "broker",      no_argument,       OPT_BROKER,      FOR_LISTEN,  NULL,          "pass each client's data to all others (implies -k)" },
    { "chat",        no_argument,       OPT_CHAT,        FOR_LISTEN,  NULL,          "a broker for people: \"<user N>\" lines, escaped" },
    { "crlf",        no_argument,       'C',             FOR_BOTH,    NULL,          "send each LF of stdin as CRLF" },
    { "deny",        required_argument, OPT_DENY,        FOR_LISTEN,  "ENTRY",       "never accept ADDR[/BITS] or NAME (repeatable)" },
    { "denyfile",    required_argument, OPT_DENYFILE,    FOR_LISTEN,  "FILE",        "--deny each entry of FILE, one a line" },
    { "exec",        required_argument, 'e',             FOR_BOTH,    "COMMAND",     "talk to COMMAND instead of stdio (no shell)" },
    { "help",        no_argument,       'h',             FOR_BOTH,    NULL,          "show this help and exit" },
    { "hex-dump",    required_argument, 'x',             FOR_BOTH,    "FILE",        "log both directions to FILE as a hex dump" },
    { "idle-timeout", required_argument, 'i',            FOR_BOTH,    "SECS",        "end a connection idle either way for SECS" },
    { "ipv4",        no_argument,       '4',             FOR_BOTH,    NULL,          "use IPv4 only" },
    { "ipv6",        no_argument,       '6',             FOR_BOTH,    NULL,          "use IPv6 only" },
    { "keep-open",   no_argument,       'k',             FOR_LISTEN,  NULL,          "serve many clients at once; broadcast stdin" },
    { "keepalive",   optional_argument, OPT_KEEPALIVE,   FOR_BOTH,    "[=I[,N[,C]]]", "TCP keepalive probes (default 60,10,6)" },
    { "max-conns",   required_argument, 'm',             FOR_LISTEN,  "N",           "at most N clients at once" },
    { "no-shutdown", no_argument,       OPT_NO_SHUTDOWN, FOR_BOTH,    NULL,          "do not half-close at stdin EOF" },
    { "no-zerocopy", no_argument,       OPT_NO_ZEROCOPY, FOR_BOTH,    NULL,          "always copy through sockcat (no splice/sendfile)" },
    { "numeric",     no_argument,       'n',             FOR_BOTH,    NULL,          "no DNS: HOST is a numeric address" },
    { "output",      required_argument, 'o',             FOR_BOTH,    "FILE",        "log the raw bytes of both directions to FILE" },
    { "progress",    no_argument,       'P',             FOR_BOTH,    NULL,          "live progress on a terminal's stderr" },
    { "proxy",       required_argument, OPT_PROXY,       FOR_CONNECT, "HOST",        "connect via HOST[:PORT] (port 3128; socks 1080)" },
    { "proxy-auth",  required_argument, OPT_PROXY_AUTH,  FOR_CONNECT, "AUTH",        "USER:PASS for HTTP Basic, SOCKS5 (SOCKS4: USER)" },
    { "proxy-dns",   required_argument, OPT_PROXY_DNS,   FOR_CONNECT, "WHERE",       "local or remote: who resolves HOST (remote)" },
    { "proxy-type",  required_argument, OPT_PROXY_TYPE,  FOR_CONNECT, "TYPE",        "http, socks4, socks4a or socks5 (default http)" },
    { "quit-after-eof", required_argument, 'q',          FOR_BOTH,    "SECS",        "after stdin EOF, wait at most SECS for the peer" },
    { "ready-fd",    required_argument, OPT_READY_FD,    FOR_LISTEN,  "N",           "write the bound port (-U: PATH) to fd N" },
    { "recv-only",   no_argument,       OPT_RECV_ONLY,   FOR_BOTH,    NULL,          "never read stdin; send nothing" },
    { "send-only",   no_argument,       OPT_SEND_ONLY,   FOR_BOTH,    NULL,          "discard what the peer sends" },
    { "sh-exec",     required_argument, 'c',             FOR_BOTH,    "COMMAND",     "talk to /bin/sh -c COMMAND instead of stdio" },
    { "slow-client", required_argument, OPT_SLOW_CLIENT, FOR_LISTEN,  "POLICY",      "block, drop or disconnect (default block)" },
    { "source",      required_argument, 's',             FOR_CONNECT, "ADDR",        "connect from this local address (-U -u: PATH)" },
    { "source-port", required_argument, 'p',             FOR_CONNECT, "PORT",        "connect from this local port" },
    { "ssl",         no_argument,       OPT_SSL,         FOR_BOTH,    NULL,          "TLS (connect checks the server's certificate)" },
    { "ssl-alpn",    required_argument, OPT_SSL_ALPN,    FOR_BOTH,    "LIST",        "offer (listen: accept) these ALPN names, a,b" },
    { "ssl-cert",    required_argument, OPT_SSL_CERT,    FOR_BOTH,    "FILE",        "certificate (PEM); listen: default self-signed" },
    { "ssl-ciphers", required_argument, OPT_SSL_CIPHERS, FOR_BOTH,    "LIST",        "OpenSSL cipher list (TLS_... for TLS 1.3)" },
    { "ssl-key",     required_argument, OPT_SSL_KEY,     FOR_BOTH,    "FILE",        "private key (PEM); default: in --ssl-cert" },
    { "ssl-no-verify", no_argument,     OPT_SSL_NO_VERIFY, FOR_CONNECT, NULL,        "do not check the server's certificate" },
    { "ssl-pin",     required_argument, OPT_SSL_PIN,     FOR_CONNECT, "PIN",         "sha256:HEX of the one certificate or key to accept" },
    { "ssl-servername", required_argument, OPT_SSL_SERVERNAME, FOR_CONNECT, "NAME", "name for SNI and the certificate check" },
    { "ssl-trustfile", required_argument, OPT_SSL_TRUSTFILE, FOR_BOTH, "FILE",       "trust these CA certificates, not the system's" },
    { "ssl-verify",  no_argument,       OPT_SSL_VERIFY,  FOR_BOTH,    NULL,          "connect: the default; listen: ask for client certs" },
    { "stats",       required_argument, OPT_STATS,       FOR_BOTH,    "FORMAT",      "figures at exit on stderr: text or json" },
    { "udp",         no_argument,       'u',             FOR_BOTH,    NULL,          "UDP: one datagram per read; runs until a signal" },
    { "unix",        no_argument,       'U',             FOR_BOTH,    NULL,          "Unix socket: PATH (or @NAME) replaces HOST PORT" },
    { "verbose",     no_argument,       'v',             FOR_BOTH,    NULL,          "say more on stderr (repeatable)" },
    { "version",     no_argument,       'V',             FOR_BOTH,    NULL,          "show the version and exit" },
    { "wait",        required_argument, 'w',             FOR_CONNECT, "SECS",        "give up connecting after SECS seconds (-z: 1)" },
    { "zero-io",     no_argument,       'z',             FOR_CONNECT, NULL,          "probe PORTS, at most 256 at a time; send nothing" },
};

#define OPTION_COUNT (sizeof(option_specs) / sizeof(option_specs[0]))

static void print_option_group(FILE *out, const char *title, unsigned modes)
{
    fprintf(out, "\n%s:\n", title);
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const struct option_spec *s = &option_specs[i];
        char left[40];

        if (s->modes != modes)
            continue;
        /* An optional value is attached: "--keepalive[=...]". */
        const char *gap = s->arg && s->has_arg == required_argument ? " " : "";
        if (s->id < 256)
            snprintf(left, sizeof(left), "-%c, --%s%s%s", s->id, s->name, gap,
                     s->arg ? s->arg : "");
        else
            snprintf(left, sizeof(left), "    --%s%s%s", s->name, gap, s->arg ? s->arg : "");
        fprintf(out, "  %-27s %s\n", left, s->help);
    }
}

static void print_help(FILE *out)
{
    fputs("Usage: sockcat connect [OPTIONS] HOST PORT\n"
          "       sockcat listen [OPTIONS] [HOST] PORT\n"
          "       sockcat connect|listen -U [OPTIONS] PATH\n"
          "       sockcat connect -z [OPTIONS] HOST PORTS\n"
          "Send stdin to a TCP or Unix socket peer and the peer's bytes to stdout,\n"
          "both at once. End of stdin half-closes the connection; sockcat exits\n"
          "when both directions are done. PORT is a number or a service name;\n"
          "PATH is a socket file, or @NAME in Linux's abstract namespace.\n"
          "With -u, UDP: each read of stdin is sent as one datagram and each\n"
          "datagram received is written whole; UDP has no end of stream, so\n"
          "sockcat goes on printing replies until a signal.\n"
          "With -z, probe PORTS (P, P1-P2 or a comma list: 22,80,8000-8100) and print\n"
          "\"HOST PORT open\" for each port that accepts, in port order; at most 256\n"
          "probes (fewer under a low descriptor limit) are in flight, each for -w\n"
          "seconds (1 by default). Exit 0 if any port is open, 1 if none is.\n", out);
    print_option_group(out, "Options for both modes", FOR_BOTH);
    print_option_group(out, "Connect options", FOR_CONNECT);
    print_option_group(out, "Listen options", FOR_LISTEN);
    fputs("\nExamples:\n"
          "  sockcat listen 4000 > backup.tar        receive a file on port 4000\n"
          "  sockcat connect host 4000 < backup.tar  send it from another machine\n"
          "  sockcat listen -U /tmp/s.sock           the same between local processes\n"
          "  echo hi | sockcat connect -u host 5353  one datagram; print the replies\n"
          "  sockcat listen -k -e cat 4007           an echo server: a cat per client\n"
          "  sockcat connect -z host 20-25,http      which of these ports are open\n"
          "  sockcat connect --ssl example.org 443   TLS, the certificate checked\n", out);
}

/* Parses a port number or /etc/services name; -1 when it is neither. */
static int parse_port(const char *text, const char *proto)
{
    if (text[0] >= '0' && text[0] <= '9') {
        unsigned long value = 0;
        for (const char *p = text; *p; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            value = value * 10 + (unsigned long)(*p - '0');
            if (value > 65535)
                return -1;
        }
        return (int)value;
    }
    if (text[0] == '\0')
        return -1;
    struct servent *service = getservbyname(text, proto);
    return service ? ntohs((uint16_t)service->s_port) : -1;
}

static int port_or_complain(const char *text, int *port, bool udp)
{
    *port = parse_port(text, udp ? "udp" : "tcp");
    if (*port >= 0)
        return 0;
    if (text[0] == '\0' || (text[0] >= '0' && text[0] <= '9') || text[0] == '-')
        sc_usage_error("invalid port '%s': must be an integer from 0 to 65535", text);
    else
        sc_usage_error("invalid port '%s': no such %s service", text, udp ? "UDP" : "TCP");
    return -1;
}

static int parse_count(const char *text, const char *what, unsigned long min,
                       unsigned long max, unsigned long *value)
{
    char *end;

    errno = 0;
    if (text[0] < '0' || text[0] > '9')
        goto bad;
    *value = strtoul(text, &end, 10);
    if (errno || *end != '\0' || *value < min || *value > max)
        goto bad;
    return 0;
bad:
    sc_usage_error("invalid %s '%s': must be a whole number from %lu to %lu", what, text,
                   min, max);
    return -1;
}

/*
 * -w: positive, as it always had to be; the messages stay those it always
 * gave, and the value takes the units every timer takes.
 */
static int parse_wait(const char *text, uint64_t *ms)
{
    const char *why;

    if (duration_parse(text, ms, &why) < 0 && strncmp(why, "too large", 9) == 0) {
        sc_usage_error("invalid wait '%s': must be at most 10000000 seconds", text);
        return -1;
    }
    if (duration_parse(text, ms, &why) < 0 || *ms == 0) {
        sc_usage_error("invalid wait '%s': must be a positive number of seconds", text);
        return -1;
    }
    return 0;
}

/* -i, -q and the parts of --keepalive: `what` names the value in the message. */
static int parse_time(const char *text, const char *what, bool positive, uint64_t *ms)
{
    const char *why;

    if (duration_parse(text, ms, &why) < 0) {
        sc_usage_error("invalid %s '%s': %s", what, text, why);
        return -1;
    }
    if (positive && *ms == 0) {
        sc_usage_error("invalid %s '%s': must be more than 0", what, text);
        return -1;
    }
    return 0;
}

/* The kernel takes keepalive times in whole seconds, at most 32767. */
#define KEEPALIVE_MAX_SECONDS 32767

static int keepalive_seconds(const char *text, const char *what, unsigned *seconds)
{
    uint64_t ms;

    if (parse_time(text, what, true, &ms) < 0)
        return -1;
    if (ms > (uint64_t)KEEPALIVE_MAX_SECONDS * 1000) {
        sc_usage_error("invalid %s '%s': must be at most %d s", what, text,
                       KEEPALIVE_MAX_SECONDS);
        return -1;
    }
    *seconds = (unsigned)((ms + 999) / 1000);
    return 0;
}

/* --keepalive[=IDLE[,INTERVAL[,COUNT]]]: empty parts keep their defaults. */
static int parse_keepalive(const char *text, struct sc_opts *o)
{
    char copy[128], *parts[4] = { 0 };
    size_t n = 0;
    unsigned long count;

    o->keepalive = true;
    if (!text)
        return 0;
    if (strlen(text) >= sizeof(copy)) {
        sc_usage_error("invalid keepalive '%s': must be IDLE[,INTERVAL[,COUNT]]", text);
        return -1;
    }
    strcpy(copy, text);
    for (char *p = copy; n < 4; n++) {
        parts[n] = p;
        p = strchr(p, ',');
        if (!p)
            break;
        *p++ = '\0';
    }
    if (n >= 3) {
        sc_usage_error("invalid keepalive '%s': must be IDLE[,INTERVAL[,COUNT]]", text);
        return -1;
    }
    if (parts[0] && *parts[0] &&
        keepalive_seconds(parts[0], "keepalive idle", &o->keepalive_idle) < 0)
        return -1;
    if (parts[1] && *parts[1] &&
        keepalive_seconds(parts[1], "keepalive interval", &o->keepalive_interval) < 0)
        return -1;
    if (parts[2] && *parts[2]) {
        if (parse_count(parts[2], "keepalive count", 1, 127, &count) < 0)
            return -1;
        o->keepalive_count = (unsigned)count;
    }
    return 0;
}

/* A numeric address, with a zone for link-local IPv6 ("fe80::1%eth0"). */
static int parse_source(const char *text, int *family)
{
    struct sockaddr_storage addr;

    if (net_parse_numeric(text, 0, &addr) == 0) {
        *family = addr.ss_family;
        return 0;
    }
    sc_usage_error("invalid source address '%s': must be a numeric IPv4 or IPv6 address", text);
    return -1;
}

static int parse_ready_fd(const char *text, int *fd)
{
    unsigned long value;

    if (parse_count(text, "ready fd", 3, 1024 * 1024, &value) < 0)
        return -1;
    if (value <= 2 || fcntl((int)value, F_GETFD) < 0) {
        sc_usage_error("invalid ready fd '%s': must be an open descriptor above 2", text);
        return -1;
    }
    *fd = (int)value;
    return 0;
}

static int parse_slow_policy(const char *text, enum sc_slow_policy *policy)
{
    if (strcmp(text, "block") == 0)
        *policy = SC_SLOW_BLOCK;
    else if (strcmp(text, "drop") == 0)
        *policy = SC_SLOW_DROP;
    else if (strcmp(text, "disconnect") == 0)
        *policy = SC_SLOW_DISCONNECT;
    else {
        sc_usage_error("invalid slow-client policy '%s': must be block, drop or disconnect", text);
        return -1;
    }
    return 0;
}

static int parse_stats(const char *text, enum sc_stats_format *format)
{
    if (strcmp(text, "text") == 0)
        *format = SC_STATS_TEXT;
    else if (strcmp(text, "json") == 0)
        *format = SC_STATS_JSON;
    else {
        sc_usage_error("invalid stats format '%s': must be text or json", text);
        return -1;
    }
    return 0;
}

/* --proxy HOST[:PORT], [IPV6]:PORT or a bare IPv6 address; the port comes later by type. */
static int parse_proxy(const char *text, struct sc_opts *o)
{
    const char *host = text, *colon = strrchr(text, ':');
    size_t host_len = strlen(text);
    int port = 0;

    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || (close[1] && close[1] != ':'))
            goto bad;
        host = text + 1;
        host_len = (size_t)(close - host);
        colon = close[1] ? close + 1 : NULL;
    } else if (colon && strchr(text, ':') != colon) {
        colon = NULL;  /* an IPv6 address without a port */
    } else if (colon) {
        host_len = (size_t)(colon - text);
    }
    if (host_len == 0 || host_len >= sizeof(o->proxy_host_buf))
        goto bad;
    if (colon) {
        port = parse_port(colon + 1, "tcp");
        if (port <= 0)
            goto bad;
    }
    memcpy(o->proxy_host_buf, host, host_len);
    o->proxy_host_buf[host_len] = '\0';
    o->proxy_host = o->proxy_host_buf;
    o->proxy_port = (unsigned)port;
    return 0;
bad:
    sc_usage_error("invalid proxy '%s': must be HOST or HOST:PORT ([ADDR]:PORT for IPv6)", text);
    return -1;
}

static int parse_proxy_type(const char *text, enum sc_proxy_type *type)
{
    static const struct { const char *name; enum sc_proxy_type type; } types[] = {
        { "http", SC_PROXY_HTTP }, { "socks4", SC_PROXY_SOCKS4 },
        { "socks4a", SC_PROXY_SOCKS4A }, { "socks5", SC_PROXY_SOCKS5 },
    };

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(text, types[i].name) == 0) {
            *type = types[i].type;
            return 0;
        }
    }
    sc_usage_error("invalid proxy type '%s': must be http, socks4, socks4a or socks5", text);
    return -1;
}

static int parse_proxy_dns(const char *text, bool *remote)
{
    if (strcmp(text, "local") == 0 || strcmp(text, "remote") == 0) {
        *remote = strcmp(text, "remote") == 0;
        return 0;
    }
    sc_usage_error("invalid proxy dns '%s': must be local or remote", text);
    return -1;
}

/* sha256:HEX, 32 bytes in hex, colons between them allowed. */
static int check_pin(const char *text)
{
    size_t digits = 0;
    const char *p = text + 7;

    if (strncmp(text, "sha256:", 7) != 0)
        goto bad;
    for (; *p; p++) {
        if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'))
            digits++;
        else if (*p != ':')
            goto bad;
    }
    if (digits == 64)
        return 0;
bad:
    sc_usage_error("invalid pin '%s': must be sha256: and 64 hex digits", text);
    return -1;
}

static const struct option_spec *spec_for(int id)
{
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (option_specs[i].id == id)
            return &option_specs[i];
    return NULL;
}

static bool is_negative_number(const char *word)
{
    return word && word[0] == '-' && word[1] >= '0' && word[1] <= '9' &&
           strspn(word + 1, "0123456789") == strlen(word + 1);
}

/*
 * The long option a "--name[=value]" word stands for, as getopt_long reads
 * it: the exact name, or the only option the name abbreviates. NULL when
 * none is; *matches counts the options it abbreviates.
 */
static const struct option_spec *long_spec_named(const char *word, char *name, size_t size,
                                                 size_t *matches)
{
    const struct option_spec *found = NULL;
    size_t len;

    snprintf(name, size, "%s", word);
    char *eq = strchr(name, '=');
    if (eq)
        *eq = '\0';
    len = strlen(name + 2);
    *matches = 0;
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (strcmp(name + 2, option_specs[i].name) == 0) {
            *matches = 1;
            return &option_specs[i];
        }
        if (strncmp(name + 2, option_specs[i].name, len) == 0) {
            found = &option_specs[i];
            (*matches)++;
        }
    }
    return *matches == 1 ? found : NULL;
}

/* "option '--s' is ambiguous; possibilities: --send-only --slow-client ..." */
static void complain_ambiguous(const char *name)
{
    char list[512] = "";
    size_t used = 0, len = strlen(name + 2);

    for (size_t i = 0; i < OPTION_COUNT && used < sizeof(list); i++)
        if (strncmp(name + 2, option_specs[i].name, len) == 0)
            used += (size_t)snprintf(list + used, sizeof(list) - used, " --%s",
                                     option_specs[i].name);
    sc_usage_error("option '%s' is ambiguous; possibilities:%s", name, list);
}

/*
 * Reports the option getopt_long could not take, named as it was written.
 * `last` is the word getopt_long had just consumed (argv[optind - 1]).
 */
static void complain_about_option(const char *last, const char *current, int failed_option)
{
    char name[128];

    /* "-1" or "-12" is a negative port, not a bundle of digit options. */
    if (failed_option >= '0' && failed_option <= '9') {
        const char *word = is_negative_number(current) ? current : last;
        if (is_negative_number(word)) {
            sc_usage_error("invalid port '%s': must be an integer from 0 to 65535", word);
            return;
        }
    }
    if (last && strncmp(last, "--", 2) == 0) {
        size_t matches;
        const struct option_spec *match = long_spec_named(last, name, sizeof(name), &matches);
        if (failed_option == 0 || (match && match->id == failed_option)) {
            if (matches > 1)
                complain_ambiguous(name);
            else if (!match)
                sc_usage_error("unknown option: %s", name);
            else if (match->has_arg)
                sc_usage_error("option --%s: missing argument", match->name);
            else
                sc_usage_error("option --%s: takes no argument", match->name);
            return;
        }
    }
    const struct option_spec *s = spec_for(failed_option);
    if (s && s->has_arg)
        sc_usage_error("option -%c: missing argument", failed_option);
    else
        sc_usage_error("unknown option: -%c", failed_option);
}

static void build_getopt_tables(struct option *longopts, char *shortopts)
{
    char *s = shortopts;

    *s++ = ':';  /* tell missing arguments apart from unknown options */
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const struct option_spec *spec = &option_specs[i];
        longopts[i] = (struct option){ spec->name, spec->has_arg, NULL, spec->id };
        if (spec->id < 256) {
            *s++ = (char)spec->id;
            if (spec->has_arg)
                *s++ = ':';
        }
    }
    longopts[OPTION_COUNT] = (struct option){ 0, 0, 0, 0 };
    *s = '\0';
}

/* Applies one option; returns 0, or -1 after a usage error. */
static int apply_option(struct sc_opts *o, int id, const char *arg)
{
    unsigned long count;
    int port;

    switch (id) {
    case '4': o->family = AF_INET; return 0;
    case '6': o->family = AF_INET6; return 0;
    case 'k': o->keep_open = true; return 0;
    /* A broker is keep-open whose clients also hear each other. */
    case OPT_BROKER: o->broker = o->keep_open = true; return 0;
    case OPT_CHAT: o->chat = o->broker = o->keep_open = true; return 0;
    case 'u': o->udp = true; return 0;
    case 'n': o->numeric = true; return 0;
    case 'P': o->progress = true; return 0;
    case 'U': o->unix_path = ""; return 0;  /* the operand fills it in */
    case 'z': o->zero_io = true; return 0;
    case 'C': o->crlf = true; return 0;
    case 'x': o->hex_dump_path = arg; return 0;
    case 'o': o->output_path = arg; return 0;
    case OPT_APPEND_OUTPUT: o->append_output = true; return 0;
    case 'v': sc_verbosity++; return 0;
    case OPT_NO_SHUTDOWN: o->no_shutdown = true; return 0;
    case OPT_NO_ZEROCOPY: o->no_zerocopy = true; return 0;
    case OPT_RECV_ONLY: o->recv_only = true; return 0;
    case OPT_SEND_ONLY: o->send_only = true; return 0;
    case 'e':
    case 'c':
        if (strspn(arg, " \t\n") == strlen(arg)) {
            sc_usage_error("option -%c: empty command", id);
            return -1;
        }
        o->exec = arg;
        o->exec_shell = id == 'c';
        return 0;
    case 'w': return parse_wait(arg, &o->wait_ms);
    case 'i': return parse_time(arg, "idle timeout", true, &o->idle_ms);
    case 'q':
        o->quit_set = true;
        return parse_time(arg, "quit-after-eof time", false, &o->quit_ms);
    case OPT_KEEPALIVE: return parse_keepalive(arg, o);
    case 's':
        /* Checked once the pairs are: what -s may name depends on -U. */
        o->source_addr = arg;
        return 0;
    case 'p':
        if (port_or_complain(arg, &port, o->udp) < 0)
            return -1;
        o->source_port = port;
        return 0;
    case 'm':
        if (parse_count(arg, "max-conns", 1, 1000000000, &count) < 0)
            return -1;
        o->max_conns = (unsigned)count;
        return 0;
    case OPT_ALLOW:
    case OPT_DENY:
        if (acl_add_entry(&o->acl, id == OPT_ALLOW, arg, id == OPT_ALLOW ? "--allow" : "--deny") < 0) {
            sc_usage_error("invalid address '%s': must be ADDR, ADDR/BITS or a host name", arg);
            return -1;
        }
        return 0;
    case OPT_ALLOWFILE:
    case OPT_DENYFILE:
        return acl_load_file(&o->acl, id == OPT_ALLOWFILE, arg);
    case OPT_READY_FD: return parse_ready_fd(arg, &o->ready_fd);
    case OPT_SLOW_CLIENT: return parse_slow_policy(arg, &o->slow_client);
    case OPT_STATS: return parse_stats(arg, &o->stats);
    case OPT_PROXY: return parse_proxy(arg, o);
    case OPT_PROXY_AUTH:
        if (!strchr(arg, ':')) {
            sc_usage_error("invalid proxy auth: must be USER:PASS");
            return -1;
        }
        o->proxy_auth = arg;
        return 0;
    case OPT_PROXY_DNS: return parse_proxy_dns(arg, &o->proxy_dns_remote);
    case OPT_PROXY_TYPE: return parse_proxy_type(arg, &o->proxy_type);
    case OPT_SSL: o->ssl = true; return 0;
    case OPT_SSL_ALPN: o->ssl_alpn = arg; return 0;
    case OPT_SSL_CERT: o->ssl_cert = arg; return 0;
    case OPT_SSL_CIPHERS: o->ssl_ciphers = arg; return 0;
    case OPT_SSL_KEY: o->ssl_key = arg; return 0;
    case OPT_SSL_NO_VERIFY: o->ssl_no_verify = true; return 0;
    case OPT_SSL_PIN: o->ssl_pin = arg; return check_pin(arg);
    case OPT_SSL_SERVERNAME: o->ssl_servername = arg; return 0;
    case OPT_SSL_TRUSTFILE: o->ssl_trustfile = arg; return 0;
    case OPT_SSL_VERIFY: o->ssl_verify = true; return 0;
    }
    return -1;
}

static size_t spec_index(int id)
{
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (option_specs[i].id == id)
            return i;
    return 0;
}

/* Stands for an operand in the table of conflicting pairs. */
enum { GIVEN_PORT_OPERAND = -1 };

/*
 * Pairs that make no sense together: each is a usage error naming both,
 * and saying why when the pair alone does not make it plain.
 * A transport that rules out an option adds its rows here.
 */
static const struct conflict {
    int a, b;          /* option ids, or GIVEN_ values */
    const char *why;   /* NULL: the names say it */
} conflicts[] = {
    { '4', '6', NULL },
    { OPT_SEND_ONLY, OPT_RECV_ONLY, NULL },
    /* A Unix socket has a path, not an address, a port or a name to look up. */
    { 'U', '4', NULL },
    { 'U', '6', NULL },
    { 'U', 'n', NULL },
    { 'U', OPT_ALLOW, NULL },
    { 'U', OPT_DENY, NULL },
    { 'U', OPT_ALLOWFILE, NULL },
    { 'U', OPT_DENYFILE, NULL },
    { 'U', 'p', NULL },
    { 'U', GIVEN_PORT_OPERAND, NULL },
    /* What UDP has no use for. */
    { 'u', OPT_NO_SHUTDOWN, "UDP sends no end of stream to hold back" },
    { 'u', OPT_SLOW_CLIENT, "UDP drops a datagram the socket cannot take now" },
    /* A broker's clients both send and receive. */
    { OPT_BROKER, OPT_SEND_ONLY, NULL },
    { OPT_BROKER, OPT_RECV_ONLY, NULL },
    { OPT_CHAT, OPT_SEND_ONLY, NULL },
    { OPT_CHAT, OPT_RECV_ONLY, NULL },
    /* A program on the other end takes the place of stdin and stdout. */
    { 'e', 'c', NULL },
    { 'e', OPT_SEND_ONLY, NULL },
    { 'e', OPT_RECV_ONLY, NULL },
    { 'c', OPT_SEND_ONLY, NULL },
    { 'c', OPT_RECV_ONLY, NULL },
    { 'e', OPT_BROKER, "a broker's clients talk to each other, not to a program" },
    { 'c', OPT_BROKER, "a broker's clients talk to each other, not to a program" },
    { 'e', OPT_CHAT, "a broker's clients talk to each other, not to a program" },
    { 'c', OPT_CHAT, "a broker's clients talk to each other, not to a program" },
    /* The probe sends nothing and reads nothing: it only asks who answers. */
    { 'z', 'U', NULL },
    { 'z', 's', NULL },
    { 'z', 'p', NULL },
    { 'z', OPT_SEND_ONLY, NULL },
    { 'z', OPT_RECV_ONLY, NULL },
    { 'z', OPT_NO_SHUTDOWN, NULL },
    { 'z', 'C', NULL },
    { 'z', 'x', NULL },
    { 'z', 'o', NULL },
    { 'z', OPT_APPEND_OUTPUT, NULL },
    { 'z', 'e', NULL },
    { 'z', 'c', NULL },
    /* The line-ending and logging steps are on stdin's and stdout's way. */
    { 'e', 'C', "a program's pipes take the place of stdin and stdout" },
    { 'e', 'x', "a program's pipes take the place of stdin and stdout" },
    { 'e', 'o', "a program's pipes take the place of stdin and stdout" },
    { 'c', 'C', "a program's pipes take the place of stdin and stdout" },
    { 'c', 'x', "a program's pipes take the place of stdin and stdout" },
    { 'c', 'o', "a program's pipes take the place of stdin and stdout" },
    { 'u', OPT_SSL, "TLS needs a stream; there is no DTLS" },
    { 'u', OPT_PROXY, "proxies carry streams" },
    { 'U', OPT_PROXY, NULL },
    { OPT_SSL_VERIFY, OPT_SSL_NO_VERIFY, NULL },
    { OPT_SSL_PIN, OPT_SSL_NO_VERIFY, NULL },
    { 'u', OPT_KEEPALIVE, "UDP has no connection to probe" },
    { 'U', OPT_KEEPALIVE, "a Unix socket has no keepalive" },
    /* -q counts from stdin's EOF, which --recv-only never reads. */
    { 'q', OPT_RECV_ONLY, "-q counts from the end of stdin, which --recv-only never reads" },
    { 'q', 'k', "a keep-open server ends on a signal" },
};

/* What the command line held, for the table of conflicts. */
struct given {
    const unsigned char *seen;   /* by index in option_specs */
    bool port_operand;
};

static bool was_given(const struct given *g, int id)
{
    if (id == GIVEN_PORT_OPERAND)
        return g->port_operand;
    return g->seen[spec_index(id)];
}

/* "-U", "--allow" or "a PORT operand", for messages. */
static void describe(int id, char *out, size_t size)
{
    const struct option_spec *spec = spec_for(id);

    if (id == GIVEN_PORT_OPERAND)
        snprintf(out, size, "a PORT operand");
    else if (id < 256)
        snprintf(out, size, "-%c", id);
    else
        snprintf(out, size, "--%s", spec ? spec->name : "?");
}

/* Options valid in the chosen mode only, and pairs that exclude each other. */
static int check_combinations(struct sc_opts *o, const struct given *g)
{
    unsigned mode_bit = o->mode == SC_MODE_CONNECT ? FOR_CONNECT : FOR_LISTEN;
    char a[32], b[32];

    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (g->seen[i] && !(option_specs[i].modes & mode_bit)) {
            sc_usage_error("option --%s: not valid with %s", option_specs[i].name,
                           o->mode == SC_MODE_CONNECT ? "connect" : "listen");
            return -1;
        }
    }
    for (size_t i = 0; i < sizeof(conflicts) / sizeof(conflicts[0]); i++) {
        if (was_given(g, conflicts[i].a) && was_given(g, conflicts[i].b)) {
            describe(conflicts[i].a, a, sizeof(a));
            describe(conflicts[i].b, b, sizeof(b));
            if (conflicts[i].why)
                sc_usage_error("conflicting options: %s and %s (%s)", a, b, conflicts[i].why);
            else
                sc_usage_error("conflicting options: %s and %s", a, b);
            return -1;
        }
    }
    /* -u -z waits -w for an ICMP unreachable; a plain UDP socket connects at once. */
    if (was_given(g, 'u') && was_given(g, 'w') && !o->zero_io) {
        sc_usage_error("conflicting options: -u and -w (a UDP socket connects at once)");
        return -1;
    }
    if (o->append_output && !o->hex_dump_path && !o->output_path) {
        sc_usage_error("option --append-output: needs -x or -o");
        return -1;
    }
    /* The probe reads no stdin. */
    if (o->zero_io)
        o->recv_only = true;
    /* -U -u binds -s PATH so that replies reach it; a Unix stream needs no address. */
    if (was_given(g, 'U') && was_given(g, 's') && !o->udp) {
        sc_usage_error("conflicting options: -U and -s (-s PATH is for -U -u)");
        return -1;
    }
    if (o->source_addr && !o->unix_path && parse_source(o->source_addr, &o->source_family) < 0)
        return -1;
    if (o->source_addr && o->family != AF_UNSPEC && o->family != o->source_family) {
        sc_usage_error("conflicting options: %s and -s %s (an %s address)",
                       o->family == AF_INET ? "-4" : "-6", o->source_addr,
                       net_family_name(o->source_family));
        return -1;
    }
    return 0;
}

/* The --ssl-* options need --ssl and --proxy-* need --proxy; the rest of their rules. */
static int check_ssl_and_proxy(struct sc_opts *o, const unsigned char *seen)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const char *name = option_specs[i].name;
        if (seen[i] && strncmp(name, "ssl-", 4) == 0 && !o->ssl) {
            sc_usage_error("option --%s: needs --ssl", name);
            return -1;
        }
        if (seen[i] && strncmp(name, "proxy-", 6) == 0 && !o->proxy_host) {
            sc_usage_error("option --%s: needs --proxy", name);
            return -1;
        }
    }
    if (o->ssl && !tls_available) {
        sc_usage_error("option --ssl: this sockcat was built without TLS (OpenSSL)");
        return -1;
    }
    if (o->ssl_key && !o->ssl_cert) {
        sc_usage_error("option --ssl-key: needs --ssl-cert");
        return -1;
    }
    if (!o->proxy_host)
        return 0;
    if (o->proxy_port == 0)
        o->proxy_port = o->proxy_type == SC_PROXY_HTTP ? 3128 : 1080;
    if (o->proxy_type == SC_PROXY_SOCKS4) {
        if (seen[spec_index(OPT_PROXY_DNS)] && o->proxy_dns_remote) {
            sc_usage_error("conflicting options: --proxy-type socks4 and --proxy-dns remote "
                           "(SOCKS4 carries an IPv4 address; socks4a carries names)");
            return -1;
        }
        o->proxy_dns_remote = false;
    } else if (!seen[spec_index(OPT_PROXY_DNS)]) {
        o->proxy_dns_remote = true;
    }
    return 0;
}

/* -s of one family cannot reach a numeric HOST of the other. */
static int check_source_reaches_host(const struct sc_opts *o)
{
    struct sockaddr_storage target;

    if (!o->source_addr || !o->host || net_parse_numeric(o->host, 0, &target) < 0 ||
        target.ss_family == o->source_family)
        return 0;
    sc_usage_error("-s %s: source address is %s but %s is %s", o->source_addr,
                   net_family_name(o->source_family), o->host,
                   net_family_name(target.ss_family));
    return -1;
}

static int parse_command(const char *word, struct sc_opts *o)
{
    if (!word) {
        sc_usage_error("missing command: expected 'connect' or 'listen'");
        return -1;
    }
    if (strcmp(word, "connect") == 0)
        o->mode = SC_MODE_CONNECT;
    else if (strcmp(word, "listen") == 0)
        o->mode = SC_MODE_LISTEN;
    else {
        sc_usage_error("unknown command '%s': expected 'connect' or 'listen'", word);
        return -1;
    }
    return 0;
}

/* -U PATH: one operand, a path or @NAME. */
static int parse_unix_operand(char **words, int count, struct sc_opts *o)
{
    if (count < 1) {
        sc_usage_error("missing operand: -U needs PATH");
        return -1;
    }
    if (count > 1) {
        sc_usage_error("extra operand: '%s'", words[1]);
        return -1;
    }
    if (words[0][0] == '\0' || strcmp(words[0], "@") == 0) {
        sc_usage_error("invalid path '%s': must name a file, or @NAME", words[0]);
        return -1;
    }
    o->unix_path = words[0];
    return 0;
}

/* -z: PORTS, a list of ports and ranges. */
static int parse_port_list(const char *text, struct sc_opts *o)
{
    char why[160];

    o->ports = malloc(sizeof(*o->ports));
    if (!o->ports) {
        sc_error(UV_ENOMEM, "parse ports");
        return -1;
    }
    if (portlist_parse(text, o->udp ? "udp" : "tcp", NULL, o->ports, why, sizeof(why)) < 0) {
        sc_usage_error("invalid ports %s", why);
        return -1;
    }
    return 0;
}

/* HOST PORT for connect, [HOST] PORT for listen; PATH with -U. */
static int parse_operands(char **words, int count, struct sc_opts *o)
{
    int min = o->mode == SC_MODE_CONNECT ? 2 : 1, port;

    if (o->unix_path)
        return parse_unix_operand(words, count, o);

    if (count < min) {
        sc_usage_error("missing operand: %s", o->mode == SC_MODE_CONNECT
                       ? "connect needs HOST and PORT" : "listen needs PORT");
        return -1;
    }
    if (count > 2) {
        sc_usage_error("extra operand: '%s'", words[2]);
        return -1;
    }
    if (count == 2)
        o->host = words[0];
    if (o->host && o->host[0] == '\0') {
        sc_usage_error("invalid host '': must not be empty");
        return -1;
    }
    if (o->zero_io)
        return parse_port_list(words[count - 1], o);
    if (port_or_complain(words[count - 1], &port, o->udp) < 0)
        return -1;
    if (port == 0 && o->mode == SC_MODE_CONNECT) {
        sc_usage_error("invalid port '%s': connect needs a port from 1 to 65535",
                       words[count - 1]);
        return -1;
    }
    o->port = (unsigned)port;
    return 0;
}

/* --help and --version succeed only if their text was really written. */
static int stdout_flushed(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return SC_EXIT_OK;
    sc_error(-errno, "write to stdout");
    return SC_EXIT_RUNTIME;
}

int cli_parse(int argc, char **argv, struct sc_opts *o)
{
    struct option longopts[OPTION_COUNT + 1];
    char shortopts[2 * OPTION_COUNT + 2];
    unsigned char seen[OPTION_COUNT];
    int id, longindex;

    memset(o, 0, sizeof(*o));
    o->family = AF_UNSPEC;
    o->source_port = -1;
    o->ready_fd = -1;
    /* Dead peers are noticed within about two minutes: 60 s + 6 x 10 s. */
    o->keepalive_idle = 60;
    o->keepalive_interval = 10;
    o->keepalive_count = 6;
    memset(seen, 0, sizeof(seen));
    build_getopt_tables(longopts, shortopts);

    opterr = 0;
    for (;;) {
        longindex = -1;
        id = getopt_long(argc, argv, shortopts, longopts, &longindex);
        if (id == -1)
            break;
        if (id == '?' || id == ':') {
            /* The failing word is argv[optind - 1], or argv[optind] while a
             * bundle of short options is still being taken apart. */
            complain_about_option(optind > 1 ? argv[optind - 1] : NULL,
                                  optind < argc ? argv[optind] : NULL, optopt);
            return SC_EXIT_USAGE;
        }
        if (id == 'h' || id == 'V') {
            if (id == 'h')
                print_help(stdout);
            else
                printf("sockcat %s\n", SOCKCAT_VERSION);
            return stdout_flushed();
        }
        seen[spec_index(id)] = 1;
        if (apply_option(o, id, optarg) < 0)
            return SC_EXIT_USAGE;
    }
    if (parse_command(optind < argc ? argv[optind] : NULL, o) < 0)
        return SC_EXIT_USAGE;
    /* -U takes one operand, PATH: a second one is a PORT. */
    struct given given = { seen, o->unix_path && argc - optind - 1 == 2 };
    if (check_combinations(o, &given) < 0 || check_ssl_and_proxy(o, seen) < 0 ||
        parse_operands(argv + optind + 1, argc - optind - 1, o) < 0 ||
        check_source_reaches_host(o) < 0)
        return SC_EXIT_USAGE;
    return CLI_RUN;
}

void cli_free(struct sc_opts *o)
{
    acl_free(&o->acl);
    free(o->ports);
    o->ports = NULL;
}
