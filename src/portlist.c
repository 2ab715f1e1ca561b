#include "portlist.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

/* Longest item we look at ("65535-65535", or a service name). */
#define ITEM_MAX 64

static int default_lookup(const char *name, const char *proto)
{
    struct servent *service = getservbyname(name, proto);

    return service ? ntohs((uint16_t)service->s_port) : -1;
}

static void fail(char *err, size_t size, const char *item, size_t len, const char *why)
{
    if (len > ITEM_MAX)
        snprintf(err, size, "'%.*s...': %s", ITEM_MAX, item, why);
    else
        snprintf(err, size, "'%.*s': %s", (int)len, item, why);
}

static bool all_digits(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '+' || c == '/';
}

/*
 * One port: a number 1..65535 or a service name. Returns the port, or 0
 * with the reason in `why`.
 */
static unsigned one_port(const char *s, size_t len, const char *proto,
                         sc_service_lookup lookup, const char **why)
{
    char name[ITEM_MAX + 1];

    if (len == 0) {
        *why = "a port is missing";
        return 0;
    }
    if (all_digits(s, len)) {
        unsigned long value = 0;
        for (size_t i = 0; i < len && value <= SC_PORT_MAX; i++)
            value = value * 10 + (unsigned long)(s[i] - '0');
        if (value < 1 || value > SC_PORT_MAX) {
            *why = "ports run from 1 to 65535";
            return 0;
        }
        return (unsigned)value;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_name_char(s[i]) || len > ITEM_MAX) {
            *why = "not a port number or a service name";
            return 0;
        }
    }
    memcpy(name, s, len);
    name[len] = '\0';
    int port = lookup(name, proto);
    if (port < 1 || port > SC_PORT_MAX) {
        *why = strcmp(proto, "udp") == 0 ? "no such UDP service" : "no such TCP service";
        return 0;
    }
    return (unsigned)port;
}

static void add_range(struct sc_portlist *list, unsigned low, unsigned high)
{
    for (unsigned p = low; p <= high; p++) {
        uint8_t bit = (uint8_t)(1u << (p % 8));
        if (!(list->bits[p / 8] & bit)) {
            list->bits[p / 8] |= bit;
            list->count++;
        }
    }
}

/* "P" or "P1-P2" (a service name has no '-' in it here). */
static int parse_item(const char *s, size_t len, const char *proto, sc_service_lookup lookup,
                      struct sc_portlist *list, char *err, size_t err_size)
{
    const char *dash = memchr(s, '-', len);
    const char *why = NULL;
    unsigned low, high;

    if (!dash) {
        low = high = one_port(s, len, proto, lookup, &why);
    } else {
        low = one_port(s, (size_t)(dash - s), proto, lookup, &why);
        high = low ? one_port(dash + 1, len - (size_t)(dash - s) - 1, proto, lookup, &why) : 0;
        if (low && high && low > high)
            why = "the range runs backwards";
    }
    if (why) {
        fail(err, err_size, s, len, why);
        return -1;
    }
    add_range(list, low, high);
    return 0;
}

int portlist_parse(const char *text, const char *proto, sc_service_lookup lookup,
                   struct sc_portlist *list, char *err, size_t err_size)
{
    const char *item = text;

    memset(list, 0, sizeof(*list));
    if (!lookup)
        lookup = default_lookup;
    for (;;) {
        const char *comma = strchr(item, ',');
        size_t len = comma ? (size_t)(comma - item) : strlen(item);

        if (parse_item(item, len, proto, lookup, list, err, err_size) < 0)
            return -1;
        if (!comma)
            return 0;
        item = comma + 1;
    }
}

unsigned portlist_next(const struct sc_portlist *list, unsigned after)
{
    for (unsigned p = after + 1; p <= SC_PORT_MAX; p++) {
        if (list->bits[p / 8] == 0 && p % 8 == 0) {
            p += 7;  /* a whole empty byte */
            continue;
        }
        if (portlist_has(list, p))
            return p;
    }
    return 0;
}
