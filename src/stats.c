#include "stats.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "diag.h"

/* Redraws per second at most. */
#define PROGRESS_INTERVAL_MS 100

static double elapsed_seconds(const struct sc_counters *c)
{
    return (double)(sc_now_ns() - c->start_ns) / 1e9;
}

void stats_print_summary(const struct sc_counters *c, const char *suffix)
{
    char sent[32], received[32], rate[32], disconnected[64] = "", dropped[64] = "";
    double seconds = elapsed_seconds(c);
    double total = (double)(c->sent + c->received);

    sc_format_bytes(sent, sizeof(sent), (double)c->sent);
    sc_format_bytes(received, sizeof(received), (double)c->received);
    sc_format_bytes(rate, sizeof(rate), seconds > 0 ? total / seconds : 0);
    /* Only when it happened: the usual line stays as it always was. */
    if (c->disconnected > 0)
        snprintf(disconnected, sizeof(disconnected), ", %llu slow client%s disconnected",
                 (unsigned long long)c->disconnected, c->disconnected == 1 ? "" : "s");
    if (c->dropped > 0) {
        char bytes[32];
        sc_format_bytes(bytes, sizeof(bytes), (double)c->dropped);
        snprintf(dropped, sizeof(dropped), ", %s dropped for slow clients", bytes);
    }
    sc_note("%s sent, %s received in %.2f s (%s/s)%s%s%s", sent, received, seconds, rate,
            disconnected, dropped, suffix ? suffix : "");
}

void stats_print_json(const struct sc_counters *c)
{
    char line[320];
    int len;

    len = snprintf(line, sizeof(line),
                   "{\"sent\":%llu,\"received\":%llu,\"seconds\":%.3f,\"connections\":%llu,"
                   "\"disconnected\":%llu,\"dropped\":%llu}\n",
                   (unsigned long long)c->sent, (unsigned long long)c->received,
                   elapsed_seconds(c), (unsigned long long)c->connections,
                   (unsigned long long)c->disconnected, (unsigned long long)c->dropped);
    if (len > 0 && (size_t)len < sizeof(line))
        sc_diag_raw(line, (size_t)len);
}

static void progress_draw(struct sc_progress *p)
{
    const struct sc_counters *c = p->counters;
    uint64_t now = sc_now_ns();
    uint64_t total = c->sent + c->received;
    double seconds = (double)(now - c->start_ns) / 1e9;
    double interval = (double)(now - p->last_ns) / 1e9;
    char sent[32], received[32], current[32], average[32];

    /* A terminal that takes nothing (scroll lock): no redraws piling up. */
    if (sc_diag_backed_up())
        return;
    if (interval > 0) {
        double instant = (double)(total - p->last_total) / interval;
        /* Smooth over about a second so the figure is readable. */
        p->rate = p->last_ns == c->start_ns ? instant : 0.7 * p->rate + 0.3 * instant;
    }
    p->last_ns = now;
    p->last_total = total;
    sc_format_bytes(sent, sizeof(sent), (double)c->sent);
    sc_format_bytes(received, sizeof(received), (double)c->received);
    sc_format_bytes(current, sizeof(current), p->rate);
    sc_format_bytes(average, sizeof(average), seconds > 0 ? (double)total / seconds : 0);
    /* \r and erase-line redraw in place; one write keeps it whole. */
    static const char erase[] = "\r\033[K";
    char line[256];
    int len = snprintf(line, sizeof(line),
                       "%ssockcat: sent %s, received %s, %s/s now, %s/s avg, %.1f s",
                       erase, sent, received, current, average, seconds);
    size_t shown = len < 0 ? 0 : (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1;
    /* A line wider than the terminal wraps, and \r would then redraw only
     * its last row: cut it to fit. */
    struct winsize size;
    size_t text_max;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 1) {
        text_max = sizeof(erase) - 1 + size.ws_col - 1;
        if (shown > text_max)
            shown = text_max;
    }
    /* Received text that stopped mid-line stays: draw below it. */
    sc_diag_fresh_line();
    sc_diag_raw(line, shown);
    p->drawn = true;
}

static void progress_clear_hook(void *arg)
{
    progress_clear(arg);
}

static void progress_on_tick(uv_timer_t *timer)
{
    progress_draw(timer->data);
}

void progress_start(struct sc_progress *p, uv_loop_t *loop, const struct sc_counters *c)
{
    p->counters = c;
    p->active = false;
    p->drawn = false;
    if (!isatty(STDERR_FILENO))
        return;
    p->last_ns = c->start_ns;
    p->last_total = 0;
    p->rate = 0;
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, progress_on_tick, PROGRESS_INTERVAL_MS, PROGRESS_INTERVAL_MS);
    p->active = true;
    /* Messages erase the line first; the next tick redraws it below them. */
    sc_set_before_message(progress_clear_hook, p);
}

void progress_clear(struct sc_progress *p)
{
    static const char erase[] = "\r\033[K";

    if (p->active && p->drawn) {
        p->drawn = false;
        sc_diag_raw(erase, sizeof(erase) - 1);
    }
}

void progress_stop(struct sc_progress *p)
{
    if (!p->active)
        return;
    progress_clear(p);
    sc_set_before_message(NULL, NULL);
    uv_close((uv_handle_t *)&p->timer, NULL);
    p->active = false;
}
