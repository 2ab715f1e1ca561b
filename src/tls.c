#include "tls.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"

#ifndef SOCKCAT_HAVE_TLS

const bool tls_available = false;

struct sc_tls *tls_new(const struct sc_opts *opts, char *err, size_t err_size)
{
    (void)opts;
    snprintf(err, err_size, "--ssl: this sockcat was built without TLS");
    return NULL;
}

void tls_free(struct sc_tls *tls)
{
    (void)tls;
}

struct sc_endpoint *tls_start(struct sc_tls *tls, uv_loop_t *loop, struct sc_endpoint *inner,
                              const char *peer, const char *host, sc_tls_ready_cb on_ready,
                              void *data)
{
    (void)tls, (void)loop, (void)peer, (void)host, (void)on_ready, (void)data;
    endpoint_close(inner);
    return NULL;
}

#else

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "openssl_load.h"

/*
 * Each OpenSSL function by its pointer from openssl_load() (see
 * openssl_load.h): a name here that its list lacks does not compile, a
 * function called here and missing below does not link.
 */
#define ASN1_INTEGER_set_int64 (*sc_openssl.ASN1_INTEGER_set_int64)
#define BIO_ctrl_pending (*sc_openssl.BIO_ctrl_pending)
#define BIO_new (*sc_openssl.BIO_new)
#define BIO_read (*sc_openssl.BIO_read)
#define BIO_s_mem (*sc_openssl.BIO_s_mem)
#define BIO_write (*sc_openssl.BIO_write)
#define CRYPTO_free (*sc_openssl.CRYPTO_free)
#define ERR_clear_error (*sc_openssl.ERR_clear_error)
#define ERR_peek_error (*sc_openssl.ERR_peek_error)
#define ERR_peek_last_error (*sc_openssl.ERR_peek_last_error)
#define ERR_reason_error_string (*sc_openssl.ERR_reason_error_string)
#define EVP_Digest (*sc_openssl.EVP_Digest)
#define EVP_PKEY_Q_keygen (*sc_openssl.EVP_PKEY_Q_keygen)
#define EVP_PKEY_free (*sc_openssl.EVP_PKEY_free)
#define EVP_sha256 (*sc_openssl.EVP_sha256)
#define RAND_bytes (*sc_openssl.RAND_bytes)
#define SSL_CIPHER_get_name (*sc_openssl.SSL_CIPHER_get_name)
#define SSL_CTX_check_private_key (*sc_openssl.SSL_CTX_check_private_key)
#define SSL_CTX_ctrl (*sc_openssl.SSL_CTX_ctrl)
#define SSL_CTX_free (*sc_openssl.SSL_CTX_free)
#define SSL_CTX_load_verify_locations (*sc_openssl.SSL_CTX_load_verify_locations)
#define SSL_CTX_new (*sc_openssl.SSL_CTX_new)
#define SSL_CTX_set_alpn_protos (*sc_openssl.SSL_CTX_set_alpn_protos)
#define SSL_CTX_set_alpn_select_cb (*sc_openssl.SSL_CTX_set_alpn_select_cb)
#define SSL_CTX_set_cipher_list (*sc_openssl.SSL_CTX_set_cipher_list)
#define SSL_CTX_set_ciphersuites (*sc_openssl.SSL_CTX_set_ciphersuites)
#define SSL_CTX_set_client_CA_list (*sc_openssl.SSL_CTX_set_client_CA_list)
#define SSL_CTX_set_default_verify_paths (*sc_openssl.SSL_CTX_set_default_verify_paths)
#define SSL_CTX_set_verify (*sc_openssl.SSL_CTX_set_verify)
#define SSL_CTX_use_PrivateKey (*sc_openssl.SSL_CTX_use_PrivateKey)
#define SSL_CTX_use_PrivateKey_file (*sc_openssl.SSL_CTX_use_PrivateKey_file)
#define SSL_CTX_use_certificate (*sc_openssl.SSL_CTX_use_certificate)
#define SSL_CTX_use_certificate_chain_file (*sc_openssl.SSL_CTX_use_certificate_chain_file)
#define SSL_ctrl (*sc_openssl.SSL_ctrl)
#define SSL_do_handshake (*sc_openssl.SSL_do_handshake)
#define SSL_free (*sc_openssl.SSL_free)
#define SSL_get0_alpn_selected (*sc_openssl.SSL_get0_alpn_selected)
#define SSL_get0_param (*sc_openssl.SSL_get0_param)
#define SSL_get0_peer_certificate (*sc_openssl.SSL_get0_peer_certificate)
#define SSL_get_current_cipher (*sc_openssl.SSL_get_current_cipher)
#define SSL_get_error (*sc_openssl.SSL_get_error)
#define SSL_get_verify_result (*sc_openssl.SSL_get_verify_result)
#define SSL_get_version (*sc_openssl.SSL_get_version)
#define SSL_load_client_CA_file (*sc_openssl.SSL_load_client_CA_file)
#define SSL_new (*sc_openssl.SSL_new)
#define SSL_read (*sc_openssl.SSL_read)
#define SSL_select_next_proto (*sc_openssl.SSL_select_next_proto)
#define SSL_set1_host (*sc_openssl.SSL_set1_host)
#define SSL_set_accept_state (*sc_openssl.SSL_set_accept_state)
#define SSL_set_bio (*sc_openssl.SSL_set_bio)
#define SSL_set_connect_state (*sc_openssl.SSL_set_connect_state)
#define SSL_shutdown (*sc_openssl.SSL_shutdown)
#define SSL_write (*sc_openssl.SSL_write)
#define TLS_client_method (*sc_openssl.TLS_client_method)
#define TLS_server_method (*sc_openssl.TLS_server_method)
#define X509V3_EXT_conf_nid (*sc_openssl.X509V3_EXT_conf_nid)
#define X509V3_set_ctx (*sc_openssl.X509V3_set_ctx)
#define X509_EXTENSION_free (*sc_openssl.X509_EXTENSION_free)
#define X509_NAME_add_entry_by_txt (*sc_openssl.X509_NAME_add_entry_by_txt)
#define X509_NAME_oneline (*sc_openssl.X509_NAME_oneline)
#define X509_VERIFY_PARAM_set1_ip_asc (*sc_openssl.X509_VERIFY_PARAM_set1_ip_asc)
#define X509_add_ext (*sc_openssl.X509_add_ext)
#define X509_digest (*sc_openssl.X509_digest)
#define X509_free (*sc_openssl.X509_free)
#define X509_get0_pubkey (*sc_openssl.X509_get0_pubkey)
#define X509_get_serialNumber (*sc_openssl.X509_get_serialNumber)
#define X509_get_subject_name (*sc_openssl.X509_get_subject_name)
#define X509_getm_notAfter (*sc_openssl.X509_getm_notAfter)
#define X509_getm_notBefore (*sc_openssl.X509_getm_notBefore)
#define X509_gmtime_adj (*sc_openssl.X509_gmtime_adj)
#define X509_new (*sc_openssl.X509_new)
#define X509_set_issuer_name (*sc_openssl.X509_set_issuer_name)
#define X509_set_pubkey (*sc_openssl.X509_set_pubkey)
#define X509_set_version (*sc_openssl.X509_set_version)
#define X509_sign (*sc_openssl.X509_sign)
#define X509_verify_cert_error_string (*sc_openssl.X509_verify_cert_error_string)
#define i2d_PUBKEY (*sc_openssl.i2d_PUBKEY)

const bool tls_available = true;

#define SHA256_LEN 32

/* Plaintext is encrypted in pieces of this size: each becomes one write of
 * ciphertext that fits a read block. */
#define PLAIN_PIECE (64 * 1024)

struct sc_tls {
    SSL_CTX *ctx;
    bool server;
    bool verify;             /* client: the server's chain and name must check out */
    bool pinned;
    unsigned char pin[SHA256_LEN];
    const char *servername;  /* --ssl-servername */
    unsigned char alpn[256]; /* --ssl-alpn in wire format */
    size_t alpn_len;
};

/* ---- settings ---- */

/* The reason OpenSSL gave last, then forgets its errors. */
static const char *openssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    return reason ? reason : "unknown error";
}

/* OpenSSL says little about a missing file: ask the system first. */
static bool file_readable(const char *path, const char *option, char *err, size_t size)
{
    FILE *f = fopen(path, "r");

    if (f) {
        fclose(f);
        return true;
    }
    snprintf(err, size, "%s %s: %s", option, path, strerror(errno));
    return false;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "sha256:HEX" (colons between bytes allowed) into 32 bytes; 0 or -1. */
static int parse_pin(const char *text, unsigned char out[SHA256_LEN])
{
    size_t n = 0;

    if (strncmp(text, "sha256:", 7) != 0)
        return -1;
    for (const char *p = text + 7; *p; p++) {
        int hi, lo;
        if (*p == ':')
            continue;
        hi = hex_value(p[0]);
        lo = hi < 0 || !p[1] ? -1 : hex_value(p[1]);
        if (lo < 0 || n == SHA256_LEN)
            return -1;
        out[n++] = (unsigned char)(hi << 4 | lo);
        p++;
    }
    return n == SHA256_LEN ? 0 : -1;
}

/* "h2,http/1.1" into ALPN's wire format (length-prefixed names). */
static int parse_alpn(const char *text, unsigned char *out, size_t size, size_t *len)
{
    size_t used = 0;

    while (*text) {
        size_t name = strcspn(text, ",");
        if (name == 0 || name > 255 || used + 1 + name > size)
            return -1;
        out[used++] = (unsigned char)name;
        memcpy(out + used, text, name);
        used += name;
        text += name;
        if (*text == ',')
            text++;
    }
    *len = used;
    return used > 0 ? 0 : -1;
}

static void hex_of(const unsigned char *bytes, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", bytes[i]);
}

/* The certificate's SHA-256 fingerprint, as --ssl-pin takes it. */
static void fingerprint(X509 *cert, char out[8 + 2 * SHA256_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;

    X509_digest(cert, EVP_sha256(), md, &len);
    memcpy(out, "sha256:", 7);
    hex_of(md, SHA256_LEN, out + 7);
}

static bool sha256_of_der(const unsigned char *der, int len, unsigned char out[SHA256_LEN])
{
    unsigned md_len = 0;

    return len > 0 && EVP_Digest(der, (size_t)len, out, &md_len, EVP_sha256(), NULL) == 1;
}

/* --ssl-pin names the whole certificate or its public key (SPKI). */
static bool matches_pin(const struct sc_tls *tls, X509 *cert)
{
    unsigned char md[SHA256_LEN];
    unsigned char *der = NULL;
    unsigned len = 0;
    int der_len;
    bool match = false;

    if (X509_digest(cert, EVP_sha256(), md, &len) == 1 && memcmp(md, tls->pin, SHA256_LEN) == 0)
        return true;
    der_len = i2d_PUBKEY(X509_get0_pubkey(cert), &der);
    if (sha256_of_der(der, der_len, md))
        match = memcmp(md, tls->pin, SHA256_LEN) == 0;
    OPENSSL_free(der);
    return match;
}

/* listen without --ssl-cert: a fresh EC P-256 certificate for this run. */
static int use_self_signed(SSL_CTX *ctx, char *err, size_t size)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    X509_EXTENSION *san = NULL;
    X509V3_CTX v3;
    uint64_t serial = 0;
    char print[8 + 2 * SHA256_LEN];
    int ok = key && cert;

    RAND_bytes((unsigned char *)&serial, sizeof(serial));
    ok = ok && X509_set_version(cert, 2) &&
         ASN1_INTEGER_set_int64(X509_get_serialNumber(cert), (int64_t)(serial >> 1)) &&
         X509_gmtime_adj(X509_getm_notBefore(cert), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 24 * 3600) &&
         X509_set_pubkey(cert, key) &&
         X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                                    (const unsigned char *)"sockcat", -1, -1, 0) &&
         X509_set_issuer_name(cert, X509_get_subject_name(cert));
    if (ok) {
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
        san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
                                  "DNS:localhost,IP:127.0.0.1,IP:::1");
        ok = san && X509_add_ext(cert, san, -1) && X509_sign(cert, key, EVP_sha256()) &&
             SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1;
    }
    if (ok) {
        fingerprint(cert, print);
        sc_verbose(1, "TLS certificate (self-signed, made for this run): %s", print);
    } else {
        snprintf(err, size, "make a TLS certificate: %s", openssl_reason());
    }
    X509_EXTENSION_free(san);
    X509_free(cert);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

static int use_certificate(SSL_CTX *ctx, const struct sc_opts *o, char *err, size_t size)
{
    const char *key = o->ssl_key ? o->ssl_key : o->ssl_cert;

    if (!file_readable(o->ssl_cert, "--ssl-cert", err, size) ||
        !file_readable(key, o->ssl_key ? "--ssl-key" : "--ssl-cert", err, size))
        return -1;
    if (SSL_CTX_use_certificate_chain_file(ctx, o->ssl_cert) != 1) {
        snprintf(err, size, "--ssl-cert %s: %s", o->ssl_cert, openssl_reason());
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, size, "%s %s: %s", o->ssl_key ? "--ssl-key" : "--ssl-cert", key,
                 openssl_reason());
        return -1;
    }
    return 0;
}

static int use_ciphers(SSL_CTX *ctx, const char *list, char *err, size_t size)
{
    /* TLS 1.3 suites are named TLS_...; older ones have OpenSSL's names. */
    int ok = strncmp(list, "TLS_", 4) == 0 ? SSL_CTX_set_ciphersuites(ctx, list)
                                          : SSL_CTX_set_cipher_list(ctx, list);
    if (ok == 1)
        return 0;
    snprintf(err, size, "--ssl-ciphers %s: %s", list, openssl_reason());
    return -1;
}

static int use_trust(SSL_CTX *ctx, const char *file, char *err, size_t size)
{
    if (!file) {
        SSL_CTX_set_default_verify_paths(ctx);
        return 0;
    }
    if (!file_readable(file, "--ssl-trustfile", err, size))
        return -1;
    if (SSL_CTX_load_verify_locations(ctx, file, NULL) != 1) {
        snprintf(err, size, "--ssl-trustfile %s: %s", file, openssl_reason());
        return -1;
    }
    return 0;
}

/* The server picks the first of its --ssl-alpn names that the client offers. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *out_len,
                       const unsigned char *in, unsigned in_len, void *arg)
{
    struct sc_tls *tls = arg;
    unsigned char *chosen;

    (void)ssl;
    if (SSL_select_next_proto(&chosen, out_len, tls->alpn, (unsigned)tls->alpn_len, in,
                              in_len) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

static int setup_server(struct sc_tls *tls, const struct sc_opts *o, char *err, size_t size)
{
    SSL_CTX *ctx = tls->ctx;

    if (o->ssl_cert ? use_certificate(ctx, o, err, size) : use_self_signed(ctx, err, size))
        return -1;
    if (o->ssl_verify && o->ssl_trustfile) {
        /* Ask every client for a certificate signed by the trust file. */
        if (use_trust(ctx, o->ssl_trustfile, err, size) < 0)
            return -1;
        SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(o->ssl_trustfile));
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    if (tls->alpn_len)
        SSL_CTX_set_alpn_select_cb(ctx, select_alpn, tls);
    return 0;
}

static int setup_client(struct sc_tls *tls, const struct sc_opts *o, char *err, size_t size)
{
    SSL_CTX *ctx = tls->ctx;

    if (o->ssl_cert && use_certificate(ctx, o, err, size) < 0)
        return -1;
    /* Loaded even without verifying, so that -v can tell what it would say. */
    if (use_trust(ctx, o->ssl_trustfile, err, size) < 0)
        return -1;
    tls->verify = !o->ssl_no_verify && !tls->pinned;
    SSL_CTX_set_verify(ctx, tls->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (o->ssl_no_verify)
        sc_note("warning: --ssl-no-verify: the server's certificate is not checked");
    if (tls->alpn_len && SSL_CTX_set_alpn_protos(ctx, tls->alpn, (unsigned)tls->alpn_len) != 0) {
        snprintf(err, size, "--ssl-alpn %s: %s", o->ssl_alpn, openssl_reason());
        return -1;
    }
    return 0;
}

struct sc_tls *tls_new(const struct sc_opts *o, char *err, size_t size)
{
    struct sc_tls *tls;
    int rc = 0;

    /* The first OpenSSL call of a run: every other one needs a context. */
    if (openssl_load(err, size) < 0)
        return NULL;
    tls = calloc(1, sizeof(*tls));
    if (!tls) {
        snprintf(err, size, "TLS: %s", strerror(ENOMEM));
        return NULL;
    }
    tls->server = o->mode == SC_MODE_LISTEN;
    tls->servername = o->ssl_servername;
    tls->ctx = SSL_CTX_new(tls->server ? TLS_server_method() : TLS_client_method());
    if (!tls->ctx) {
        snprintf(err, size, "TLS: %s", openssl_reason());
        free(tls);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION);
    /* An idle connection of 1000 keeps no read and write buffers. */
    SSL_CTX_set_mode(tls->ctx, SSL_MODE_RELEASE_BUFFERS);
    if (o->ssl_pin) {
        tls->pinned = parse_pin(o->ssl_pin, tls->pin) == 0;  /* cli has checked it */
    }
    if (o->ssl_alpn && parse_alpn(o->ssl_alpn, tls->alpn, sizeof(tls->alpn), &tls->alpn_len)) {
        snprintf(err, size, "--ssl-alpn %s: must be names separated by commas", o->ssl_alpn);
        rc = -1;
    }
    if (rc == 0 && o->ssl_ciphers)
        rc = use_ciphers(tls->ctx, o->ssl_ciphers, err, size);
    if (rc == 0)
        rc = tls->server ? setup_server(tls, o, err, size) : setup_client(tls, o, err, size);
    if (rc < 0) {
        tls_free(tls);
        return NULL;
    }
    return tls;
}

void tls_free(struct sc_tls *tls)
{
    if (!tls)
        return;
    SSL_CTX_free(tls->ctx);
    free(tls);
}

/* ---- the endpoint ---- */

/* One write of ciphertext on the inner endpoint, and the plaintext it carries. */
struct cipher_write {
    struct cipher_write *next;
    size_t plain;       /* plaintext bytes this write completes */
    bool ends_chunk;    /* it completes one chunk given to write() */
};

struct tls_endpoint {
    struct sc_endpoint base;
    struct sc_endpoint *inner;
    struct sc_tls *tls;
    SSL *ssl;
    BIO *net_in;         /* ciphertext read from the inner endpoint, for OpenSSL */
    BIO *net_out;        /* ciphertext OpenSSL made, for the inner endpoint */
    uv_idle_t kick;      /* delivers what is buffered after read_start, outside it */
    struct cipher_write *head, *tail;
    sc_tls_ready_cb on_ready;
    void *ready_data;
    bool handshaking;
    bool handed_out;     /* the handshake succeeded: events go to the owner */
    bool inner_eof;
    bool eof_delivered;
    bool inner_closed;
    bool kick_closed;
    char peer[SC_NAME_MAX];
};

static struct tls_endpoint *tls_of(struct sc_endpoint *ep)
{
    return (struct tls_endpoint *)ep;
}

static void tls_close(struct sc_endpoint *ep);

static void queue_cipher_write(struct tls_endpoint *t, struct cipher_write *w)
{
    if (t->tail)
        t->tail->next = w;
    else
        t->head = w;
    t->tail = w;
}

static void unqueue_last(struct tls_endpoint *t, struct cipher_write *w)
{
    struct cipher_write **p = &t->head;

    while (*p && *p != w)
        p = &(*p)->next;
    *p = NULL;
    t->tail = NULL;
    for (struct cipher_write *c = t->head; c; c = c->next)
        t->tail = c;
    free(w);
}

/*
 * Writes out the ciphertext OpenSSL has made. The last write carries
 * `plain` plaintext bytes (and the end of a chunk given to write()), so
 * that its completion reports them. 0 or a libuv error.
 */
static int flush_cipher(struct tls_endpoint *t, size_t plain, bool ends_chunk)
{
    size_t pending;

    while ((pending = BIO_ctrl_pending(t->net_out)) > 0) {
        struct sc_chunk *block = chunk_take_block();
        struct cipher_write *w = calloc(1, sizeof(*w));
        int n, rc;

        if (!block || !w) {
            if (block)
                chunk_unref(block);
            free(w);
            return UV_ENOMEM;
        }
        n = BIO_read(t->net_out, block->data, (int)(pending < block->cap ? pending : block->cap));
        if (n <= 0) {
            chunk_unref(block);
            free(w);
            return UV_EPROTO;
        }
        struct sc_chunk *chunk = chunk_trim(block, (size_t)n);
        if (BIO_ctrl_pending(t->net_out) == 0) {
            w->plain = plain;
            w->ends_chunk = ends_chunk;
        }
        queue_cipher_write(t, w);
        rc = endpoint_write(t->inner, chunk);
        chunk_unref(chunk);
        if (rc < 0) {
            unqueue_last(t, w);
            return rc;
        }
    }
    return 0;
}

/* Why a handshake failed, in words a user can act on. */
static void describe_failure(struct tls_endpoint *t, int ssl_error, char *out, size_t size)
{
    unsigned long e = ERR_peek_error();
    int reason = ERR_GET_REASON(e);
    long verify = SSL_get_verify_result(t->ssl);

    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED && verify != X509_V_OK)
        snprintf(out, size, "certificate verify failed: %s",
                 X509_verify_cert_error_string(verify));
    else if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST ||
             reason == SSL_R_PACKET_LENGTH_TOO_LONG || reason == SSL_R_UNEXPECTED_MESSAGE ||
             reason == SSL_R_HTTPS_PROXY_REQUEST)
        snprintf(out, size, "%s (the peer does not speak TLS)", ERR_reason_error_string(e));
    else if (e)
        snprintf(out, size, "%s", ERR_reason_error_string(e) ? ERR_reason_error_string(e)
                                                              : "unknown error");
    else if (ssl_error == SSL_ERROR_SYSCALL)
        snprintf(out, size, "connection closed by the peer");
    else
        snprintf(out, size, "error %d", ssl_error);
    ERR_clear_error();
}

static void handshake_failed(struct tls_endpoint *t, const char *why)
{
    char text[SC_NAME_MAX + 320];
    sc_tls_ready_cb on_ready = t->on_ready;

    snprintf(text, sizeof(text), "TLS handshake with %s: %s", t->peer, why);
    t->on_ready = NULL;
    t->handshaking = false;
    tls_close(&t->base);
    if (on_ready)
        on_ready(t->ready_data, NULL, text);
}

static void describe_verification(struct tls_endpoint *t, X509 *cert, char *out, size_t size)
{
    long verify = SSL_get_verify_result(t->ssl);

    (void)cert;
    if (t->tls->server)
        snprintf(out, size, "%s", verify == X509_V_OK ? "verified" : "not verified");
    else if (t->tls->pinned)
        snprintf(out, size, "matches --ssl-pin");
    else if (t->tls->verify)
        snprintf(out, size, "verified");
    else
        snprintf(out, size, "not checked (--ssl-no-verify; it would say: %s)",
                 X509_verify_cert_error_string(verify));
}

/* -v: protocol, cipher, ALPN, the peer's certificate and its verification. */
static void tell_session(struct tls_endpoint *t)
{
    X509 *cert = SSL_get0_peer_certificate(t->ssl);
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    char subject[256], verdict[200], about[480];

    if (sc_verbosity < 1)
        return;
    if (cert) {
        X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
        describe_verification(t, cert, verdict, sizeof(verdict));
        snprintf(about, sizeof(about), "certificate %s: %s", subject, verdict);
    } else {
        snprintf(about, sizeof(about), "no %scertificate", t->tls->server ? "client " : "");
    }
    SSL_get0_alpn_selected(t->ssl, &alpn, &alpn_len);
    sc_verbose(1, "TLS with %s: %s, %s%s%.*s; %s", t->peer, SSL_get_version(t->ssl),
               SSL_get_cipher_name(t->ssl), alpn_len ? ", ALPN " : "", (int)alpn_len,
               alpn ? (const char *)alpn : "", about);
}

static void handshake_done(struct tls_endpoint *t)
{
    X509 *cert = SSL_get0_peer_certificate(t->ssl);
    sc_tls_ready_cb on_ready = t->on_ready;

    if (t->tls->pinned && (!cert || !matches_pin(t->tls, cert))) {
        char why[120] = "the server sent no certificate";
        if (cert) {
            char print[8 + 2 * SHA256_LEN];
            fingerprint(cert, print);
            snprintf(why, sizeof(why), "certificate does not match --ssl-pin (it is %s)", print);
        }
        handshake_failed(t, why);
        return;
    }
    tell_session(t);
    t->handshaking = false;
    t->handed_out = true;
    t->on_ready = NULL;
    /* Nobody reads yet: what came behind the handshake waits in net_in. */
    endpoint_read_stop(t->inner);
    on_ready(t->ready_data, &t->base, NULL);
}

static void step_handshake(struct tls_endpoint *t)
{
    int rc = SSL_do_handshake(t->ssl);
    int flushed = flush_cipher(t, 0, false);
    int error;

    if (rc == 1) {
        handshake_done(t);
        return;
    }
    error = SSL_get_error(t->ssl, rc);
    if (error == SSL_ERROR_WANT_READ && flushed == 0) {
        if (t->inner_eof)
            handshake_failed(t, "connection closed by the peer");
        else
            endpoint_read_start(t->inner);
        return;
    }
    char why[256];
    if (flushed < 0)
        snprintf(why, sizeof(why), "%s", sc_strerror(flushed));
    else
        describe_failure(t, error, why, sizeof(why));
    handshake_failed(t, why);
}

static void deliver_eof(struct tls_endpoint *t, bool clean)
{
    if (t->eof_delivered)
        return;
    t->eof_delivered = true;
    t->base.reading = false;
    endpoint_read_stop(t->inner);
    if (!clean)
        sc_verbose(1, "TLS with %s: the connection ended without close_notify (possible "
                      "truncation)", t->peer);
    t->base.events->on_eof(&t->base);
}

static void deliver_error(struct tls_endpoint *t, int err)
{
    t->base.reading = false;
    t->eof_delivered = true;
    endpoint_read_stop(t->inner);
    t->base.events->on_read_error(&t->base, err);
}

/* Hands plaintext to the owner while it reads; then says whether more is wanted. */
static void deliver_plaintext(struct tls_endpoint *t)
{
    while (t->base.reading && !t->base.closing && !t->eof_delivered) {
        struct sc_chunk *block = chunk_take_block();
        int n, error;

        if (!block) {
            deliver_error(t, UV_ENOMEM);
            return;
        }
        /*
         * A record holds at most 16 KiB: the block is filled with every
         * record already decrypted or decryptable from what has arrived, so
         * that one chunk goes downstream instead of one per record (which
         * cost 5 CPU s per GiB received: a chunk, a copy and a write each).
         */
        size_t filled = 0;
        do {
            n = SSL_read(t->ssl, block->data + filled, (int)(block->cap - filled));
            if (n > 0)
                filled += (size_t)n;
        } while (n > 0 && filled < block->cap);
        error = n > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, n);
        if (filled > 0) {
            struct sc_chunk *chunk = chunk_trim(block, filled);
            t->base.bytes_read += (uint64_t)filled;
            t->base.events->on_data(&t->base, chunk);
            /* A full block, or the owner stopped reading: the next SSL_read
             * says again what stopped this one. */
            if (error == SSL_ERROR_NONE || !t->base.reading || t->base.closing)
                continue;
        } else {
            chunk_unref(block);
        }
        flush_cipher(t, 0, false);  /* an answer to a key update, say */
        if (error == SSL_ERROR_WANT_READ) {
            if (t->inner_eof)
                deliver_eof(t, false);
            return;
        }
        if (error == SSL_ERROR_ZERO_RETURN) {
            deliver_eof(t, true);
            return;
        }
        char why[256];
        describe_failure(t, error, why, sizeof(why));
        sc_verbose(1, "TLS with %s: %s", t->peer, why);
        deliver_error(t, UV_EPROTO);
        return;
    }
}

/* Reads ciphertext from the inner endpoint only while plaintext is wanted. */
static void update_inner_reading(struct tls_endpoint *t)
{
    if (t->base.closing || t->inner_eof)
        return;
    if (t->handshaking || (t->base.reading && !t->eof_delivered))
        endpoint_read_start(t->inner);
    else
        endpoint_read_stop(t->inner);
}

static void progress(struct tls_endpoint *t)
{
    if (t->base.closing)
        return;
    if (t->handshaking) {
        step_handshake(t);
        return;
    }
    if (t->handed_out) {
        deliver_plaintext(t);
        update_inner_reading(t);
    }
}

static void on_kick(uv_idle_t *idle)
{
    struct tls_endpoint *t = idle->data;

    uv_idle_stop(idle);
    progress(t);
}

/* ---- events of the inner endpoint ---- */

static void inner_on_data(struct sc_endpoint *inner, struct sc_chunk *chunk)
{
    struct tls_endpoint *t = inner->owner;

    if (BIO_write(t->net_in, chunk->data, (int)chunk->len) != (int)chunk->len) {
        chunk_unref(chunk);
        if (t->handshaking)
            handshake_failed(t, sc_strerror(UV_ENOMEM));
        else if (t->base.reading)
            deliver_error(t, UV_ENOMEM);
        return;
    }
    chunk_unref(chunk);
    progress(t);
}

static void inner_on_eof(struct sc_endpoint *inner)
{
    struct tls_endpoint *t = inner->owner;

    t->inner_eof = true;
    progress(t);
}

static void inner_on_read_error(struct sc_endpoint *inner, int err)
{
    struct tls_endpoint *t = inner->owner;

    if (t->handshaking)
        handshake_failed(t, sc_strerror(err));
    else if (t->handed_out && !t->eof_delivered && !t->base.closing)
        deliver_error(t, err);
}

static void inner_on_written(struct sc_endpoint *inner, size_t len, int status)
{
    struct tls_endpoint *t = inner->owner;
    struct cipher_write *w = t->head;
    struct sc_endpoint *ep = &t->base;

    (void)len;
    if (!w)
        return;
    t->head = w->next;
    if (!t->head)
        t->tail = NULL;
    if (t->handshaking && status < 0) {
        free(w);
        handshake_failed(t, sc_strerror(status));
        return;
    }
    if (t->handed_out && !ep->closing && (w->plain || w->ends_chunk)) {
        ep->queued -= w->plain;
        if (w->ends_chunk)
            ep->queued_chunks--;
        if (status == 0)
            ep->bytes_written += w->plain;
        ep->events->on_written(ep, w->plain, status);
    }
    free(w);
}

static void inner_on_ended(struct sc_endpoint *inner, int status)
{
    struct tls_endpoint *t = inner->owner;

    if (!t->base.ending || t->base.closing)
        return;
    t->base.ended = true;
    t->base.events->on_ended(&t->base, status);
}

static void finish_close(struct tls_endpoint *t)
{
    if (!t->inner_closed || !t->kick_closed)
        return;
    while (t->head) {
        struct cipher_write *w = t->head;
        t->head = w->next;
        free(w);
    }
    SSL_free(t->ssl);  /* frees both memory buffers too */
    if (t->handed_out)
        t->base.events->on_closed(&t->base);  /* the owner frees t */
    else
        free(t);
}

static void inner_on_closed(struct sc_endpoint *inner)
{
    struct tls_endpoint *t = inner->owner;

    free(inner);
    t->inner = NULL;
    t->inner_closed = true;
    finish_close(t);
}

static const struct sc_endpoint_events inner_events = {
    .on_data = inner_on_data,
    .on_eof = inner_on_eof,
    .on_read_error = inner_on_read_error,
    .on_written = inner_on_written,
    .on_ended = inner_on_ended,
    .on_closed = inner_on_closed,
};

/* ---- operations ---- */

static int tls_read_start(struct sc_endpoint *ep)
{
    struct tls_endpoint *t = tls_of(ep);

    if (ep->reading || ep->closing || t->eof_delivered)
        return 0;
    ep->reading = true;
    /* Plaintext may be waiting already: deliver it from the loop, not from here. */
    return uv_idle_start(&t->kick, on_kick);
}

static void tls_read_stop(struct sc_endpoint *ep)
{
    struct tls_endpoint *t = tls_of(ep);

    if (!ep->reading)
        return;
    ep->reading = false;
    uv_idle_stop(&t->kick);
    update_inner_reading(t);
}

static int tls_write(struct sc_endpoint *ep, struct sc_chunk *chunk)
{
    struct tls_endpoint *t = tls_of(ep);
    size_t done = 0;

    if (ep->closing || ep->ending)
        return UV_EPIPE;
    ep->queued += chunk->len;
    ep->queued_chunks++;
    while (done < chunk->len) {
        size_t piece = chunk->len - done < PLAIN_PIECE ? chunk->len - done : PLAIN_PIECE;
        int rc;

        if (SSL_write(t->ssl, chunk->data + done, (int)piece) != (int)piece) {
            ERR_clear_error();
            rc = UV_EPROTO;
        } else {
            rc = flush_cipher(t, piece, done + piece == chunk->len);
        }
        if (rc < 0) {
            /* What went out before still reports itself; the rest is not queued. */
            ep->queued -= chunk->len - done;
            ep->queued_chunks--;
            return done ? 0 : rc;
        }
        done += piece;
    }
    return 0;
}

static void tls_end(struct sc_endpoint *ep)
{
    struct tls_endpoint *t = tls_of(ep);

    if (ep->ending || ep->closing)
        return;
    ep->ending = true;
    /* close_notify goes out behind everything written, then the FIN. */
    SSL_shutdown(t->ssl);
    ERR_clear_error();
    flush_cipher(t, 0, false);
    endpoint_end(t->inner);
}

static void on_kick_closed(uv_handle_t *handle)
{
    struct tls_endpoint *t = handle->data;

    t->kick_closed = true;
    finish_close(t);
}

static void close_with(struct sc_endpoint *ep, bool reset)
{
    struct tls_endpoint *t = tls_of(ep);

    if (ep->closing)
        return;
    ep->closing = true;
    ep->reading = false;
    uv_close((uv_handle_t *)&t->kick, on_kick_closed);
    if (reset)
        endpoint_close_reset(t->inner);
    else
        endpoint_close(t->inner);
}

static void tls_close(struct sc_endpoint *ep)
{
    close_with(ep, false);
}

static void tls_close_reset(struct sc_endpoint *ep)
{
    close_with(ep, true);
}

static const struct sc_endpoint_ops tls_ops = {
    .read_start = tls_read_start,
    .read_stop = tls_read_stop,
    .write = tls_write,
    .end = tls_end,
    .close = tls_close,
    .unwritten = NULL,
    .write_now = NULL,
    .close_reset = tls_close_reset,
};

static bool is_ip_address(const char *name)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

/* SNI and the name the server's certificate must carry. */
static void set_server_name(struct tls_endpoint *t, const char *name)
{
    if (!name || !*name)
        return;
    if (!is_ip_address(name))
        SSL_set_tlsext_host_name(t->ssl, name);
    if (!t->tls->verify)
        return;
    if (is_ip_address(name))
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name);
    else
        SSL_set1_host(t->ssl, name);
}

struct sc_endpoint *tls_start(struct sc_tls *tls, uv_loop_t *loop, struct sc_endpoint *inner,
                              const char *peer, const char *host, sc_tls_ready_cb on_ready,
                              void *data)
{
    struct tls_endpoint *t = calloc(1, sizeof(*t));

    if (t)
        t->ssl = SSL_new(tls->ctx);
    if (!t || !t->ssl) {
        free(t);
        endpoint_close(inner);
        return NULL;
    }
    t->base = (struct sc_endpoint){ .ops = &tls_ops, .owner = NULL };
    t->inner = inner;
    t->tls = tls;
    t->on_ready = on_ready;
    t->ready_data = data;
    t->handshaking = true;
    snprintf(t->peer, sizeof(t->peer), "%s", peer);
    t->net_in = BIO_new(BIO_s_mem());
    t->net_out = BIO_new(BIO_s_mem());
    SSL_set_bio(t->ssl, t->net_in, t->net_out);
    if (tls->server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        set_server_name(t, tls->servername ? tls->servername : host);
    }
    inner->events = &inner_events;
    inner->owner = t;
    uv_idle_init(loop, &t->kick);
    t->kick.data = t;
    uv_idle_start(&t->kick, on_kick);  /* the first step runs from the loop */
    return &t->base;
}

#endif
