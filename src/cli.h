/*
 * cli: the command line, parsed and validated into one read-only
 * struct sc_opts. Nothing else looks at argv.
 */
#ifndef SOCKCAT_CLI_H
#define SOCKCAT_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "acl.h"

struct sc_portlist;

enum sc_mode { SC_MODE_CONNECT, SC_MODE_LISTEN };

/* What -k does with a client that does not read its broadcast. */
enum sc_slow_policy {
    SC_SLOW_BLOCK,      /* pause stdin until it catches up (lossless) */
    SC_SLOW_DROP,       /* it misses broadcast data; counted */
    SC_SLOW_DISCONNECT, /* it is closed */
};

enum sc_stats_format { SC_STATS_NONE, SC_STATS_TEXT, SC_STATS_JSON };

struct sc_opts {
    enum sc_mode mode;
    const char *host;         /* NULL: listen on every interface */
    const char *unix_path;    /* -U: PATH or @NAME instead of HOST PORT */
    unsigned port;
    int family;               /* AF_UNSPEC, AF_INET or AF_INET6 */
    bool numeric;
    bool keep_open;
    bool broker;              /* --broker: clients hear each other; implies keep_open */
    bool chat;                /* --chat: a line-framed broker; implies broker */
    bool udp;                 /* -u: datagrams instead of a stream */
    bool send_only;
    bool recv_only;
    bool no_shutdown;
    bool no_zerocopy;         /* never the kernel-only fast paths (zerocopy.c) */
    bool progress;
    uint64_t wait_ms;         /* -w: connect timeout; 0 means none */
    uint64_t idle_ms;         /* -i: no traffic either way this long ends it; 0: none */
    uint64_t quit_ms;         /* -q: after stdin EOF, wait this long for the peer */
    bool quit_set;            /* -q given (-q 0 is a value) */
    bool keepalive;           /* --keepalive: TCP keepalive probes */
    unsigned keepalive_idle;      /* seconds before the first probe */
    unsigned keepalive_interval;  /* seconds between probes */
    unsigned keepalive_count;     /* unanswered probes that end the connection */
    const char *source_addr;  /* connect: local address, or NULL */
    int source_family;        /* AF_INET or AF_INET6 with source_addr */
    int source_port;          /* connect: local port, or -1 */
    unsigned max_conns;       /* 0: unlimited */
    struct sc_acl acl;
    enum sc_slow_policy slow_client;
    enum sc_stats_format stats;
    int ready_fd;             /* -1: none */
    const char *exec;         /* -e PROG ARGS or -c CMD: a child instead of stdio */
    bool exec_shell;          /* -c: run exec with /bin/sh -c */
    bool zero_io;             /* -z: probe the ports, send nothing */
    struct sc_portlist *ports;  /* -z: the PORTS operand */
    bool crlf;                /* -C: LF sent as CRLF */
    const char *hex_dump_path;  /* -x FILE, or NULL */
    const char *output_path;  /* -o FILE, or NULL */
    bool append_output;       /* --append-output: -x/-o append */
    /* --ssl and its settings (NULL: not given) */
    bool ssl;
    bool ssl_verify;          /* --ssl-verify: listen asks clients for certificates */
    bool ssl_no_verify;
    const char *ssl_trustfile;
    const char *ssl_servername;
    const char *ssl_alpn;
    const char *ssl_cert;
    const char *ssl_key;
    const char *ssl_ciphers;
    const char *ssl_pin;      /* sha256:HEX */
    /* --proxy: dial through HOST[:PORT] */
    const char *proxy_host;
    unsigned proxy_port;
    enum sc_proxy_type { SC_PROXY_HTTP, SC_PROXY_SOCKS4, SC_PROXY_SOCKS4A,
                         SC_PROXY_SOCKS5 } proxy_type;
    const char *proxy_auth;   /* USER:PASS */
    bool proxy_dns_remote;    /* the proxy resolves HOST */
    char proxy_host_buf[256];
};

/* cli_parse returns this to run, or an exit status to return at once. */
#define CLI_RUN (-1)

/*
 * cli_parse()
 * Fills `opts` from argv. Prints help, the version or a usage error itself.
 * Returns CLI_RUN, or the exit status for main to return.
 */
int cli_parse(int argc, char **argv, struct sc_opts *opts);

/* Frees what cli_parse allocated (the address lists). */
void cli_free(struct sc_opts *opts);

#endif
