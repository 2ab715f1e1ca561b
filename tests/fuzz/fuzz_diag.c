/*
 * Messages: what sockcat echoes on stderr (host names, paths, peer names)
 * is escaped so that it can never forge a line or move the cursor, and cut
 * from the middle when too long. The input is the text to echo, after one
 * byte giving the room for sc_vformat_fitting.
 */
#define _GNU_SOURCE  /* memfd_create */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"

static void format_fitting(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sc_vformat_fitting(out, size, fmt, ap);
    va_end(ap);
}

/*
 * Run with -close_fd_mask=2 (.ci/fuzz does), libFuzzer reports on a copy of
 * stderr and points fd 2 at /dev/null: then the messages go to a memory
 * file here instead, to be read back. Otherwise they are shown, unchecked.
 */
static int capturing = -1;  /* not known yet */

/* Called from the first input: libFuzzer silences stderr after initialising. */
static void capture_silenced_stderr(void)
{
    struct stat st, null;

    capturing = 0;
    if (fstat(STDERR_FILENO, &st) == 0 && stat("/dev/null", &null) == 0 &&
        S_ISCHR(st.st_mode) && st.st_rdev == null.st_rdev) {
        int fd = memfd_create("stderr", 0);
        capturing = fd == STDERR_FILENO || (fd >= 0 && dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    }
}

/* Each line: printable ASCII or UTF-8 of at least U+00A0, then one newline. */
static void check_lines(void)
{
    unsigned char buf[16384];
    off_t len = lseek(STDERR_FILENO, 0, SEEK_CUR);

    if (len <= 0 || len > (off_t)sizeof(buf) || pread(STDERR_FILENO, buf, (size_t)len, 0) != len)
        abort();
    if (buf[len - 1] != '\n')
        abort();
    for (off_t i = 0; i < len; i++) {
        if (buf[i] == '\n' || buf[i] >= 0xc3 || (buf[i] >= 0x20 && buf[i] < 0x7f))
            continue;
        if (buf[i] == 0xc2 && i + 1 < len && buf[i + 1] >= 0xa0) {
            i++;  /* U+00A0..U+00BF */
            continue;
        }
        if (buf[i] >= 0x80 && buf[i] < 0xc0)
            continue;  /* inside a sequence: its lead byte was checked */
        abort();
    }
    if (ftruncate(STDERR_FILENO, 0) < 0 || lseek(STDERR_FILENO, 0, SEEK_SET) < 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[300];
    size_t room;

    if (size < 1)
        return 0;
    if (capturing < 0)
        capture_silenced_stderr();
    room = data[0];
    data++, size--;
    /* %.*s: the text may hold NUL bytes; the message stops at the first. */
    sc_note("connect to %.*s", (int)size, (const char *)data);
    sc_error(-111, "%.*s: read", (int)size, (const char *)data);
    if (capturing)
        check_lines();
    memset(out, 'x', sizeof(out));
    format_fitting(out, room, "%.*s", (int)size, (const char *)data);
    if (room > 0 && !memchr(out, '\0', room))
        abort();
    for (size_t i = room; i < sizeof(out); i++)
        if (out[i] != 'x')
            abort();
    return 0;
}
