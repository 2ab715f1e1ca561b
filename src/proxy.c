#include "proxy.h"

#include <stdio.h>
#include <string.h>

/* ---- HTTP CONNECT ---- */

static size_t base64(const char *in, size_t len, char *out)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;

    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)in[i + 2];
        out[o++] = digits[v >> 18 & 63];
        out[o++] = digits[v >> 12 & 63];
        out[o++] = i + 1 < len ? digits[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? digits[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

int proxy_http_request(char *out, size_t size, const char *host, unsigned port,
                       const char *auth)
{
    char authority[300], credentials[700] = "";
    bool ipv6 = strchr(host, ':') != NULL;
    int n;

    if (strlen(host) > 255 || strpbrk(host, " \r\n"))
        return -1;
    snprintf(authority, sizeof(authority), ipv6 ? "[%s]:%u" : "%s:%u", host, port);
    if (auth) {
        char encoded[520];
        if (strlen(auth) > 380 || strpbrk(auth, "\r\n"))
            return -1;
        base64(auth, strlen(auth), encoded);
        snprintf(credentials, sizeof(credentials), "Proxy-Authorization: Basic %s\r\n", encoded);
    }
    n = snprintf(out, size, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", authority, authority,
                 credentials);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

/* The end of the header: the first empty line (CRLF CRLF). */
static const char *header_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return buf + i + 4;
    return NULL;
}

/* Header bytes may be printable, tab, or CR only before LF. */
static bool header_bytes_valid(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\r' ? i + 1 >= len || buf[i + 1] != '\n'
                      : c != '\n' && c != '\t' && (c < 0x20 || c == 0x7f))
            return false;
        if (c == '\n' && (i == 0 || buf[i - 1] != '\r'))
            return false;
    }
    return true;
}

int proxy_http_parse(const char *buf, size_t len, size_t *used, int *status, char *reason,
                     size_t reason_size)
{
    static const char prefix[] = "HTTP/1.";
    const char *end, *line_end;
    size_t reason_len;

    /* Fail as soon as the start cannot be a status line. */
    if (memcmp(buf, prefix, len < 7 ? len : 7) != 0)
        return PROXY_MALFORMED;
    end = header_end(buf, len);
    if (!end)
        return len >= PROXY_HTTP_MAX_REPLY ? PROXY_MALFORMED : PROXY_MORE;
    if ((size_t)(end - buf) > PROXY_HTTP_MAX_REPLY || !header_bytes_valid(buf, (size_t)(end - buf)))
        return PROXY_MALFORMED;
    /* "HTTP/1.x SP DDD SP reason CRLF" (the reason may be empty). */
    line_end = memchr(buf, '\r', (size_t)(end - buf));  /* valid bytes: CR starts CRLF */
    if (line_end - buf < 12 || (line_end - buf > 12 && buf[12] != ' '))
        return PROXY_MALFORMED;
    if ((buf[7] != '0' && buf[7] != '1') || buf[8] != ' ' || buf[9] < '1' || buf[9] > '5' ||
        buf[10] < '0' || buf[10] > '9' || buf[11] < '0' || buf[11] > '9')
        return PROXY_MALFORMED;
    *status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    reason_len = (size_t)(line_end - (buf + 9));
    if (reason_size > 0) {
        if (reason_len >= reason_size)
            reason_len = reason_size - 1;
        for (size_t i = 0; i < reason_len; i++)
            reason[i] = (unsigned char)buf[9 + i] >= 0x20 && (unsigned char)buf[9 + i] < 0x7f
                            ? buf[9 + i] : ' ';
        reason[reason_len] = '\0';
    }
    *used = (size_t)(end - buf);
    return *status / 100 == 2 ? PROXY_OK : PROXY_REFUSED;
}

/* ---- SOCKS4 and SOCKS4a ---- */

int proxy_socks4_request(unsigned char *out, size_t size, const unsigned char *ipv4,
                         const char *host, unsigned port, const char *user)
{
    size_t user_len = user ? strcspn(user, ":") : 0;
    size_t host_len = ipv4 ? 0 : strlen(host) + 1;
    size_t n = 8 + user_len + 1 + host_len;

    if (n > size || user_len > 255 || host_len > 256 || port > 65535)
        return -1;
    out[0] = 4;
    out[1] = 1;  /* CONNECT */
    out[2] = (unsigned char)(port >> 8);
    out[3] = (unsigned char)port;
    if (ipv4) {
        memcpy(out + 4, ipv4, 4);
    } else {
        /* 0.0.0.x: the name follows the user (SOCKS4a). */
        out[4] = out[5] = out[6] = 0;
        out[7] = 1;
    }
    memcpy(out + 8, user ? user : "", user_len);
    out[8 + user_len] = 0;
    if (!ipv4)
        memcpy(out + 9 + user_len, host, host_len);
    return (int)n;
}

int proxy_socks4_parse(const unsigned char *buf, size_t len, size_t *used, int *code)
{
    if (len >= 1 && buf[0] != 0)
        return PROXY_MALFORMED;
    if (len >= 2 && (buf[1] < 90 || buf[1] > 93))
        return PROXY_MALFORMED;
    if (len < 8)
        return PROXY_MORE;
    *code = buf[1];
    *used = 8;
    return *code == 90 ? PROXY_OK : PROXY_REFUSED;
}

const char *proxy_socks4_text(int code)
{
    switch (code) {
    case 90: return "request granted";
    case 91: return "request rejected or failed";
    case 92: return "rejected: cannot reach the client's identd";
    case 93: return "rejected: identd reports another user";
    }
    return "unknown answer";
}

/* ---- SOCKS5 ---- */

int proxy_socks5_greeting(unsigned char *out, size_t size, bool with_auth)
{
    size_t n = with_auth ? 4 : 3;

    if (size < n)
        return -1;
    out[0] = 5;
    out[1] = with_auth ? 2 : 1;
    out[2] = 0;      /* no authentication */
    if (with_auth)
        out[3] = 2;  /* user/password */
    return (int)n;
}

int proxy_socks5_parse_method(const unsigned char *buf, size_t len, size_t *used, int *method)
{
    if (len >= 1 && buf[0] != 5)
        return PROXY_MALFORMED;
    if (len < 2)
        return PROXY_MORE;
    *method = buf[1];
    *used = 2;
    if (buf[1] == 0 || buf[1] == 2)
        return PROXY_OK;
    return buf[1] == 0xFF ? PROXY_REFUSED : PROXY_MALFORMED;
}

int proxy_socks5_auth_request(unsigned char *out, size_t size, const char *auth)
{
    const char *colon = strchr(auth, ':');
    size_t user_len, pass_len;

    if (!colon)
        return -1;
    user_len = (size_t)(colon - auth);
    pass_len = strlen(colon + 1);
    if (user_len == 0 || user_len > 255 || pass_len > 255 || 3 + user_len + pass_len > size)
        return -1;
    out[0] = 1;
    out[1] = (unsigned char)user_len;
    memcpy(out + 2, auth, user_len);
    out[2 + user_len] = (unsigned char)pass_len;
    memcpy(out + 3 + user_len, colon + 1, pass_len);
    return (int)(3 + user_len + pass_len);
}

int proxy_socks5_parse_auth(const unsigned char *buf, size_t len, size_t *used, int *status)
{
    if (len >= 1 && buf[0] != 1)
        return PROXY_MALFORMED;
    if (len < 2)
        return PROXY_MORE;
    *status = buf[1];
    *used = 2;
    return buf[1] == 0 ? PROXY_OK : PROXY_REFUSED;
}

int proxy_socks5_connect_request(unsigned char *out, size_t size, int family,
                                 const unsigned char *addr, const char *host, unsigned port)
{
    size_t addr_len = family == 4 ? 4 : family == 6 ? 16 : strlen(host);
    size_t n;

    if (addr_len == 0 || addr_len > 255 || port > 65535)
        return -1;
    n = 4 + (family ? 0 : 1) + addr_len + 2;
    if (n > size)
        return -1;
    out[0] = 5;
    out[1] = 1;  /* CONNECT */
    out[2] = 0;
    if (family) {
        out[3] = family == 4 ? 1 : 4;
        memcpy(out + 4, addr, addr_len);
    } else {
        out[3] = 3;
        out[4] = (unsigned char)addr_len;
        memcpy(out + 5, host, addr_len);
    }
    out[n - 2] = (unsigned char)(port >> 8);
    out[n - 1] = (unsigned char)port;
    return (int)n;
}

int proxy_socks5_parse_connect(const unsigned char *buf, size_t len, size_t *used, int *code)
{
    size_t need;

    if (len >= 1 && buf[0] != 5)
        return PROXY_MALFORMED;
    if (len >= 2 && buf[1] > 8)
        return PROXY_MALFORMED;
    if (len >= 3 && buf[2] != 0)
        return PROXY_MALFORMED;
    if (len < 4)
        return PROXY_MORE;
    switch (buf[3]) {
    case 1: need = 4 + 4 + 2; break;
    case 4: need = 4 + 16 + 2; break;
    case 3:
        if (len < 5)
            return PROXY_MORE;
        if (buf[4] == 0)
            return PROXY_MALFORMED;
        need = 5 + buf[4] + 2;
        break;
    default:
        return PROXY_MALFORMED;
    }
    if (len < need)
        return PROXY_MORE;
    *code = buf[1];
    *used = need;
    return buf[1] == 0 ? PROXY_OK : PROXY_REFUSED;
}

const char *proxy_socks5_text(int code)
{
    static const char *const texts[] = {
        "succeeded",
        "general SOCKS server failure",
        "connection not allowed by ruleset",
        "network unreachable",
        "host unreachable",
        "connection refused",
        "TTL expired",
        "command not supported",
        "address type not supported",
    };

    return code >= 0 && code <= 8 ? texts[code] : "unknown answer";
}
