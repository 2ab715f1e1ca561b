/*
 * Addresses, ports, CIDRs and ACL entries as the command line gives them.
 * Input: two bytes of port, one byte of output room, then words separated
 * by NUL bytes. Each word goes through every address parser; what a parser
 * accepts must also hold up afterwards:
 *   - a numeric address keeps its port and is the same address as itself;
 *   - "HOST PORT" fits the room given, whatever the room;
 *   - an --allow ADDR/BITS rule lets ADDR in, a --deny one keeps it out.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "net.h"
#include "unix.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void numeric_address(const char *word, unsigned port)
{
    struct sockaddr_storage ss;
    char name[NET_NAME_SIZE];

    if (net_parse_numeric(word, port, &ss) != 0)
        return;
    CHECK(net_port((struct sockaddr *)&ss) == port);
    CHECK(net_same_address((struct sockaddr *)&ss, (struct sockaddr *)&ss));
    net_format((struct sockaddr *)&ss, name, sizeof(name));
    CHECK(strlen(name) < sizeof(name));
}

static void host_port(const char *word, unsigned port, size_t room)
{
    char out[NET_HOST_PORT_SIZE + 256];

    memset(out, 'x', sizeof(out));
    net_host_port(out, room, word, port);
    if (room > 0)
        CHECK(memchr(out, '\0', room) != NULL);
    /* Nothing written past the room it was given. */
    for (size_t i = room; i < sizeof(out); i++)
        CHECK(out[i] == 'x');
    net_host_port(out, NET_HOST_PORT_SIZE, word, port);
}

static void unix_address(const char *word)
{
    struct sc_unix_addr addr;
    char name[256];

    if (unix_addr_parse(word, &addr) != 0)
        return;
    CHECK(unix_sockaddr_len(&addr.sun) <= sizeof(addr.sun));
    unix_sockaddr_format(&addr.sun, name, sizeof(name));
}

/* The client address a rule's ADDR part names, as accept would see it. */
static bool rule_address(const char *word, struct sockaddr_storage *ss)
{
    char text[64];
    size_t len = strcspn(word, "/");
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    if (len >= sizeof(text))
        return false;
    memcpy(text, word, len);
    text[len] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        /* A mapped client is judged as IPv4: a rule shorter than the
         * mapping prefix (/96) is about IPv6 addresses, not about it. */
        return !(IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && strchr(word, '/') &&
                 strtoul(strchr(word, '/') + 1, NULL, 10) < 96);
    }
    return false;
}

static void acl_rule(const char *word)
{
    struct sc_acl allow = { 0 }, deny = { 0 };
    struct sockaddr_storage client;

    if (acl_add(&allow.allow, word) == 0) {
        CHECK(acl_add(&deny.deny, word) == 0);
        if (rule_address(word, &client)) {
            CHECK(acl_permits(&allow, (struct sockaddr *)&client));
            CHECK(!acl_permits(&deny, (struct sockaddr *)&client));
        }
    }
    acl_free(&allow);
    acl_free(&deny);
}

/* Every word on one list, allow and deny in turn, asked about raw bytes. */
static void acl_lists(char **words, size_t count, const uint8_t *raw, size_t raw_len)
{
    struct sc_acl acl = { 0 };
    struct sockaddr_storage client;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&client;
    struct sockaddr_in *in = (struct sockaddr_in *)&client;

    for (size_t i = 0; i < count; i++)
        acl_add(i % 2 ? &acl.deny : &acl.allow, words[i]);
    memset(&client, 0, sizeof(client));
    memcpy(in6->sin6_addr.s6_addr, raw, raw_len < 16 ? raw_len : 16);
    in6->sin6_family = AF_INET6;
    acl_permits(&acl, (struct sockaddr *)&client);
    memset(&client, 0, sizeof(client));
    memcpy(&in->sin_addr, raw, raw_len < 4 ? raw_len : 4);
    in->sin_family = AF_INET;
    acl_permits(&acl, (struct sockaddr *)&client);
    client.ss_family = AF_UNIX;
    acl_permits(&acl, (struct sockaddr *)&client);
    acl_free(&acl);
}

#define MAX_WORDS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text, *words[MAX_WORDS];
    size_t count = 0;
    unsigned port;
    size_t room;

    if (size < 3)
        return 0;
    port = (unsigned)data[0] << 8 | data[1];
    room = data[2];
    text = malloc(size - 3 + 1);
    if (!text)
        return 0;
    memcpy(text, data + 3, size - 3);
    text[size - 3] = '\0';
    for (char *w = text; w <= text + (size - 3) && count < MAX_WORDS; w += strlen(w) + 1)
        words[count++] = w;
    for (size_t i = 0; i < count; i++) {
        numeric_address(words[i], port);
        host_port(words[i], port, room);
        unix_address(words[i]);
        acl_rule(words[i]);
    }
    acl_lists(words, count, data + 3, size - 3);
    free(text);
    return 0;
}
