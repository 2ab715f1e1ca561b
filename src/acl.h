/*
 * acl: the --allow / --deny client address lists of listen mode.
 * Entries are ADDR, ADDR/BITS or host names, given on the command line or
 * read from files (--allowfile/--denyfile). Names are resolved once, at
 * start (acl_resolve), to every address they have, IPv4 and IPv6.
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

/* A host name waiting to be resolved, and where it was written. */
struct sc_acl_name {
    bool allow;
    char *name;
    char *origin;        /* "--allow", or "FILE:LINE" */
};

struct sc_acl {
    struct sc_cidr_list allow;  /* empty: everyone is allowed */
    struct sc_cidr_list deny;
    struct sc_acl_name *names;  /* resolved into the lists by acl_resolve */
    size_t name_count;
};

/*
 * acl_add()
 * Parses "ADDR" or "ADDR/BITS" (IPv4 or IPv6) onto `list`.
 * Returns 0, or -1 when the text is not a valid address or prefix length.
 */
int acl_add(struct sc_cidr_list *list, const char *text);

/*
 * acl_add_entry()
 * One entry for the allow (or deny) list: ADDR[/BITS] goes on the list, a
 * host name waits for acl_resolve. `origin` says where it was written.
 * Returns 0, or -1 when the text is neither.
 */
int acl_add_entry(struct sc_acl *acl, bool allow, const char *text, const char *origin);

/*
 * acl_parse_line()
 * One line of an allow or deny file: blank, a # comment, or an entry with
 * an optional trailing comment. Pure (no I/O). Returns 0 (an entry copied
 * into `entry`, or an empty `entry` for nothing), or -1 for a bad entry.
 */
int acl_parse_line(const char *line, char *entry, size_t size);

/*
 * acl_load_file()
 * Reads --allowfile/--denyfile FILE. Prints the reason (a bad entry is
 * named as FILE:LINE) and returns -1 on failure.
 */
int acl_load_file(struct sc_acl *acl, bool allow, const char *path);

/*
 * acl_resolve()
 * Resolves every host name (uv_getaddrinfo, at start) and adds each
 * address it has to its list. Prints the reason and returns -1 if a name
 * does not resolve.
 */
struct uv_loop_s;
int acl_resolve(struct sc_acl *acl, struct uv_loop_s *loop);

/* True when a client at `sa` may talk to us. IPv4-mapped IPv6 counts as IPv4. */
bool acl_permits(const struct sc_acl *acl, const struct sockaddr *sa);

void acl_free(struct sc_acl *acl);

#endif
