#include "diag.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int sc_verbosity;

/*
 * The longest line written: PIPE_BUF, so that one write of a line to a
 * pipe is never split among other writers' lines.
 */
#define LINE_MAX_BYTES 4096
/* The reason is kept whole; no strerror text comes near this. */
#define REASON_MAX_BYTES 256
/* Exit: give up on stderr after this long without progress, or in total. */
#define EXIT_STALL_MS 500
#define EXIT_TOTAL_MS 2000

static void (*before_message)(void *arg);
static void *before_message_arg;

void sc_set_before_message(void (*hook)(void *arg), void *arg)
{
    before_message = hook;
    before_message_arg = arg;
}

/* ---- escaping: what is echoed can never forge a line or move the cursor ---- */

/*
 * The length of the well-formed UTF-8 sequence at `s` that is a printable
 * character, or 0 (a C1 control, an overlong form, a surrogate, a byte
 * that starts nothing): such bytes are shown as \xHH.
 */
static size_t utf8_printable_length(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;

    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < 0xa0 || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/*
 * One character of `s` as it is shown: itself, or \n \r \t \\ \xHH.
 * Writes it to `out` (at least 4 bytes), sets *width; returns the bytes of
 * `s` it stands for.
 */
static size_t escape_one(const unsigned char *s, size_t n, char *out, size_t *width)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c = s[0];
    size_t len;

    if (c >= 0x20 && c < 0x7f && c != '\\') {
        out[0] = (char)c;
        *width = 1;
        return 1;
    }
    if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
        out[0] = '\\';
        out[1] = c == '\\' ? '\\' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        *width = 2;
        return 1;
    }
    len = c >= 0x80 ? utf8_printable_length(s, n) : 0;
    if (len > 0) {
        memcpy(out, s, len);
        *width = len;
        return len;
    }
    out[0] = '\\';
    out[1] = 'x';
    out[2] = hex[c >> 4];
    out[3] = hex[c & 15];
    *width = 4;
    return 1;
}

/*
 * Writes `s` escaped into `out`, at most `room` bytes. What does not fit is
 * cut from the middle, marked "...", so both ends stay: the operation at
 * the start and the operand's end (a port) are what a reader needs.
 * Returns the bytes written.
 */
static size_t escape_fitting(const char *text, size_t n, char *out, size_t room)
{
    const unsigned char *s = (const unsigned char *)text;
    char unit[4];
    size_t width, step, total = 0, done = 0, len = 0;
    size_t head_end = n, tail_start = n;

    for (size_t i = 0; i < n; i += step) {
        step = escape_one(s + i, n - i, unit, &width);
        total += width;
    }
    if (total > room) {
        size_t budget = room > 3 ? room - 3 : 0;
        size_t head_budget = budget - budget / 2, tail_budget = budget / 2;

        /* The head: whole characters while they fit. The tail: the
         * shortest suffix that fits, found on the same forward walk. */
        head_end = 0;
        for (size_t i = 0; i < n; i += step) {
            step = escape_one(s + i, n - i, unit, &width);
            if (head_end == i && done + width <= head_budget)
                head_end = i + step;
            else if (tail_start == n && total - done <= tail_budget)
                tail_start = i;
            done += width;
        }
    }
    for (size_t i = 0; i < n; i += step) {
        if (i == head_end) {
            if (room >= 3) {
                memcpy(out + len, "...", 3);
                len += 3;
            }
            if (tail_start >= n)
                break;
            i = tail_start;
        }
        step = escape_one(s + i, n - i, out + len, &width);
        len += width;
    }
    return len;
}

/* ---- where stderr's bytes go ---- */

enum sink_way {
    WAY_DIRECT,   /* blocking writes: before the loop, files, /dev/null */
    WAY_PRIVATE,  /* a pipe or terminal reopened on a private non-blocking fd */
    WAY_SOCKET,   /* send(MSG_DONTWAIT) on the shared socket */
    WAY_GUARDED,  /* a pipe that could not be reopened: write when poll says so */
};

static struct {
    enum sink_way way;
    int private_fd;        /* WAY_PRIVATE: writes go here */
    int epoll_fd;          /* WAY_SOCKET/GUARDED: readable when fd 2 is writable */
    uv_loop_t *loop;       /* set while the loop may wait for stderr */
    uv_poll_t poll;
    bool poll_ready;       /* initialised and not closed */
    bool polling;
    bool stdout_shares_tty;
    bool stdout_mid_line;  /* received text on that terminal ended mid-line */
    uint64_t dropped;      /* messages that did not fit in the backlog */
    /* Entries: a 2-byte length then the bytes, each written by one call. */
    size_t start, end, partial;
    unsigned char backlog[SC_DIAG_BACKLOG];
} sink = { .private_fd = -1, .epoll_fd = -1 };

/* Writes some of one entry. Bytes written, or a negated errno. */
static ssize_t sink_write(const unsigned char *bytes, size_t len)
{
    struct pollfd pfd = { .fd = STDERR_FILENO, .events = POLLOUT };
    ssize_t n;

    do {
        switch (sink.way) {
        case WAY_PRIVATE:
            n = write(sink.private_fd, bytes, len);
            break;
        case WAY_SOCKET:
            n = send(STDERR_FILENO, bytes, len, MSG_DONTWAIT | MSG_NOSIGNAL);
            break;
        case WAY_GUARDED:
            if (poll(&pfd, 1, 0) != 1)
                return -EAGAIN;
            n = write(STDERR_FILENO, bytes, len);
            break;
        default:
            n = write(STDERR_FILENO, bytes, len);
            /* Someone else made the shared description non-blocking:
             * wait a little, as a blocking write would have. */
            if (n < 0 && errno == EAGAIN && poll(&pfd, 1, 1000) == 1)
                n = write(STDERR_FILENO, bytes, len);
            break;
        }
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static size_t entry_length(size_t at)
{
    return (size_t)sink.backlog[at] << 8 | sink.backlog[at + 1];
}

static void append_entry(const char *bytes, size_t len, bool is_message)
{
    if (len > LINE_MAX_BYTES)
        len = LINE_MAX_BYTES;
    if (sink.end - sink.start + 2 + len > sizeof(sink.backlog)) {
        if (is_message)
            sink.dropped++;
        return;
    }
    if (sink.end + 2 + len > sizeof(sink.backlog)) {
        memmove(sink.backlog, sink.backlog + sink.start, sink.end - sink.start);
        sink.end -= sink.start;
        sink.start = 0;
    }
    sink.backlog[sink.end] = (unsigned char)(len >> 8);
    sink.backlog[sink.end + 1] = (unsigned char)len;
    memcpy(sink.backlog + sink.end + 2, bytes, len);
    sink.end += 2 + len;
}

/* Once everything kept is out, say how much could not be kept. */
static void tell_dropped(void)
{
    char line[128];
    int len;

    len = snprintf(line, sizeof(line),
                   "sockcat: %" PRIu64 " message%s dropped (stderr was not being read)\n",
                   sink.dropped, sink.dropped == 1 ? "" : "s");
    sink.dropped = 0;
    append_entry(line, (size_t)len, false);
}

/* Writes entries until stderr would block. True if it made progress. */
static bool flush_some(void)
{
    bool progress = false;

    while (sink.start < sink.end) {
        size_t len = entry_length(sink.start);
        ssize_t n = sink_write(sink.backlog + sink.start + 2 + sink.partial,
                               len - sink.partial);
        if (n == -EAGAIN || n == 0)
            break;  /* later: when the loop says stderr is writable */
        progress = true;
        /* An error (the reader is gone): nobody can read the entry, skip it. */
        sink.partial = n < 0 ? len : sink.partial + (size_t)n;
        if (sink.partial == len) {
            sink.start += 2 + len;
            sink.partial = 0;
        }
        if (sink.start == sink.end) {
            sink.start = sink.end = 0;
            if (sink.dropped > 0)
                tell_dropped();
        }
    }
    return progress;
}

static void sink_on_writable(uv_poll_t *handle, int status, int events);

/* Waits on the loop for stderr while something is kept, and only then. */
static void update_poll(void)
{
    bool want = sink.start < sink.end;

    /* A handle closed by a sweep at the loop's end is no longer ours. */
    if (!sink.loop || !sink.poll_ready || uv_is_closing((uv_handle_t *)&sink.poll))
        return;
    if (want && !sink.polling) {
        int events = sink.way == WAY_PRIVATE ? UV_WRITABLE : UV_READABLE;
        sink.polling = uv_poll_start(&sink.poll, events, sink_on_writable) == 0;
    } else if (!want && sink.polling) {
        uv_poll_stop(&sink.poll);
        sink.polling = false;
    }
}

static void sink_on_writable(uv_poll_t *handle, int status, int events)
{
    (void)handle, (void)events;
    if (status < 0) {
        /* Nothing can be waited for: what is kept is lost. */
        sink.start = sink.end = sink.partial = 0;
    } else {
        flush_some();
    }
    update_poll();
}

static void emit(const char *bytes, size_t len, bool is_message)
{
    append_entry(bytes, len, is_message);
    flush_some();
    update_poll();
}

void sc_diag_raw(const char *bytes, size_t len)
{
    emit(bytes, len, false);
}

bool sc_diag_backed_up(void)
{
    return sink.start < sink.end;
}

/* A private description of the pipe or terminal on fd 2, or -1. */
static int reopen_stderr(void)
{
    struct stat before, after;
    int fd;

    /* O_NONBLOCK also keeps open() of a FIFO from waiting for a reader;
     * O_NOCTTY keeps a terminal from becoming our controlling one. */
    fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    if (fstat(STDERR_FILENO, &before) < 0 || fstat(fd, &after) < 0 ||
        before.st_dev != after.st_dev || before.st_ino != after.st_ino) {
        close(fd);
        return -1;
    }
    return fd;
}

/* An epoll set holding fd 2: readable whenever fd 2 is writable. */
static int watch_shared_stderr(void)
{
    struct epoll_event ev = { .events = EPOLLOUT };
    int fd = epoll_create1(EPOLL_CLOEXEC);

    if (fd >= 0 && epoll_ctl(fd, EPOLL_CTL_ADD, STDERR_FILENO, &ev) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static bool same_terminal(int a, int b)
{
    struct stat sa, sb;

    return isatty(a) && isatty(b) && fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
           sa.st_rdev == sb.st_rdev;
}

/*
 * Never sets O_NONBLOCK on fd 2's description: the shell and other
 * processes share it. A pipe or terminal gets a description of its own; a
 * socket is sent to with MSG_DONTWAIT; files and devices never block.
 */
void sc_diag_attach(uv_loop_t *loop)
{
    struct stat st;
    int wait_fd = -1;

    sink.stdout_shares_tty = same_terminal(STDOUT_FILENO, STDERR_FILENO);
    if (fstat(STDERR_FILENO, &st) < 0)
        return;
    if (S_ISFIFO(st.st_mode) || (S_ISCHR(st.st_mode) && isatty(STDERR_FILENO))) {
        sink.private_fd = reopen_stderr();
        if (sink.private_fd >= 0) {
            sink.way = WAY_PRIVATE;
            wait_fd = sink.private_fd;
        } else {
            sink.way = WAY_GUARDED;
        }
    } else if (S_ISSOCK(st.st_mode)) {
        sink.way = WAY_SOCKET;
    } else {
        return;
    }
    if (wait_fd < 0) {
        sink.epoll_fd = watch_shared_stderr();
        wait_fd = sink.epoll_fd;
    }
    if (wait_fd < 0 || uv_poll_init(loop, &sink.poll, wait_fd) < 0) {
        /* Nothing to wait with: blocking writes, as before the loop. */
        sink.way = WAY_DIRECT;
        return;
    }
    /* Messages waiting for stderr never keep sockcat running. */
    uv_unref((uv_handle_t *)&sink.poll);
    sink.poll_ready = true;
    sink.loop = loop;
}

void sc_diag_detach(void)
{
    if (sink.poll_ready && !uv_is_closing((uv_handle_t *)&sink.poll))
        uv_close((uv_handle_t *)&sink.poll, NULL);
    sink.poll_ready = false;
    sink.polling = false;
    sink.loop = NULL;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void sc_diag_finish(void)
{
    uint64_t begin = now_ms(), last_progress = begin;
    struct pollfd pfd = { .fd = sink.private_fd, .events = POLLOUT };

    sc_diag_detach();
    if (sink.way != WAY_PRIVATE)
        pfd = (struct pollfd){ .fd = sink.epoll_fd, .events = POLLIN };
    while (sink.start < sink.end && pfd.fd >= 0) {
        uint64_t now = now_ms();
        if (now - last_progress >= EXIT_STALL_MS || now - begin >= EXIT_TOTAL_MS)
            break;
        int wait = (int)(EXIT_STALL_MS - (now - last_progress));
        if (poll(&pfd, 1, wait) > 0 && flush_some())
            last_progress = now_ms();
    }
    /* The descriptors stay open: a last message may still try them. */
}

/* ---- stdout on the same terminal ---- */

void sc_diag_stdout_data(const char *data, size_t len)
{
    if (!sink.stdout_shares_tty || len == 0)
        return;
    if (before_message)
        before_message(before_message_arg);
    sink.stdout_mid_line = data[len - 1] != '\n';
}

void sc_diag_fresh_line(void)
{
    if (sink.stdout_mid_line) {
        sink.stdout_mid_line = false;
        emit("\n", 1, false);
    }
}

/* ---- messages ---- */

/*
 * Formats into `small` when it fits, else into memory of its own (free it
 * when it is not `small`). Sets *len.
 */
static char *format_text(char *small, size_t small_size, size_t *len,
                         const char *fmt, va_list ap)
{
    char *text = small;
    va_list again;
    int n;

    va_copy(again, ap);
    n = vsnprintf(small, small_size, fmt, ap);
    if (n < 0) {
        small[0] = '\0';
        n = 0;
    } else if ((size_t)n >= small_size) {
        text = malloc((size_t)n + 1);
        if (text)
            vsnprintf(text, (size_t)n + 1, fmt, again);
        else
            text = small, n = (int)small_size - 1;
    }
    va_end(again);
    *len = (size_t)n;
    return text;
}

void sc_vformat_fitting(char *out, size_t size, const char *fmt, va_list ap)
{
    char small[512];
    size_t len, head, tail;
    char *text = format_text(small, sizeof(small), &len, fmt, ap);

    if (size == 0)
        goto done;
    if (len < size || size < 4) {
        snprintf(out, size, "%s", text);
        goto done;
    }
    /* Cut between characters, not inside a UTF-8 sequence. */
    head = (size - 4) - (size - 4) / 2;
    tail = len - (size - 4) / 2;
    while (head > 0 && ((unsigned char)text[head] & 0xc0) == 0x80)
        head--;
    while (tail < len && ((unsigned char)text[tail] & 0xc0) == 0x80)
        tail++;
    memcpy(out, text, head);
    memcpy(out + head, "...", 3);
    memcpy(out + head + 3, text + tail, len - tail);
    out[head + 3 + len - tail] = '\0';
done:
    if (text != small)
        free(text);
}

static void vreport(const char *fmt, va_list ap, const char *reason)
{
    char small[512], line[LINE_MAX_BYTES];
    size_t len = 0, reason_len = 0, room, n;
    char *text = format_text(small, sizeof(small), &n, fmt, ap);

    if (before_message)
        before_message(before_message_arg);
    if (sink.stdout_mid_line) {
        /* Received text stopped mid-line: start ours on a line of its own. */
        sink.stdout_mid_line = false;
        line[len++] = '\n';
    }
    memcpy(line + len, "sockcat: ", 9);
    len += 9;
    if (reason) {
        reason_len = strnlen(reason, REASON_MAX_BYTES);
    }
    room = sizeof(line) - len - 1 - (reason ? 2 + reason_len : 0);
    len += escape_fitting(text, n, line + len, room);
    if (reason) {
        memcpy(line + len, ": ", 2);
        memcpy(line + len + 2, reason, reason_len);
        len += 2 + reason_len;
    }
    line[len++] = '\n';
    if (text != small)
        free(text);
    /* One write per message keeps lines whole when stderr is shared. */
    emit(line, len, true);
}

const char *sc_strerror(int uverr)
{
    /*
     * On Unix libuv's codes are negated errno values, and strerror(3) gives
     * the familiar wording ("Connection refused"). Resolver errors and EOF
     * have no errno, so libuv's own text is used for them.
     */
    if (uverr == UV_EOF || (uverr <= -3000 && uverr > -3100))
        return uv_strerror(uverr);
    if (uverr < 0 && uverr > -4096)
        return strerror(-uverr);
    return uv_strerror(uverr);
}

void sc_error(int uverr, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(fmt, ap, sc_strerror(uverr));
    va_end(ap);
}

void sc_usage_error(const char *fmt, ...)
{
    static const char hint[] = "Try 'sockcat --help' for more information.\n";
    va_list ap;

    va_start(ap, fmt);
    vreport(fmt, ap, NULL);
    va_end(ap);
    sc_diag_raw(hint, sizeof(hint) - 1);
}

void sc_verbose(int level, const char *fmt, ...)
{
    va_list ap;

    if (sc_verbosity < level)
        return;
    va_start(ap, fmt);
    vreport(fmt, ap, NULL);
    va_end(ap);
}

void sc_note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(fmt, ap, NULL);
    va_end(ap);
}

void sc_format_bytes(char *out, size_t size, double bytes)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
    int unit = -1;

    /* Written so that NaN lands here too: it has no unit to pick. */
    if (!(bytes >= 1024)) {
        snprintf(out, size, "%.0f B", bytes);
        return;
    }
    /* do-while: at least one unit, plain to see (the analyzer does not
     * follow the comparison above into the loop's condition). */
    do {
        bytes /= 1024;
        unit++;
    } while (bytes >= 1024 && unit < 4);
    snprintf(out, size, "%.2f %s", bytes, units[unit]);
}
