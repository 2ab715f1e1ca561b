#include "acl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

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
    free(acl->allow.items);
    free(acl->deny.items);
    memset(acl, 0, sizeof(*acl));
}
