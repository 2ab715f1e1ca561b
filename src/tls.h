/*
 * tls: --ssl. A TLS endpoint wraps another endpoint (TCP or a Unix socket)
 * and speaks TLS over it with OpenSSL driven through memory buffers on the
 * loop: no threads, nothing blocks. Outside it looks like any stream: the
 * same reads, writes and half-close, with plaintext.
 *
 * - Reading: ciphertext is read from the inner endpoint only while the
 *   TLS endpoint itself is reading, so backpressure passes through.
 * - end(): sends close_notify, then half-closes the inner socket.
 * - The peer's close_notify is EOF; a bare end of the connection without
 *   it is EOF too, with "possible truncation" said at -v.
 *
 * Building without OpenSSL (-DSOCKCAT_TLS=OFF) keeps these functions, but
 * cli refuses --ssl first, so they are never reached.
 */
#ifndef SOCKCAT_TLS_H
#define SOCKCAT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "cli.h"
#include "endpoint.h"

/* Whether this build can do TLS at all. */
extern const bool tls_available;

/* One run's TLS settings (an OpenSSL context), for connect or listen. */
struct sc_tls;

/*
 * tls_new()
 * The settings the options ask for: trust store, certificate (a fresh
 * self-signed one for listen without --ssl-cert), ciphers, ALPN. NULL on
 * failure with the reason in `err` ("--ssl-cert cert.pem: No such file").
 */
struct sc_tls *tls_new(const struct sc_opts *opts, char *err, size_t err_size);

void tls_free(struct sc_tls *tls);

/*
 * Called once a handshake is over. Done: `ep`, ready to use (set its
 * events and owner; it now owns the inner endpoint), `text` NULL. Failed:
 * ep NULL and `text` the whole message ("TLS handshake with HOST PORT:
 * certificate verify failed: self-signed certificate"); the inner endpoint
 * is closed.
 */
typedef void (*sc_tls_ready_cb)(void *data, struct sc_endpoint *ep, const char *text);

/*
 * tls_start()
 * Starts a handshake over `inner` (connected, owned by nobody else now):
 * as a client for connect, as a server for listen. `peer` names the other
 * end in messages; `host` is the name to check in the server's
 * certificate (NULL: --ssl-servername or none). Returns the endpoint to
 * close to give up (no callback then), or NULL when out of memory (the
 * inner endpoint is closed).
 */
struct sc_endpoint *tls_start(struct sc_tls *tls, uv_loop_t *loop, struct sc_endpoint *inner,
                              const char *peer, const char *host, sc_tls_ready_cb on_ready,
                              void *data);

#endif
