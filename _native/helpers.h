/* Small C helpers compiled into pyssl._openssl (their cffi declarations
 * are in cdef/helpers.cdef). Each exists for one of three reasons:
 *   - to name an OpenSSL type cffi cannot spell (STACK_OF(...));
 *   - to report what this OpenSSL build supports, decided by the
 *     preprocessor (OPENSSL_NO_*), as constants;
 *   - to keep a hot path in one C call: the I/O helpers run the operation,
 *     classify a failure with SSL_get_error() and capture errno while the
 *     GIL is released and before anything else can touch the thread's
 *     error queue or errno.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/opensslv.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>
#include <openssl/dh.h>
#ifdef _WIN32
#include <winsock2.h>
#endif

/* ---- the GIL ---------------------------------------------------------- */

/* cffi releases the GIL around every call it wraps. For a call that takes
 * nanoseconds that costs more than the call, and, worse, lets another
 * thread take the GIL, which this one then waits to get back: a server
 * thread and its clients would hand the GIL to each other at every step.
 * Like the stdlib's _ssl, pyssl releases it only where OpenSSL may block
 * on I/O or work for long: the I/O helpers, loading files, making contexts
 * and keys. cffi's wrappers (_cffi_f_<name>, defined after this file) use
 * these macros; each asks once, by its own name, whether it releases. */
static const char *const pyssl_gil_releasing[] = {
    "pyssl_read", "pyssl_write", "pyssl_do_handshake", "pyssl_shutdown",
    "SSL_CTX_new", "SSL_CTX_free", "SSL_CTX_load_verify_locations",
    "SSL_CTX_set_default_verify_paths", "SSL_CTX_use_certificate_chain_file",
    "SSL_CTX_use_PrivateKey_file", "SSL_CTX_check_private_key", "BIO_new_file",
    "PEM_read_bio_X509", "PEM_read_bio_X509_AUX", "d2i_X509_bio", "pyssl_make_self_signed",
    "pyssl_load_dh_params", "RAND_bytes", "RAND_add", "RAND_status",
    NULL
};

static int pyssl_releases_gil(const char *wrapper)
{
    const char *const *name;
    const char prefix[] = "_cffi_f_";
    if (strncmp(wrapper, prefix, sizeof(prefix) - 1) != 0)
        return 1;
    for (name = pyssl_gil_releasing; *name != NULL; name++)
        if (strcmp(wrapper + sizeof(prefix) - 1, *name) == 0)
            return 1;
    return 0;
}

#undef Py_BEGIN_ALLOW_THREADS
#undef Py_END_ALLOW_THREADS
#define Py_BEGIN_ALLOW_THREADS \
    { \
        static int pyssl_release_gil_ = -1; \
        PyThreadState *_save = NULL; \
        if (pyssl_release_gil_ < 0) \
            pyssl_release_gil_ = pyssl_releases_gil(__func__); \
        if (pyssl_release_gil_) \
            _save = PyEval_SaveThread();
#define Py_END_ALLOW_THREADS \
        if (_save != NULL) \
            PyEval_RestoreThread(_save); \
    }

typedef STACK_OF(X509) STACK_OF_X509;
typedef STACK_OF(X509_NAME) STACK_OF_X509_NAME;
typedef STACK_OF(X509_OBJECT) STACK_OF_X509_OBJECT;
typedef STACK_OF(SSL_CIPHER) STACK_OF_SSL_CIPHER;

#ifdef OPENSSL_NO_NEXTPROTONEG
static const int PYSSL_HAS_NPN = 0;
#else
static const int PYSSL_HAS_NPN = 1;
#endif
#if defined(OPENSSL_NO_SSL3) || defined(OPENSSL_NO_SSL3_METHOD)
static const int PYSSL_HAS_SSLv3 = 0;
#else
static const int PYSSL_HAS_SSLv3 = 1;
#endif
#if defined(OPENSSL_NO_TLS1) || defined(OPENSSL_NO_TLS1_METHOD)
static const int PYSSL_HAS_TLSv1 = 0;
#else
static const int PYSSL_HAS_TLSv1 = 1;
#endif
#if defined(OPENSSL_NO_TLS1_1) || defined(OPENSSL_NO_TLS1_1_METHOD)
static const int PYSSL_HAS_TLSv1_1 = 0;
#else
static const int PYSSL_HAS_TLSv1_1 = 1;
#endif
#if defined(OPENSSL_NO_TLS1_2) || defined(OPENSSL_NO_TLS1_2_METHOD)
static const int PYSSL_HAS_TLSv1_2 = 0;
#else
static const int PYSSL_HAS_TLSv1_2 = 1;
#endif
#ifdef OPENSSL_NO_TLS1_3
static const int PYSSL_HAS_TLSv1_3 = 0;
#else
static const int PYSSL_HAS_TLSv1_3 = 1;
#endif
#ifdef OPENSSL_NO_PSK
static const int PYSSL_HAS_PSK = 0;
#else
static const int PYSSL_HAS_PSK = 1;
#endif
#ifdef OPENSSL_NO_EC
static const int PYSSL_HAS_ECDH = 0;
#else
static const int PYSSL_HAS_ECDH = 1;
#endif

#ifdef _WIN32
#define PYSSL_GET_SOCKET_ERRNO() WSAGetLastError()
#define PYSSL_CLEAR_SOCKET_ERRNO() (WSASetLastError(0), errno = 0)
#else
#define PYSSL_GET_SOCKET_ERRNO() errno
#define PYSSL_CLEAR_SOCKET_ERRNO() (errno = 0)
#endif

/* The fixed-version methods behind PROTOCOL_TLSv1 ... PROTOCOL_TLSv1_2.
 * They are deprecated (and absent from builds without deprecated APIs):
 * NULL then, which the caller reports as an unsupported protocol. */
static const SSL_METHOD *pyssl_fixed_version_method(int version)
{
    switch (version) {
#if !defined(OPENSSL_NO_DEPRECATED_1_1_0)
#if !defined(OPENSSL_NO_TLS1) && !defined(OPENSSL_NO_TLS1_METHOD)
    case TLS1_VERSION: return TLSv1_method();
#endif
#if !defined(OPENSSL_NO_TLS1_1) && !defined(OPENSSL_NO_TLS1_1_METHOD)
    case TLS1_1_VERSION: return TLSv1_1_method();
#endif
#if !defined(OPENSSL_NO_TLS1_2) && !defined(OPENSSL_NO_TLS1_2_METHOD)
    case TLS1_2_VERSION: return TLSv1_2_method();
#endif
#endif
    default: return NULL;
    }
}

/* ---- handshake tracking ------------------------------------------------ */

/* What the getters report (version, cipher, ALPN, the peer's certificate)
 * is settled by handshakes: the first one, TLS 1.2 renegotiations and
 * TLS 1.3 post-handshake authentication, and the later ones run inside a
 * read or a write. An info callback counts the starts and ends of
 * handshakes in the SSL's ex_data, and the I/O helpers report a change of
 * that count with PYSSL_HANDSHAKE_SEEN, so that Python can keep those
 * values and drop them exactly when they may have changed, with no C call
 * per getter. */
#define PYSSL_HANDSHAKE_SEEN 0x100

/* A WANT_* result is no error: leave nothing in the thread's error queue
 * (a later call's SSL_get_error() would mistake it for its own failure),
 * so that Python does not have to clear it. */
#define PYSSL_CLEAR_IF_WANT(err) \
    do { \
        if (((err) == SSL_ERROR_WANT_READ || (err) == SSL_ERROR_WANT_WRITE) && ERR_peek_error()) \
            ERR_clear_error(); \
    } while (0)
static int pyssl_handshakes_index = -1;

static int pyssl_init_handshake_tracking(void)
{
    if (pyssl_handshakes_index < 0)
        pyssl_handshakes_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return pyssl_handshakes_index;
}

#define PYSSL_HANDSHAKES(ssl) SSL_get_ex_data((ssl), pyssl_handshakes_index)

static void pyssl_count_handshakes(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if (where & (SSL_CB_HANDSHAKE_START | SSL_CB_HANDSHAKE_DONE)) {
        uintptr_t count = (uintptr_t)PYSSL_HANDSHAKES(ssl);
        SSL_set_ex_data((SSL *)ssl, pyssl_handshakes_index, (void *)(count + 1));
    }
}

/* ---- a new connection -------------------------------------------------- */

/* Every call from Python releases and takes back the GIL, and so lets other
 * threads in between: a server thread and its clients would take turns at
 * each step of setting up a connection. So the steps every connection
 * takes are one call. key goes in ex_data slot key_index (the Python
 * object's registry key); fd < 0 means no socket (memory BIOs). Returns
 * NULL with the error queued. */
static SSL *pyssl_new_ssl(SSL_CTX *ctx, int key_index, void *key, int server_side, int fd,
                          const unsigned char *sid_ctx, unsigned int sid_ctx_len)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL)
        return NULL;
    if (!SSL_set_ex_data(ssl, key_index, key))
        goto fail;
    SSL_set_info_callback(ssl, pyssl_count_handshakes);
    /* Retrying a write may pass the same bytes from another address. */
    SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY);
    if (fd >= 0 && !SSL_set_fd(ssl, fd))
        goto fail;
    if (server_side) {
        if (!SSL_set_session_id_context(ssl, sid_ctx, sid_ctx_len))
            goto fail;
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
    }
    return ssl;
fail:
    SSL_free(ssl);
    return NULL;
}

/* The socket under a connection is being closed, maybe while a read or
 * write in another thread is inside OpenSSL. The connection's socket BIO
 * keeps the descriptor number, which the system gives to the next socket
 * opened: from now on the BIO uses no descriptor, so that such a call
 * fails (EBADF) instead of going on with somebody else's connection. */
static void pyssl_forget_fd(SSL *ssl)
{
    BIO *bio = SSL_get_rbio(ssl);
    if (bio != NULL && BIO_method_type(bio) == BIO_TYPE_SOCKET)
        BIO_set_fd(bio, -1, BIO_NOCLOSE);
}

/* The server name of a client connection: sent with SNI when it is a host
 * name (RFC 6066 3: never an address), and, when check is set, the name
 * or the address (matched as an address) that OpenSSL verifies the peer's
 * certificate against. Returns 0 with the error queued. */
static int pyssl_set_server_name(SSL *ssl, const char *name, int check)
{
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(name);
    int ok = 1;
    if (ip == NULL) {
        ERR_clear_error();
        if (!SSL_set_tlsext_host_name(ssl, name))
            return 0;
        if (check)
            ok = X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), name, strlen(name));
    } else {
        if (check)
            ok = X509_VERIFY_PARAM_set1_ip(SSL_get0_param(ssl), ASN1_STRING_get0_data(ip),
                                           (size_t)ASN1_STRING_length(ip));
        ASN1_OCTET_STRING_free(ip);
    }
    return ok;
}

/* ---- I/O: one C call per operation ------------------------------------ */

/* Each helper returns SSL_ERROR_NONE on success; otherwise the
 * SSL_get_error() code, with status[0] = errno (the socket error on
 * Windows) and status[1] = the OpenSSL call's own return value, which
 * tells an I/O error (-1) from an EOF (0) for SSL_do_handshake() and
 * SSL_shutdown(); the _ex calls return 0 for both. The read and write
 * helpers add PYSSL_HANDSHAKE_SEEN to the code when a handshake started
 * or ended during the call. */
/* The result of SSL_read_ex()/SSL_write_ex() (ok: their return value) as
 * the helpers report it. */
static int pyssl_io_result(SSL *ssl, int ok, size_t *count, int *status, void *handshakes_before)
{
    int err = SSL_ERROR_NONE;
    if (ok != 1) {
        err = SSL_get_error(ssl, 0);
        PYSSL_CLEAR_IF_WANT(err);
        status[0] = PYSSL_GET_SOCKET_ERRNO();
        status[1] = 0;
        *count = 0;
    }
    if (PYSSL_HANDSHAKES(ssl) != handshakes_before)
        err |= PYSSL_HANDSHAKE_SEEN;
    return err;
}

static int pyssl_read(SSL *ssl, void *buf, size_t len, size_t *count, int *status)
{
    void *handshakes = PYSSL_HANDSHAKES(ssl);
    int ok;
    PYSSL_CLEAR_SOCKET_ERRNO();
    ok = SSL_read_ex(ssl, buf, len, count);
    return pyssl_io_result(ssl, ok, count, status, handshakes);
}

static int pyssl_write(SSL *ssl, const void *buf, size_t len, size_t *count, int *status)
{
    void *handshakes = PYSSL_HANDSHAKES(ssl);
    int ok;
    PYSSL_CLEAR_SOCKET_ERRNO();
    ok = SSL_write_ex(ssl, buf, len, count);
    return pyssl_io_result(ssl, ok, count, status, handshakes);
}

/* The same over memory BIOs, where nothing can block: under these names
 * cffi's wrappers keep the GIL (see pyssl_gil_releasing). */
#define pyssl_read_in_memory pyssl_read
#define pyssl_write_in_memory pyssl_write

/* The handshake and the shutdown are not hot: clear the thread's error
 * queue first, so that SSL_get_error() cannot mistake an error left by
 * unrelated code for this call's failure. */
static int pyssl_do_handshake(SSL *ssl, int *status)
{
    int ret, err;
    ERR_clear_error();
    PYSSL_CLEAR_SOCKET_ERRNO();
    ret = SSL_do_handshake(ssl);
    if (ret == 1)
        return SSL_ERROR_NONE;
    err = SSL_get_error(ssl, ret);
    PYSSL_CLEAR_IF_WANT(err);
    status[0] = PYSSL_GET_SOCKET_ERRNO();
    status[1] = ret;
    return err;
}

/* Returns SSL_shutdown()'s result (0: close_notify sent, 1: both sent and
 * received); when it is negative, *err holds the SSL_get_error() code and
 * status is filled as above. */
static int pyssl_shutdown(SSL *ssl, int *err, int *status)
{
    int ret;
    ERR_clear_error();
    PYSSL_CLEAR_SOCKET_ERRNO();
    ret = SSL_shutdown(ssl);
    if (ret < 0) {
        *err = SSL_get_error(ssl, ret);
        PYSSL_CLEAR_IF_WANT(*err);
        status[0] = PYSSL_GET_SOCKET_ERRNO();
        status[1] = ret;
    }
    return ret;
}

/* ---- memory BIOs ------------------------------------------------------- */

/* MemoryBIO.read() in one C call: move min(size, pending) bytes (all that
 * is pending when size < 0) into buf, which holds cap bytes. Returns the
 * count, or, when that is more than cap, minus the count and reads
 * nothing, so that the caller can come back with a larger buffer. */
static long pyssl_bio_drain(BIO *bio, char *buf, long cap, long size)
{
    size_t pending = BIO_ctrl_pending(bio);
    long want = (size < 0 || (size_t)size > pending) ? (long)pending : size;
    if (want > cap)
        return -want;
    if (want == 0)
        return 0;
    /* A memory BIO gives all that it holds. */
    return BIO_read(bio, buf, (int)want);
}

/* ---- the C allocator --------------------------------------------------- */

/* glibc's malloc gives memory at the top of the heap back to the system as
 * soon as more than 128 KiB of it is free, and maps blocks of 128 KiB and
 * more anew each time: a stream of 16 KiB records copied into bytes that
 * live briefly then costs a page fault per 4 KiB, a fifth of the time of
 * an asyncio transfer. glibc raises both limits by itself the first time a
 * program frees a mapped block larger than them (its dynamic mmap
 * threshold); the stdlib's _ssl happens to do so with the 256 KiB bytes it
 * makes for every read. pyssl frees one 1 MiB block instead, so that the
 * process keeps up to 2 MiB of free heap rather than unmapping it. */
static void pyssl_settle_allocator(void)
{
#ifdef __GLIBC__
    void *volatile block = malloc(1024 * 1024 + 4096);
    free(block);
#endif
}

/* ---- ALPN and NPN ------------------------------------------------------ */

/* A protocol list in wire format (length-prefixed names), owned by the
 * Python SSLContext that installed it; the context outlives its SSL_CTX's
 * use of it because every connection keeps its context alive. */
typedef struct {
    const unsigned char *data;
    unsigned int len;
} pyssl_protocols;

/* RFC 7301: the server picks the first of its own protocols that the
 * client offered; with no overlap it answers without ALPN (NOACK), and the
 * handshake goes on, as the stdlib does. */
static int pyssl_alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                const unsigned char *in, unsigned int inlen, void *arg)
{
    const pyssl_protocols *server = (const pyssl_protocols *)arg;
    if (server == NULL || server->len == 0 || inlen == 0)
        return SSL_TLSEXT_ERR_NOACK;
    if (SSL_select_next_proto((unsigned char **)out, outlen, server->data, server->len,
                              in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    return SSL_TLSEXT_ERR_OK;
}

static void pyssl_set_alpn_select(SSL_CTX *ctx, const pyssl_protocols *protocols)
{
    SSL_CTX_set_alpn_select_cb(ctx, pyssl_alpn_select_cb, (void *)protocols);
}

#ifndef OPENSSL_NO_NEXTPROTONEG
static int pyssl_npn_advertise_cb(SSL *ssl, const unsigned char **out, unsigned int *outlen,
                                  void *arg)
{
    const pyssl_protocols *protocols = (const pyssl_protocols *)arg;
    if (protocols == NULL || protocols->len == 0)
        return SSL_TLSEXT_ERR_NOACK;
    *out = protocols->data;
    *outlen = protocols->len;
    return SSL_TLSEXT_ERR_OK;
}

/* NPN (draft-agl-tls-nextprotoneg): the client chooses. With no overlap
 * SSL_select_next_proto() falls back to the client's first protocol. */
static int pyssl_npn_select_cb(SSL *ssl, unsigned char **out, unsigned char *outlen,
                               const unsigned char *in, unsigned int inlen, void *arg)
{
    const pyssl_protocols *client = (const pyssl_protocols *)arg;
    if (client == NULL || client->len == 0 || inlen == 0)
        return SSL_TLSEXT_ERR_NOACK;
    SSL_select_next_proto(out, outlen, in, inlen, client->data, client->len);
    return SSL_TLSEXT_ERR_OK;
}
#endif

/* Installs both NPN roles, as a context may serve and connect. A client
 * offers NPN only with protocols to choose from: OpenSSL ends the
 * handshake when the select callback chooses nothing. */
static int pyssl_set_npn_protocols(SSL_CTX *ctx, const pyssl_protocols *protocols)
{
#ifndef OPENSSL_NO_NEXTPROTONEG
    SSL_CTX_set_next_protos_advertised_cb(ctx, pyssl_npn_advertise_cb, (void *)protocols);
    if (protocols->len > 0)
        SSL_CTX_set_next_proto_select_cb(ctx, pyssl_npn_select_cb, (void *)protocols);
    else
        SSL_CTX_set_next_proto_select_cb(ctx, NULL, NULL);
    return 1;
#else
    return 0;
#endif
}

static void pyssl_get0_npn_negotiated(const SSL *ssl, const unsigned char **data,
                                      unsigned int *len)
{
#ifndef OPENSSL_NO_NEXTPROTONEG
    SSL_get0_next_proto_negotiated(ssl, data, len);
#else
    *data = NULL;
    *len = 0;
#endif
}

/* ---- throwaway certificates ------------------------------------------- */

/* Writes a fresh key and a self-signed certificate for `common_name` (also
 * its DNS subjectAltName), PEM-encoded, key first, into `out`. key_type is
 * "rsa" (2048 bits) or "ec" (P-256). For `python -m pyssl`'s loopback
 * handshake and the benchmark, which must run where no certificate tools
 * are installed. Returns 1 on success, 0 with the error queue set. */
static int pyssl_make_self_signed(const char *key_type, const char *common_name, BIO *out)
{
    EVP_PKEY *pkey = NULL;
    X509 *x509 = NULL;
    X509_EXTENSION *ext = NULL;
    X509_NAME *name;
    char san[512];
    int ok = 0;

    if (strlen(common_name) > sizeof(san) - 5)
        return 0;
    pkey = strcmp(key_type, "rsa") == 0 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    if (pkey == NULL || (x509 = X509_new()) == NULL)
        goto done;
    if (!X509_set_version(x509, 2)
        || !ASN1_INTEGER_set(X509_get_serialNumber(x509), 1)
        || !X509_gmtime_adj(X509_getm_notBefore(x509), -3600)
        || !X509_gmtime_adj(X509_getm_notAfter(x509), 30L * 24 * 3600)
        || !X509_set_pubkey(x509, pkey))
        goto done;
    name = X509_get_subject_name(x509);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)common_name, -1, -1, 0)
        || !X509_set_issuer_name(x509, name))
        goto done;
    snprintf(san, sizeof(san), "DNS:%s", common_name);
    ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
    if (ext == NULL || !X509_add_ext(x509, ext, -1))
        goto done;
    if (!X509_sign(x509, pkey, EVP_sha256()))
        goto done;
    ok = PEM_write_bio_PrivateKey(out, pkey, NULL, NULL, 0, NULL, NULL)
         && PEM_write_bio_X509(out, x509);
done:
    X509_EXTENSION_free(ext);
    X509_free(x509);
    EVP_PKEY_free(pkey);
    return ok;
}

/* ---- Diffie-Hellman parameters ----------------------------------------- */

/* Loads PEM "DH PARAMETERS" into the context. The DH-specific reader gives
 * the errors users of load_dh_params() expect (PEM: NO_START_LINE for a
 * file of something else); builds without deprecated APIs fall back to
 * the generic decoder. Returns 1 on success. */
static int pyssl_load_dh_params(SSL_CTX *ctx, BIO *bio)
{
#ifndef OPENSSL_NO_DEPRECATED_3_0
    int ok;
    DH *dh = PEM_read_bio_DHparams(bio, NULL, NULL, NULL);
    if (dh == NULL)
        return 0;
    ok = (int)SSL_CTX_set_tmp_dh(ctx, dh);
    DH_free(dh);
    return ok;
#else
    EVP_PKEY *pkey = PEM_read_bio_Parameters(bio, NULL);
    if (pkey == NULL)
        return 0;
    if (SSL_CTX_set0_tmp_dh_pkey(ctx, pkey) != 1) {
        EVP_PKEY_free(pkey);
        return 0;
    }
    return 1;
#endif
}
