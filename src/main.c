/*
 * sockcat: send stdin to a TCP peer and the peer's bytes to stdout.
 *
 * argv -> cli (sc_opts) -> connect or listen -> hub (stdin, stdout, peers)
 * -> the loop runs until the conversation ends -> stdio restored -> exit.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "chunk.h"
#include "cli.h"
#include "connect.h"
#include "diag.h"
#include "hub.h"
#include "listen.h"
#include "stats.h"
#include "stdio.h"

struct sc_app {
    uv_loop_t loop;
    struct sc_opts opts;
    struct sc_counters counters;
    struct sc_hub hub;
    struct sc_connector connector;
    struct sc_listen listener;
    struct sc_progress progress;
    uv_signal_t sigint, sigterm, sigusr1;
};

static void app_on_signal(uv_signal_t *handle, int signum)
{
    struct sc_app *app = handle->data;

    if (signum == SIGUSR1) {
        stats_print_summary(&app->counters, NULL);
        return;
    }
    sc_verbose(1, "stopping on signal %d", signum);
    hub_stop(&app->hub, SC_EXIT_SIGNAL_BASE + signum);
}

static void app_close_signals(struct sc_app *app)
{
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->sigusr1, NULL);
}

/* Stopping: no new clients while stdout is flushed. */
static void app_on_stopping(struct sc_hub *hub)
{
    struct sc_app *app = hub->data;

    if (app->opts.mode == SC_MODE_LISTEN)
        listen_close(&app->listener);
}

static void app_on_peer_closed(struct sc_hub *hub)
{
    struct sc_app *app = hub->data;

    if (app->opts.mode == SC_MODE_LISTEN)
        listen_resume(&app->listener);
}

/* The hub is done: close what keeps the loop alive besides it. */
static void app_on_finished(struct sc_hub *hub)
{
    struct sc_app *app = hub->data;

    if (app->opts.mode == SC_MODE_CONNECT)
        connector_close(&app->connector);
    else
        listen_close(&app->listener);
    progress_stop(&app->progress);
    app_close_signals(app);
    sc_diag_detach();
}

static void app_watch_signals(struct sc_app *app)
{
    uv_signal_t *handles[] = { &app->sigint, &app->sigterm, &app->sigusr1 };
    int numbers[] = { SIGINT, SIGTERM, SIGUSR1 };

    for (int i = 0; i < 3; i++) {
        uv_signal_init(&app->loop, handles[i]);
        handles[i]->data = app;
        uv_signal_start(handles[i], app_on_signal, numbers[i]);
    }
}

static void app_report(const struct sc_app *app)
{
    if (app->opts.stats == SC_STATS_JSON)
        stats_print_json(&app->counters);
    else if (app->opts.stats == SC_STATS_TEXT || sc_verbosity >= 1)
        stats_print_summary(&app->counters, NULL);
}

static void close_leftover(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

static int app_run(struct sc_app *app)
{
    int rc;

    uv_loop_init(&app->loop);
    /* From here on a stalled stderr must not stall the loop. */
    sc_diag_attach(&app->loop);
    app->counters.start_ns = hub_now_ns();
    rc = hub_init(&app->hub, &app->loop, &app->opts, &app->counters);
    app->hub.on_finished = app_on_finished;
    app->hub.on_stopping = app_on_stopping;
    app->hub.on_peer_closed = app_on_peer_closed;
    app->hub.data = app;
    if (rc < 0) {
        app->hub.exit_code = SC_EXIT_RUNTIME;
        app->hub.finished = true;
        app->hub.on_finished = NULL;
        app->hub.on_stopping = NULL;
    } else {
        app_watch_signals(app);
        if (app->opts.progress)
            progress_start(&app->progress, &app->loop, &app->counters);
        if (app->opts.mode == SC_MODE_CONNECT)
            connector_start(&app->connector, &app->hub);
        else
            listen_start(&app->listener, &app->hub);
    }
    if (app->hub.finished && rc < 0) {
        /* Nothing started: close what hub_init opened. */
        uv_walk(&app->loop, close_leftover, NULL);
    }
    uv_run(&app->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&app->loop) == UV_EBUSY) {
        /* Should not happen; do not leave handles behind if it does. */
        uv_walk(&app->loop, close_leftover, NULL);
        uv_run(&app->loop, UV_RUN_DEFAULT);
        uv_loop_close(&app->loop);
    }
    stdio_restore();
    /* A run that failed before any peer took part has no figures to tell. */
    if (rc == 0 && (app->counters.connections > 0 || app->hub.exit_code != SC_EXIT_RUNTIME))
        app_report(app);
    return app->hub.exit_code;
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
    status = cli_parse(argc, argv, &app.opts);
    if (status != CLI_RUN) {
        cli_free(&app.opts);
        return status;
    }
    /* A vanished reader is a write error to handle, not a reason to die. */
    signal(SIGPIPE, SIG_IGN);
    stdio_guard();
    if (app.opts.keep_open)
        raise_fd_limit();
    status = app_run(&app);
    sc_diag_finish();
    chunk_pool_drain();
    cli_free(&app.opts);
    return status;
}
