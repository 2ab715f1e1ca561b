/*
 * The PORTS operand of -z. Input: one byte of flags (bit 0: UDP rather
 * than TCP), one byte of error room, then the text. Service names are
 * looked up in a small table here (a fixed answer, and quick), which also
 * answers out-of-range ports for some names. What is accepted must be:
 *   - only ports 1..65535, each once, count matching, portlist_next()
 *     walking them in increasing order;
 *   - the union of what each comma-separated item names alone, and each
 *     item's ends in the set.
 * What is refused leaves a NUL-terminated reason in the room given, and
 * nothing written past it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portlist.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static int table_lookup(const char *name, const char *proto)
{
    static const struct { const char *name; int port; } services[] = {
        { "ssh", 22 }, { "http", 80 }, { "https", 443 }, { "domain", 53 },
        { "top", 65535 }, { "zero", 0 }, { "huge", 65536 }, { "minus", -7 },
    };

    CHECK(strcmp(proto, "tcp") == 0 || strcmp(proto, "udp") == 0);
    CHECK(strlen(name) > 0);
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
        if (strcmp(name, services[i].name) == 0)
            return services[i].port;
    return -1;
}

static void check_walk(const struct sc_portlist *list)
{
    unsigned seen = 0, prev = 0;

    CHECK((list->bits[0] & 1u) == 0);
    for (unsigned p = portlist_next(list, 0); p != 0; p = portlist_next(list, p)) {
        CHECK(p > prev && p >= 1 && p <= SC_PORT_MAX);
        CHECK(portlist_has(list, p));
        prev = p;
        seen++;
    }
    CHECK(seen == list->count);
    unsigned bits = 0;
    for (unsigned p = 1; p <= SC_PORT_MAX; p++)
        bits += portlist_has(list, p);
    CHECK(bits == list->count);
}

/* Each item parsed alone: accepted, and together they make the whole. */
static void check_items(const char *text, const char *proto, const struct sc_portlist *whole)
{
    static struct sc_portlist one, all;
    char item[256], err[128];
    const char *at = text;

    memset(&all, 0, sizeof(all));
    for (;;) {
        size_t len = strcspn(at, ",");
        if (len < sizeof(item)) {
            memcpy(item, at, len);
            item[len] = '\0';
            CHECK(portlist_parse(item, proto, table_lookup, &one, err, sizeof(err)) == 0);
            for (size_t i = 0; i < sizeof(all.bits); i++)
                all.bits[i] |= one.bits[i];
            /* "P1-P2" has both ends; the ports in between are checked
             * by the walk and the count. */
            unsigned low = portlist_next(&one, 0), high = low;
            for (unsigned p = low; p != 0; p = portlist_next(&one, p))
                high = p;
            CHECK(low != 0 && one.count == high - low + 1);
            CHECK(portlist_has(whole, low) && portlist_has(whole, high));
        } else {
            /* A long item is refused alone as in the list: nothing to compare. */
            return;
        }
        if (at[len] == '\0')
            break;
        at += len + 1;
    }
    CHECK(memcmp(all.bits, whole->bits, sizeof(all.bits)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sc_portlist list;
    const char *proto;
    size_t room;
    char *text, *err;

    if (size < 2 || size > 1024)
        return 0;
    proto = data[0] & 1 ? "udp" : "tcp";
    room = data[1];
    text = malloc(size - 2 + 1);
    err = malloc(room ? room : 1);
    CHECK(text && err);
    memcpy(text, data + 2, size - 2);
    text[size - 2] = '\0';
    memset(err, 'x', room ? room : 1);

    if (portlist_parse(text, proto, table_lookup, &list, err, room) == 0) {
        CHECK(list.count >= 1);
        check_walk(&list);
        check_items(text, proto, &list);
    } else if (room > 0) {
        CHECK(memchr(err, '\0', room) != NULL);
        CHECK(room == 1 || err[0] == '\'');
    }
    free(text);
    free(err);
    return 0;
}
