#include "acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "diag.h"

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/*
 * A rule written as ::ffff:a.b.c.d[/bits] is about IPv4 clients, and those
 * are compared as IPv4 (a dual-stack listener sees them mapped, a plain
 * IPv4 one does not): store it as the IPv4 rule it means.
 */
static void normalize_mapped(struct sc_cidr *cidr)
{
    if (cidr->family != AF_INET6 || cidr->bits < 96 ||
        memcmp(cidr->addr, v4_mapped_prefix, sizeof(v4_mapped_prefix)) != 0)
        return;
    memmove(cidr->addr, cidr->addr + 12, 4);
    memset(cidr->addr + 4, 0, 12);
    cidr->family = AF_INET;
    cidr->bits -= 96;
}

int acl_add(struct sc_cidr_list *list, const char *text)
{
    struct sc_cidr cidr;
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t addr_len = slash ? (size_t)(slash - text) : strlen(text);
    unsigned max_bits;

    if (addr_len == 0 || addr_len >= sizeof(addr))
        return -1;
    memcpy(addr, text, addr_len);
    addr[addr_len] = '\0';
    memset(&cidr, 0, sizeof(cidr));
    if (inet_pton(AF_INET, addr, cidr.addr) == 1) {
        cidr.family = AF_INET;
        max_bits = 32;
    } else if (inet_pton(AF_INET6, addr, cidr.addr) == 1) {
        cidr.family = AF_INET6;
        max_bits = 128;
    } else {
        return -1;
    }
    cidr.bits = max_bits;
    if (slash) {
        char *end;
        unsigned long bits;

        if (slash[1] < '0' || slash[1] > '9')
            return -1;
        bits = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || bits > max_bits)
            return -1;
        cidr.bits = (unsigned)bits;
    }
    normalize_mapped(&cidr);
    struct sc_cidr *grown = realloc(list->items, (list->count + 1) * sizeof(*grown));
    if (!grown)
        return -1;
    list->items = grown;
    list->items[list->count++] = cidr;
    return 0;
}

static bool prefix_matches(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;

    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

static bool list_matches(const struct sc_cidr_list *list, int family, const uint8_t *addr)
{
    for (size_t i = 0; i < list->count; i++) {
        const struct sc_cidr *c = &list->items[i];
        if (c->family == family && prefix_matches(c->addr, addr, c->bits))
            return true;
    }
    return false;
}

bool acl_permits(const struct sc_acl *acl, const struct sockaddr *sa)
{
    uint8_t addr[16];
    int family = sa->sa_family;

    if (acl->allow.count == 0 && acl->deny.count == 0)
        return true;
    if (family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (family == AF_INET6) {
        const uint8_t *a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        /* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d. */
        if (memcmp(a6, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
            family = AF_INET;
            memcpy(addr, a6 + 12, 4);
        } else {
            memcpy(addr, a6, 16);
        }
    } else {
        return false;
    }
    if (list_matches(&acl->deny, family, addr))
        return false;
    return acl->allow.count == 0 || list_matches(&acl->allow, family, addr);
}

void acl_free(struct sc_acl *acl)
{
    for (size_t i = 0; i < acl->name_count; i++) {
        free(acl->names[i].name);
        free(acl->names[i].origin);
    }
    free(acl->names);
    free(acl->allow.items);
    free(acl->deny.items);
    memset(acl, 0, sizeof(*acl));
}

/* ---- host names and files ---- */

/*
 * A host name as DNS allows it (letters, digits, '-', '.', '_'). Digits and
 * dots alone are a mistyped IPv4 address (300.1.1.1), never a name: that is
 * a usage error, not a look-up that fails later.
 */
static bool looks_like_host_name(const char *text)
{
    size_t len = strlen(text);

    if (len == 0 || len > 253 || text[0] == '-' || text[0] == '.')
        return false;
    if (strspn(text, "0123456789.") == len)
        return false;
    for (const char *p = text; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_'))
            return false;
    }
    return true;
}

static char *copy_text(const char *text)
{
    size_t len = strlen(text) + 1;
    char *copy = malloc(len);

    if (copy)
        memcpy(copy, text, len);
    return copy;
}

int acl_add_entry(struct sc_acl *acl, bool allow, const char *text, const char *origin)
{
    if (acl_add(allow ? &acl->allow : &acl->deny, text) == 0)
        return 0;
    if (!looks_like_host_name(text))
        return -1;
    struct sc_acl_name *grown = realloc(acl->names, (acl->name_count + 1) * sizeof(*grown));
    if (!grown)
        return -1;
    acl->names = grown;
    struct sc_acl_name *n = &acl->names[acl->name_count];
    n->allow = allow;
    n->name = copy_text(text);
    n->origin = copy_text(origin);
    if (!n->name || !n->origin) {
        free(n->name);
        free(n->origin);
        return -1;
    }
    acl->name_count++;
    return 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int acl_parse_line(const char *line, char *entry, size_t size)
{
    const char *start = line, *end;

    while (is_blank(*start))
        start++;
    end = start;
    while (*end && *end != '#' && !is_blank(*end))
        end++;
    const char *rest = end;
    while (is_blank(*rest))
        rest++;
    /* One entry a line: anything after it but a comment is an error. */
    if (*rest && *rest != '#')
        return -1;
    if ((size_t)(end - start) >= size)
        return -1;
    memcpy(entry, start, (size_t)(end - start));
    entry[end - start] = '\0';
    return 0;
}

int acl_load_file(struct sc_acl *acl, bool allow, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024], entry[300], origin[300];
    unsigned number = 0;
    int rc = 0;

    if (!f) {
        sc_error(-errno, "open %s", path);
        return -1;
    }
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        number++;
        snprintf(origin, sizeof(origin), "%s:%u", path, number);
        bool whole = strchr(line, '\n') || feof(f);
        if (!whole || acl_parse_line(line, entry, sizeof(entry)) < 0 ||
            (entry[0] && acl_add_entry(acl, allow, entry, origin) < 0)) {
            line[strcspn(line, "\r\n")] = '\0';
            sc_usage_error("%s: invalid entry '%.60s': must be ADDR, ADDR/BITS or a host name",
                           origin, line);
            rc = -1;
        }
    }
    if (rc == 0 && ferror(f)) {
        sc_error(-errno, "read %s", path);
        rc = -1;
    }
    fclose(f);
    return rc;
}

/* Adds one resolved address as a rule for that address alone. */
static int add_address(struct sc_cidr_list *list, const struct sockaddr *sa)
{
    char text[INET6_ADDRSTRLEN];
    const void *addr = sa->sa_family == AF_INET
                           ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                           : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;

    if (!inet_ntop(sa->sa_family, addr, text, sizeof(text)))
        return -1;
    return acl_add(list, text);
}

int acl_resolve(struct sc_acl *acl, uv_loop_t *loop)
{
    struct addrinfo hints;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    for (size_t i = 0; i < acl->name_count; i++) {
        struct sc_acl_name *n = &acl->names[i];
        uv_getaddrinfo_t req;
        /* No callback: resolved here and now, once, before anyone connects. */
        int rc = uv_getaddrinfo(loop, &req, NULL, n->name, NULL, &hints);
        if (rc < 0) {
            sc_error(rc, "resolve %s (%s)", n->name, n->origin);
            return -1;
        }
        for (struct addrinfo *ai = req.addrinfo; ai && rc == 0; ai = ai->ai_next)
            if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
                rc = add_address(n->allow ? &acl->allow : &acl->deny, ai->ai_addr);
        uv_freeaddrinfo(req.addrinfo);
        if (rc < 0) {
            sc_error(UV_ENOMEM, "resolve %s (%s)", n->name, n->origin);
            return -1;
        }
        sc_verbose(2, "%s %s: resolved", n->allow ? "allow" : "deny", n->name);
    }
    return 0;
}
