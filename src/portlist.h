/*
 * portlist: the PORTS operand of the port probe (-z), parsed into the set
 * of ports it names. "22", "8000-8100", "http", or a comma list of those
 * ("22,80,8000-8100"). Pure: no libuv, no output, nothing allocated, so
 * it can be called on any bytes (the fuzz targets do).
 */
#ifndef SOCKCAT_PORTLIST_H
#define SOCKCAT_PORTLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SC_PORT_MAX 65535

/* One bit per port, 1..65535 (bit 0 is never set). */
struct sc_portlist {
    uint8_t bits[(SC_PORT_MAX + 1) / 8];
    unsigned count;     /* ports in the set, each counted once */
};

/*
 * Looks a service name up for `proto` ("tcp" or "udp"): the port, or -1.
 * NULL in portlist_parse means getservbyname(3).
 */
typedef int (*sc_service_lookup)(const char *name, const char *proto);

/*
 * portlist_parse()
 * Parses `text` into `list` (emptied first). A range is P1-P2 with
 * P1 <= P2; ports are 1..65535; a name is looked up with `lookup` for
 * `proto`. Returns 0, or -1 with the reason in `err` (which names the bad
 * part: "'9-1': the range runs backwards").
 */
int portlist_parse(const char *text, const char *proto, sc_service_lookup lookup,
                   struct sc_portlist *list, char *err, size_t err_size);

static inline bool portlist_has(const struct sc_portlist *list, unsigned port)
{
    return port >= 1 && port <= SC_PORT_MAX && (list->bits[port / 8] >> (port % 8)) & 1u;
}

/* The smallest port in the list above `after` (0: from the start), or 0. */
unsigned portlist_next(const struct sc_portlist *list, unsigned after);

#endif
