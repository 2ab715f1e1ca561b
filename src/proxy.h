/*
 * proxy: the bytes of proxy handshakes — HTTP CONNECT, SOCKS4, SOCKS4a
 * and SOCKS5 — as pure functions: requests are built into a caller's
 * buffer, answers parsed from whatever has arrived so far. No I/O and no
 * libuv here (proxy_dial.c drives them), so each parser can be fed any
 * bytes at all.
 *
 * Builders return the request's length, or -1 when it does not fit or a
 * field is too long for the protocol.
 *
 * Parsers take the bytes received so far and return PROXY_MORE (the
 * answer is not complete yet), PROXY_OK (success; *used is the length of
 * the answer: bytes after it are the server's), PROXY_REFUSED (a
 * well-formed refusal: the code and the text say which) or
 * PROXY_MALFORMED (not the protocol's answer at all). Parsing is strict:
 * anything the protocol does not allow is malformed.
 */
#ifndef SOCKCAT_PROXY_H
#define SOCKCAT_PROXY_H

#include <stdbool.h>
#include <stddef.h>

enum proxy_result {
    PROXY_MORE = 0,
    PROXY_OK = 1,
    PROXY_REFUSED = -1,
    PROXY_MALFORMED = -2,
};

/* An HTTP answer longer than this is not a proxy's. */
#define PROXY_HTTP_MAX_REPLY 8192

/* "CONNECT host:port HTTP/1.1" with Host and, given "USER:PASS", Basic auth. */
int proxy_http_request(char *out, size_t size, const char *host, unsigned port,
                       const char *auth);

/*
 * The status line and headers, up to the empty line. *status is the code
 * (2xx is success); `reason` gets "403 Forbidden" in printable characters.
 */
int proxy_http_parse(const char *buf, size_t len, size_t *used, int *status, char *reason,
                     size_t reason_size);

/* SOCKS4 with an IPv4 address, or SOCKS4a with `host` (ipv4 NULL). */
int proxy_socks4_request(unsigned char *out, size_t size, const unsigned char *ipv4,
                         const char *host, unsigned port, const char *user);

/* The 8-byte answer; *code is its CD byte (90: granted). */
int proxy_socks4_parse(const unsigned char *buf, size_t len, size_t *used, int *code);
const char *proxy_socks4_text(int code);

/* The method offer: no authentication, and user/password when `with_auth`. */
int proxy_socks5_greeting(unsigned char *out, size_t size, bool with_auth);

/* The method chosen (*method: 0 none, 2 user/password; 0xFF refuses all). */
int proxy_socks5_parse_method(const unsigned char *buf, size_t len, size_t *used, int *method);

/* RFC 1929 user/password from "USER:PASS". */
int proxy_socks5_auth_request(unsigned char *out, size_t size, const char *auth);

/* *status 0 is success. */
int proxy_socks5_parse_auth(const unsigned char *buf, size_t len, size_t *used, int *status);

/*
 * CONNECT to an address (family 4 or 6, `addr` its 4 or 16 bytes) or,
 * with family 0, to the name `host`.
 */
int proxy_socks5_connect_request(unsigned char *out, size_t size, int family,
                                 const unsigned char *addr, const char *host, unsigned port);

/* *code is REP (0: succeeded); the bound address after it is skipped. */
int proxy_socks5_parse_connect(const unsigned char *buf, size_t len, size_t *used, int *code);
const char *proxy_socks5_text(int code);

#endif
