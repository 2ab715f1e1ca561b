/*
 * acl: the --allow / --deny client address lists of listen mode.
 */
#ifndef SOCKCAT_ACL_H
#define SOCKCAT_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct sc_cidr {
    int family;          /* AF_INET or AF_INET6 */
    uint8_t addr[16];    /* network byte order, 4 or 16 bytes used */
    unsigned bits;
};

struct sc_cidr_list {
    struct sc_cidr *items;
    size_t count;
};

struct sc_acl {
    struct sc_cidr_list allow;  /* empty: everyone is allowed */
    struct sc_cidr_list deny;
};

/*
 * acl_add()
 * Parses "ADDR" or "ADDR/BITS" (IPv4 or IPv6) onto `list`.
 * Returns 0, or -1 when the text is not a valid address or prefix length.
 */
int acl_add(struct sc_cidr_list *list, const char *text);

/* True when a client at `sa` may talk to us. IPv4-mapped IPv6 counts as IPv4. */
bool acl_permits(const struct sc_acl *acl, const struct sockaddr *sa);

void acl_free(struct sc_acl *acl);

#endif
