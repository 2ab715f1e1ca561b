/*
 * listen -u -k: datagrams are told apart by their sender, found in a hash
 * table of clients. The input is a script of senders arriving and clients
 * leaving; after each step the table must agree with a plain list kept
 * here, whose notion of "the same sender" is written independently:
 * the same family, port and address bytes (and IPv6 scope), or for a Unix
 * datagram socket the same sun_path bytes.
 *
 * udp.c is included so that its static table functions can be reached;
 * this target links its copy instead of the library's.
 */
#include "../../src/udp.c"

#define MAX_CLIENTS 300

static struct sc_udp_peer *clients[MAX_CLIENTS];
static size_t client_count;

/* The sender a few input bytes describe; false when they run out. */
static bool read_sender(const uint8_t **p, const uint8_t *end, struct sockaddr_storage *ss)
{
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    size_t need, n;

    if (*p >= end)
        return false;
    memset(ss, 0, sizeof(*ss));
    switch (*(*p)++ % 3) {
    case 0:
        need = 4 + 2;
        if ((size_t)(end - *p) < need)
            return false;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, *p, 4);
        memcpy(&in->sin_port, *p + 4, 2);
        break;
    case 1:
        need = 16 + 2 + 1;
        if ((size_t)(end - *p) < need)
            return false;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, *p, 16);
        memcpy(&in6->sin6_port, *p + 16, 2);
        in6->sin6_scope_id = (*p)[18];
        break;
    default:
        if (*p >= end)
            return false;
        n = *(*p)++ % (sizeof(un->sun_path) + 1);
        need = n;
        if ((size_t)(end - *p) < need)
            return false;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, *p, n);
        break;
    }
    *p += need;
    return true;
}

static bool model_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
    const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;
    const struct sockaddr_un *au = (const void *)a, *bu = (const void *)b;

    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return a4->sin_port == b4->sin_port &&
               memcmp(&a4->sin_addr, &b4->sin_addr, 4) == 0;
    if (a->ss_family == AF_INET6)
        return a6->sin6_port == b6->sin6_port && a6->sin6_scope_id == b6->sin6_scope_id &&
               memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) == 0;
    return memcmp(au->sun_path, bu->sun_path, sizeof(au->sun_path)) == 0;
}

static struct sc_udp_peer *model_find(const struct sockaddr_storage *ss)
{
    for (size_t i = 0; i < client_count; i++)
        if (model_same(&clients[i]->addr, ss))
            return clients[i];
    return NULL;
}

/* A datagram from `ss`: its client, or a new one while there is room. */
static void datagram_from(struct sc_udp_service *svc, const struct sockaddr_storage *ss)
{
    const struct sockaddr *sa = (const struct sockaddr *)ss;
    struct sc_udp_peer *p = table_find(svc, sa), *want = model_find(ss);
    char name[SC_NAME_MAX];

    if (p != want)
        abort();
    format_sender(sa, name, sizeof(name));
    if (strlen(name) >= sizeof(name))
        abort();
    if (p || client_count == MAX_CLIENTS)
        return;
    if (svc->clients >= svc->table_size && table_grow(svc) < 0)
        return;
    p = calloc(1, sizeof(*p));
    if (!p)
        return;
    memcpy(&p->addr, ss, addr_len(sa));
    table_insert(svc, p);
    clients[client_count++] = p;
}

static void client_leaves(struct sc_udp_service *svc, size_t which)
{
    struct sc_udp_peer *p;

    if (client_count == 0)
        return;
    which %= client_count;
    p = clients[which];
    table_remove(svc, p);
    clients[which] = clients[--client_count];
    free(p);
    if (svc->clients != client_count)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sc_udp_service svc;
    const uint8_t *p = data, *end = data + size;
    struct sockaddr_storage ss;

    memset(&svc, 0, sizeof(svc));
    svc.demux = true;
    client_count = 0;
    while (p < end) {
        uint8_t op = *p++;
        if (op & 0x80) {
            client_leaves(&svc, op & 0x7f);
        } else if (read_sender(&p, end, &ss)) {
            datagram_from(&svc, &ss);
        }
    }
    /* Closing: the table goes with its last client. */
    svc.closed = true;
    while (client_count > 0)
        client_leaves(&svc, 0);
    table_free_if_unused(&svc);  /* as closing does when no client is left */
    if (svc.table != NULL || svc.clients != 0)
        abort();
    return 0;
}
