/*
 * sockcat: send stdin to a TCP peer and the peer's bytes to stdout.
 *
 * argv -> cli (sc_opts) -> mode (connect | listen | listen -k) -> dial or
 * accept hands back endpoints -> conversation (stdio, hub, pumps) -> the
 * loop runs until the conversation ends -> stdio restored -> exit status.
 */
#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "chunk.h"
#include "cli.h"
#include "diag.h"
#include "mode.h"
#include "net.h"
#include "stats.h"
#include "stdio.h"
#include "trim.h"

struct sc_app {
    struct sc_session session;
    uv_signal_t sigint, sigterm, sighup, sigusr1;
};

static void app_on_signal(uv_signal_t *handle, int signum)
{
    struct sc_app *app = handle->data;

    if (signum == SIGUSR1) {
        stats_print_summary(&app->session.counters, NULL);
        return;
    }
    sc_verbose(1, "stopping on signal %d", signum);
    conv_stop(&app->session.conv, SC_EXIT_SIGNAL_BASE + signum);
}

static void app_close_signals(struct sc_app *app)
{
    sigset_t usr1, before;

    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->sighup, NULL);
    /*
     * Closing the last SIGUSR1 watcher puts the default action back, which
     * ends the process; SIGUSR1 stays blocked until it is ignored instead
     * (which also drops one that came in between). No other thread takes
     * it: the thread pool started with every signal blocked.
     */
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &before);
    uv_close((uv_handle_t *)&app->sigusr1, NULL);
    signal(SIGUSR1, SIG_IGN);
    pthread_sigmask(SIG_SETMASK, &before, NULL);
}

static void app_on_stopping(struct sc_conv *conv)
{
    struct sc_app *app = conv->data;

    app->session.mode->stop(&app->session);
}

static void app_on_peer_gone(struct sc_hub *hub)
{
    struct sc_app *app = hub->conv->data;

    app->session.mode->on_peer_gone(&app->session);
}

/* The conversation is done: close what keeps the loop alive besides it. */
static void app_on_finished(struct sc_conv *conv)
{
    struct sc_app *app = conv->data;

    app->session.mode->close(&app->session);
    progress_stop(&app->session.progress);
    app_close_signals(app);
    sc_diag_detach();
}

/*
 * SIGHUP (the terminal or the session went away) stops like SIGTERM: what
 * was received is written out and the figures are told, status 129.
 */
static void app_watch_signals(struct sc_app *app)
{
    uv_signal_t *handles[] = { &app->sigint, &app->sigterm, &app->sighup, &app->sigusr1 };
    int numbers[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1 };

    for (int i = 0; i < 4; i++) {
        uv_signal_init(&app->session.loop, handles[i]);
        handles[i]->data = app;
        uv_signal_start(handles[i], app_on_signal, numbers[i]);
    }
}

static void app_report(const struct sc_session *s)
{
    /* The probe's figures would count only its own report lines. */
    if (s->opts.zero_io && s->opts.stats == SC_STATS_NONE)
        return;
    if (s->opts.stats == SC_STATS_JSON)
        stats_print_json(&s->counters);
    else if (s->opts.stats == SC_STATS_TEXT || sc_verbosity >= 1)
        stats_print_summary(&s->counters, NULL);
}

static void close_leftover(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

/*
 * Every handle is closed by its owner before the loop runs out: a debug
 * build stops here, naming what was left open, if one was not.
 */
static void close_loop(uv_loop_t *loop)
{
    if (uv_loop_close(loop) == 0)
        return;
#ifndef NDEBUG
    fprintf(stderr, "sockcat: handles left open at exit:\n");
    uv_print_all_handles(loop, stderr);
    assert(!"every handle is closed before the loop ends");
#endif
    /* Do not leave them behind. */
    uv_walk(loop, close_leftover, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

static void count_handle(uv_handle_t *handle, void *arg)
{
    (void)handle;
    ++*(unsigned *)arg;
}

/*
 * Runs the loop until the conversation is over. A look-up abandoned while
 * getaddrinfo(3) runs keeps the loop alive until it returns, which may be
 * never: once every handle has closed, that alone is no reason to wait.
 */
static void run_loop(uv_loop_t *loop)
{
    for (;;) {
        unsigned handles = 0;
        if (net_lookups_stuck()) {
            uv_walk(loop, count_handle, &handles);
            if (handles == 0)
                return;
        }
        if (uv_run(loop, UV_RUN_ONCE) == 0)
            return;
    }
}

/* A log of -x or -o could not be written: stop, with status 1. */
static void app_on_log_failed(void *ctx)
{
    struct sc_app *app = ctx;

    conv_stop(&app->session.conv, SC_EXIT_RUNTIME);
}

/*
 * What must be ready before any connection: the -x/-o files open, the
 * host names of the access lists resolved. 0, or -1 after saying why.
 */
static int app_prepare(struct sc_app *app)
{
    struct sc_session *s = &app->session;

    if (acl_resolve(&s->opts.acl, &s->loop) < 0)
        return -1;
    if (!transform_needed(&s->opts))
        return 0;
    if (transform_open(&s->transform, &s->opts) < 0)
        return -1;
    s->transform.on_error = app_on_log_failed;
    s->transform.ctx = app;
    return 0;
}

static void pool_nothing(uv_work_t *req)
{
    (void)req;
}

static void pool_nothing_done(uv_work_t *req, int status)
{
    (void)req;
    (void)status;
}

/*
 * libuv's thread pool (look-ups, file writes) starts on its first request,
 * and its threads keep the signal mask of the thread that made it: made
 * here with every signal blocked, they never take a signal meant for the
 * loop (see app_close_signals).
 */
static void start_pool_without_signals(uv_loop_t *loop)
{
    static uv_work_t req;
    sigset_t all, before;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &before);
    uv_queue_work(loop, &req, pool_nothing, pool_nothing_done);
    pthread_sigmask(SIG_SETMASK, &before, NULL);
}

static int app_run(struct sc_app *app)
{
    struct sc_session *s = &app->session;
    int rc;

    uv_loop_init(&s->loop);
    start_pool_without_signals(&s->loop);
    if (app_prepare(app) < 0) {
        uv_run(&s->loop, UV_RUN_DEFAULT);  /* the pool's first request */
        uv_loop_close(&s->loop);
        return SC_EXIT_RUNTIME;
    }
    /* From here on a stalled stderr must not stall the loop. */
    sc_diag_attach(&s->loop);
    s->counters.start_ns = sc_now_ns();
    s->mode = mode_for(&s->opts);
    rc = conv_open(&s->conv, &s->loop, &s->opts, &s->counters);
    if (rc == 0) {
        s->conv.data = app;
        s->conv.on_stopping = app_on_stopping;
        s->conv.on_finished = app_on_finished;
        s->conv.hub.on_peer_gone = app_on_peer_gone;
        if (transform_needed(&s->opts))
            transform_attach(&s->transform, &s->conv.hub.to_peers, &s->conv.hub.to_stdout);
        app_watch_signals(app);
        if (s->opts.progress)
            progress_start(&s->progress, &s->loop, &s->counters);
        s->mode->start(s);
    }
    run_loop(&s->loop);
    /* (A stuck look-up keeps the loop's thread pool busy: main leaves with _exit.) */
    if (!net_lookups_stuck())
        close_loop(&s->loop);
    stdio_restore();
    if (transform_needed(&s->opts) && transform_close(&s->transform) < 0 &&
        s->conv.exit_code == SC_EXIT_OK)
        s->conv.exit_code = SC_EXIT_RUNTIME;
    /* A run that failed before any peer took part has no figures to tell. */
    if (rc == 0 && (s->counters.connections > 0 || s->conv.exit_code != SC_EXIT_RUNTIME))
        app_report(s);
    return s->conv.exit_code;
}

/* Many clients need many descriptors: use all the hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit limit;

    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

int main(int argc, char **argv)
{
    static struct sc_app app;
    int status;

    memset(&app, 0, sizeof(app));
    trim_watch_libuv();
    status = cli_parse(argc, argv, &app.session.opts);
    if (status != CLI_RUN) {
        cli_free(&app.session.opts);
        return status;
    }
    /* A vanished reader is a write error to handle, not a reason to die. */
    signal(SIGPIPE, SIG_IGN);
    /* A request for figures must not end sockcat before it can answer. */
    signal(SIGUSR1, SIG_IGN);
    stdio_guard();
    if (app.session.opts.keep_open)
        raise_fd_limit();
    status = app_run(&app);
    sc_diag_finish();
    chunk_pool_drain();
    trim_finish();
    cli_free(&app.session.opts);
    /* libuv joins its thread pool at exit: do not wait for a stuck look-up. */
    if (net_lookups_stuck())
        _exit(status);
    return status;
}
