/*
 * openssl_load: OpenSSL (libssl and the libcrypto it needs) is opened at
 * run time, on the first TLS use, not linked: a sockcat that never speaks
 * TLS does not map the libraries, whose relocated data alone cost every
 * run about 2 MiB of memory.
 *
 * Every OpenSSL function tls.c calls is a pointer in `sc_openssl`, filled
 * by openssl_load(). tls.c names them as usual: after the OpenSSL headers
 * it defines each name as its pointer (`#define SSL_new (*sc_openssl.SSL_new)`),
 * so OpenSSL's own function-like macros (SSL_CTX_set_min_proto_version is
 * SSL_CTX_ctrl) reach the pointers too. A function missing from this list
 * fails the link, as sockcat is not linked with OpenSSL.
 */
#ifndef SOCKCAT_OPENSSL_LOAD_H
#define SOCKCAT_OPENSSL_LOAD_H

#include <stddef.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* The one library opened; libcrypto comes with it as its dependency. */
#define SC_LIBSSL "libssl.so.3"

#define SC_OPENSSL_FUNCTIONS(X) \
    X(ASN1_INTEGER_set_int64) \
    X(BIO_ctrl_pending) \
    X(BIO_new) \
    X(BIO_read) \
    X(BIO_s_mem) \
    X(BIO_write) \
    X(CRYPTO_free) \
    X(ERR_clear_error) \
    X(ERR_peek_error) \
    X(ERR_peek_last_error) \
    X(ERR_reason_error_string) \
    X(EVP_Digest) \
    X(EVP_PKEY_Q_keygen) \
    X(EVP_PKEY_free) \
    X(EVP_sha256) \
    X(RAND_bytes) \
    X(SSL_CIPHER_get_name) \
    X(SSL_CTX_check_private_key) \
    X(SSL_CTX_ctrl) \
    X(SSL_CTX_free) \
    X(SSL_CTX_load_verify_locations) \
    X(SSL_CTX_new) \
    X(SSL_CTX_set_alpn_protos) \
    X(SSL_CTX_set_alpn_select_cb) \
    X(SSL_CTX_set_cipher_list) \
    X(SSL_CTX_set_ciphersuites) \
    X(SSL_CTX_set_client_CA_list) \
    X(SSL_CTX_set_default_verify_paths) \
    X(SSL_CTX_set_verify) \
    X(SSL_CTX_use_PrivateKey) \
    X(SSL_CTX_use_PrivateKey_file) \
    X(SSL_CTX_use_certificate) \
    X(SSL_CTX_use_certificate_chain_file) \
    X(SSL_ctrl) \
    X(SSL_do_handshake) \
    X(SSL_free) \
    X(SSL_get0_alpn_selected) \
    X(SSL_get0_param) \
    X(SSL_get0_peer_certificate) \
    X(SSL_get_current_cipher) \
    X(SSL_get_error) \
    X(SSL_get_verify_result) \
    X(SSL_get_version) \
    X(SSL_load_client_CA_file) \
    X(SSL_new) \
    X(SSL_read) \
    X(SSL_select_next_proto) \
    X(SSL_set1_host) \
    X(SSL_set_accept_state) \
    X(SSL_set_bio) \
    X(SSL_set_connect_state) \
    X(SSL_shutdown) \
    X(SSL_write) \
    X(TLS_client_method) \
    X(TLS_server_method) \
    X(X509V3_EXT_conf_nid) \
    X(X509V3_set_ctx) \
    X(X509_EXTENSION_free) \
    X(X509_NAME_add_entry_by_txt) \
    X(X509_NAME_oneline) \
    X(X509_VERIFY_PARAM_set1_ip_asc) \
    X(X509_add_ext) \
    X(X509_digest) \
    X(X509_free) \
    X(X509_get0_pubkey) \
    X(X509_get_serialNumber) \
    X(X509_get_subject_name) \
    X(X509_getm_notAfter) \
    X(X509_getm_notBefore) \
    X(X509_gmtime_adj) \
    X(X509_new) \
    X(X509_set_issuer_name) \
    X(X509_set_pubkey) \
    X(X509_set_version) \
    X(X509_sign) \
    X(X509_verify_cert_error_string) \
    X(i2d_PUBKEY)

#define SC_OPENSSL_POINTER(name) __typeof__(name) *name;
struct sc_openssl {
    SC_OPENSSL_FUNCTIONS(SC_OPENSSL_POINTER)
};
#undef SC_OPENSSL_POINTER

extern struct sc_openssl sc_openssl;

/*
 * openssl_load()
 * Opens libssl and finds every function above; once that has succeeded,
 * later calls do nothing. 0, or -1 with the reason in `err` ("load OpenSSL:
 * libssl.so.3: cannot open shared object file: No such file or directory").
 * The library stays open to the end: it registers its own exit handlers.
 */
int openssl_load(char *err, size_t err_size);

#endif
