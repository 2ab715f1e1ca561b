#include "transform.h"

#include <errno.h>
#include <string.h>

#include "diag.h"
#include "hexdump.h"
#include "pump.h"

/* Large buffers: one write(2) per 256 KiB of log. */
#define LOG_BUFFER_SIZE (256 * 1024)

bool transform_needed(const struct sc_opts *opts)
{
    return opts->crlf || opts->hex_dump_path || opts->output_path;
}

static FILE *open_log(const char *path, bool append)
{
    FILE *f = fopen(path, append ? "ab" : "wb");

    if (!f) {
        sc_error(-errno, "open %s", path);
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, LOG_BUFFER_SIZE);
    return f;
}

int transform_open(struct sc_transform *t, const struct sc_opts *opts)
{
    memset(t, 0, sizeof(*t));
    t->crlf = opts->crlf;
    t->tag_clients = opts->keep_open;
    t->hex_path = opts->hex_dump_path;
    t->raw_path = opts->output_path;
    if (t->hex_path && !(t->hex = open_log(t->hex_path, opts->append_output)))
        return -1;
    if (t->raw_path && !(t->raw = open_log(t->raw_path, opts->append_output))) {
        if (t->hex)
            fclose(t->hex);
        t->hex = NULL;
        return -1;
    }
    return 0;
}

static struct sc_chunk *on_sent(void *ctx, struct sc_chunk *chunk, const char *origin)
{
    return transform_chunk(ctx, SC_DIR_SENT, origin, chunk);
}

static struct sc_chunk *on_received(void *ctx, struct sc_chunk *chunk, const char *origin)
{
    return transform_chunk(ctx, SC_DIR_RECEIVED, origin, chunk);
}

void transform_attach(struct sc_transform *t, struct sc_pump *sent, struct sc_pump *received)
{
    if (t->crlf || t->hex || t->raw) {
        sent->transform = on_sent;
        sent->transform_ctx = t;
    }
    if (t->hex || t->raw) {
        received->transform = on_received;
        received->transform_ctx = t;
    }
}

static void log_failed(struct sc_transform *t, const char *path)
{
    if (t->failed)
        return;
    t->failed = true;
    sc_error(-errno, "write %s", path);
    if (t->on_error)
        t->on_error(t->ctx);
}

static void log_hex(struct sc_transform *t, char dir, const char *tag, uint64_t offset,
                    const unsigned char *data, size_t len)
{
    size_t tag_len = tag ? strlen(tag) : 0;
    /* Lines gathered here go to the file in one fwrite. */
    char lines[64 * SC_HEXDUMP_LINE_MAX(SC_NAME_MAX)];
    size_t used = 0;

    if (tag_len > SC_NAME_MAX)
        tag = NULL;
    for (size_t at = 0; at < len; at += SC_HEXDUMP_WIDTH) {
        size_t n = len - at < SC_HEXDUMP_WIDTH ? len - at : SC_HEXDUMP_WIDTH;
        used += hexdump_line(lines + used, sizeof(lines) - used, dir, tag, offset + at,
                             data + at, n);
        if (sizeof(lines) - used < SC_HEXDUMP_LINE_MAX(SC_NAME_MAX) || at + n >= len) {
            if (fwrite(lines, 1, used, t->hex) != used) {
                log_failed(t, t->hex_path);
                return;
            }
            used = 0;
        }
    }
}

static void log_raw(struct sc_transform *t, char dir, const char *tag, const char *data,
                    size_t len)
{
    if (tag && fprintf(t->raw, "%c %s %zu\n", dir, tag, len) < 0) {
        log_failed(t, t->raw_path);
        return;
    }
    if (fwrite(data, 1, len, t->raw) != len)
        log_failed(t, t->raw_path);
}

/* -C: a new chunk with each lone LF made CRLF, or `chunk` when none is. */
static struct sc_chunk *convert_crlf(struct sc_transform *t, struct sc_chunk *chunk)
{
    if (!memchr(chunk->data, '\n', chunk->len)) {
        t->crlf_state.last_was_cr = chunk->len ? chunk->data[chunk->len - 1] == '\r'
                                               : t->crlf_state.last_was_cr;
        return chunk;
    }
    struct sc_chunk *out = chunk_new(crlf_room(chunk->len));
    if (!out) {
        /* Out of memory: better the bytes unconverted than lost. */
        return chunk;
    }
    out->len = crlf_convert(&t->crlf_state, chunk->data, chunk->len, out->data);
    return out;
}

struct sc_chunk *transform_chunk(struct sc_transform *t, enum sc_direction dir,
                                 const char *origin, struct sc_chunk *chunk)
{
    char mark = dir == SC_DIR_SENT ? '>' : '<';
    const char *tag = t->tag_clients ? (origin ? origin : "all") : NULL;

    if (dir == SC_DIR_SENT && t->crlf)
        chunk = convert_crlf(t, chunk);
    if (t->failed || chunk->len == 0)
        return chunk;
    if (t->hex)
        log_hex(t, mark, tag, t->offset[dir], (const unsigned char *)chunk->data, chunk->len);
    if (t->raw)
        log_raw(t, mark, tag, chunk->data, chunk->len);
    t->offset[dir] += chunk->len;
    return chunk;
}

static int close_log(struct sc_transform *t, FILE **f, const char *path)
{
    int rc = 0;

    if (!*f)
        return 0;
    if (fflush(*f) != 0 && !t->failed) {
        sc_error(-errno, "write %s", path);
        rc = -1;
    }
    if (fclose(*f) != 0 && rc == 0 && !t->failed) {
        sc_error(-errno, "close %s", path);
        rc = -1;
    }
    *f = NULL;
    return rc;
}

int transform_close(struct sc_transform *t)
{
    int rc = close_log(t, &t->hex, t->hex_path);

    if (close_log(t, &t->raw, t->raw_path) < 0)
        rc = -1;
    return rc < 0 || t->failed ? -1 : 0;
}
