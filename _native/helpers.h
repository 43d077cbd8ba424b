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
#else
#include <unistd.h>
#endif

/* ---- the GIL ---------------------------------------------------------- */

/* cffi releases the GIL around every call it wraps. For a call that takes
 * nanoseconds that costs more than the call, and, worse, lets another
 * thread take the GIL, which this one then waits to get back: a server
 * thread and its clients would hand the GIL to each other at every step.
 * Like the stdlib's _ssl, pyssl releases it only where OpenSSL may block
 * on I/O or work for long: the I/O helpers, loading files, making contexts
 * and keys. Unlike _ssl it keeps it while a connection is made
 * (pyssl_new_ssl): let go there, it goes to the peer thread of a loopback
 * handshake, which holds it for longer than SSL_new takes, and the new
 * connection waits to get it back. It lets go where _ssl does not: while a
 * socket's SSL* is freed on close, just when the peer thread, woken by the
 * last record, wants it; the peer then runs at once instead of waking to
 * find the GIL taken, a thread switch fewer per handshake.
 *
 * cffi has no setting for this: its wrappers release the GIL around every
 * call. What follows relies on the C it generates for each function of the
 * cdef, as cffi 1.0 wrote it and the releases pyproject.toml allows do:
 *
 *     static PyObject *
 *     _cffi_f_<name>(PyObject *self, PyObject *args)
 *     {
 *       ... the arguments converted ...
 *       Py_BEGIN_ALLOW_THREADS
 *       _cffi_restore_errno();
 *       { result = <name>(x0, ...); }
 *       _cffi_save_errno();
 *       Py_END_ALLOW_THREADS
 *       ...
 *     }
 *
 * that is: the wrappers come after this file (set_source()'s text goes
 * between cffi's own definitions and them), so the macros defined here are
 * the ones they use; the errno calls are inside the block; and __func__
 * names the wrapper, so each asks once, by its own name, whether it
 * releases. _native/build.py checks that shape in the generated C before
 * it is compiled, and refuses to build otherwise: a cffi that changed it
 * would otherwise silently release the GIL everywhere, or nowhere, or
 * lose errno. tests/test_cffi_hooks.py checks the compiled result. */
static const char *const pyssl_gil_releasing[] = {
    "pyssl_read", "pyssl_write", "pyssl_do_handshake", "pyssl_shutdown",
    "SSL_CTX_new", "SSL_CTX_free", "SSL_CTX_load_verify_locations",
    "SSL_CTX_set_default_verify_paths", "SSL_CTX_use_certificate_chain_file",
    "SSL_CTX_use_PrivateKey_file", "SSL_CTX_check_private_key", "BIO_new_file",
    "PEM_read_bio_X509", "PEM_read_bio_X509_AUX", "d2i_X509_bio", "pyssl_make_self_signed",
    "pyssl_load_dh_params", "RAND_bytes", "RAND_add", "RAND_status",
    "pyssl_use_certificate_chain_bio", "pyssl_use_private_key_bio",
    "pyssl_store_objects",
    "pyssl_read_early_data", "pyssl_write_early_data", "pyssl_free_socket_ssl", "pyssl_free_ssl_and_close",
    "pyssl_trust_read_file", "pyssl_trust_read_data", "pyssl_trust_source_decode", "pyssl_trust_pending",
    "pyssl_trust_materialize",
    "pyssl_sendfile",
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

/* cffi also moves errno between C and ffi.errno around every call, through
 * its thread state. pyssl reads ffi.errno only after the calls that load
 * files, which are among those that release the GIL: only those keep it
 * (the wrappers call these inside the block above). cffi's own macros for
 * it are called through functions made here, before they are redefined,
 * so that pyssl does not depend on how they reach cffi's backend. */
#if !defined(_cffi_restore_errno) || !defined(_cffi_save_errno)
#error "pyssl: cffi's errno macros are not defined ahead of pyssl's C helpers: this cffi generates C that pyssl does not support (see _native/build.py)"
#endif
static void pyssl_cffi_restore_errno(void)
{
    _cffi_restore_errno();
}

static void pyssl_cffi_save_errno(void)
{
    _cffi_save_errno();
}

#undef _cffi_restore_errno
#undef _cffi_save_errno
#define _cffi_restore_errno() \
    do { \
        if (pyssl_release_gil_) \
            pyssl_cffi_restore_errno(); \
    } while (0)
#define _cffi_save_errno() \
    do { \
        if (pyssl_release_gil_) \
            pyssl_cffi_save_errno(); \
    } while (0)

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
/* TLS 1.3 post-handshake client authentication, and external PSKs in
 * TLS 1.3 (RFC 9258): OpenSSL has both wherever it has TLS 1.3 (and PSKs);
 * libraries that leave them out say so with these macros. */
#if defined(OPENSSL_NO_TLS1_3) || defined(OPENSSL_NO_TLS_PHA)
static const int PYSSL_HAS_PHA = 0;
#else
static const int PYSSL_HAS_PHA = 1;
#endif
#if defined(OPENSSL_NO_TLS1_3) || defined(OPENSSL_NO_PSK) || defined(OPENSSL_NO_EXTERNAL_PSK_TLS13)
static const int PYSSL_HAS_PSK_TLS13 = 0;
#else
static const int PYSSL_HAS_PSK_TLS13 = 1;
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

/* A connection's I/O state, allocated once per connection by Python
 * (two of them: one for reads, one for writes; see pyssl_new_ssl): the
 * read and write helpers take it as one argument instead of three (cffi
 * converts each argument of each call), and report the count in their
 * result. status[0] = errno (the socket error on Windows) and status[1] =
 * the OpenSSL call's own return value, which tells an I/O error (-1) from
 * an EOF (0) for SSL_do_handshake() and SSL_shutdown(); the _ex calls
 * return 0 for both. */
typedef struct {
    SSL *ssl;
    size_t count;
    int status[2];
} pyssl_io;

/* ---- a new connection -------------------------------------------------- */

/* The ex_data slot of an SSL* that holds its Python object's handle
 * (Connection.__init__ says what it is). Made once, on import. */
static int pyssl_connection_index = -1;

static int pyssl_connection_ex_index(void)
{
    if (pyssl_connection_index < 0)
        pyssl_connection_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return pyssl_connection_index;
}

/* A server resumes only sessions made in its own session id context:
 * pyssl's, under the verify mode the connection has now (none, optional,
 * required). A session made while the server asked for no certificate,
 * or let a client go without one, is not resumed once it requires one:
 * resuming would skip the check. */
static const unsigned char pyssl_session_id_context[] = "pyssl-verify-";

static int pyssl_set_session_id_context(SSL *ssl)
{
    unsigned char id[sizeof(pyssl_session_id_context)];
    int mode = SSL_get_verify_mode(ssl) & (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
    memcpy(id, pyssl_session_id_context, sizeof(id) - 1);
    id[sizeof(id) - 1] = (unsigned char)('0' + mode);
    return SSL_set_session_id_context(ssl, id, sizeof(id));
}

/* The steps every connection takes, in one call from Python instead of a
 * dozen: each call costs cffi's argument conversion. key goes in the
 * connection ex_data slot; fd < 0 means no socket (memory BIOs). Returns
 * NULL with the error queued. */
static SSL *pyssl_new_ssl(SSL_CTX *ctx, void *key, int server_side, int fd, pyssl_io *io)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL)
        return NULL;
    if (!SSL_set_ex_data(ssl, pyssl_connection_ex_index(), key))
        goto fail;
    SSL_set_info_callback(ssl, pyssl_count_handshakes);
    /* Retrying a write may pass the same bytes from another address. */
    SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY);
    if (fd >= 0 && !SSL_set_fd(ssl, fd))
        goto fail;
    if (server_side) {
        if (!pyssl_set_session_id_context(ssl))
            goto fail;
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
    }
    /* Each direction has its own out-parameters: a read's results never
     * land in a write's. (Two calls on one SSL at once are outside
     * OpenSSL's rules all the same: docs/hardening.md, "Threads".) */
    io[0].ssl = io[1].ssl = ssl;
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

/* SSL_free for a connection over a socket: the same call under another
 * name, so that it releases the GIL (see pyssl_gil_releasing). Over memory
 * BIOs SSL_free keeps it, as every call there does: an event loop closing a
 * connection must not hand the GIL to a busy thread. */
static void pyssl_free_socket_ssl(SSL *ssl)
{
    SSL_free(ssl);
}

/* Closing an SSLSocket that nothing else uses: SSL_free and the close of
 * its descriptor in one call, so that the GIL is released once, as the
 * stdlib's close does. Each release lets a waiting thread take the GIL,
 * which the closing thread then waits to get back: with a client and a
 * server thread in one process, a second release per close would add a
 * thread switch to every handshake. 0, or the close's error (ECONNRESET is none:
 * socket.close() ignores it too). */
static int pyssl_free_ssl_and_close(SSL *ssl, int fd)
{
    SSL_free(ssl);
    if (fd < 0)
        return 0;
#ifdef _WIN32
    if (closesocket((SOCKET)fd) != 0 && WSAGetLastError() != WSAECONNRESET)
        return WSAGetLastError();
#else
    if (close(fd) != 0 && errno != ECONNRESET)
        return errno;
#endif
    return 0;
}

/* A connection over two memory BIOs. SSL_set_bio takes over one reference
 * of each, and only one when both are the same BIO; the MemoryBIO objects
 * keep their own. */
static void pyssl_use_bios(SSL *ssl, BIO *incoming, BIO *outgoing)
{
    BIO_up_ref(incoming);
    if (outgoing != incoming)
        BIO_up_ref(outgoing);
    SSL_set_bio(ssl, incoming, outgoing);
}

/* A MemoryBIO's buffer. An empty one is not the end of the stream: OpenSSL
 * is told to retry later (mem_eof_return -1) until write_eof(). NULL with
 * the error queued. */
static BIO *pyssl_new_memory_bio(void)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL)
        return NULL;
    BIO_set_retry_read(bio);
    BIO_set_mem_eof_return(bio, -1);
    return bio;
}

/* The server name of a client connection: sent with SNI when it is a host
 * name (RFC 6066 3: never an address), and, when check is set, what OpenSSL
 * verifies the peer's certificate against: the host name, or the address
 * (ip, iplen: its packed bytes) for a name that is exactly an IP address.
 * Python decides which (a2i_IPADDRESS() would also read "127.0.0.1 x" as an
 * address). Returns 0 with the error queued. */
static int pyssl_set_server_name(SSL *ssl, const char *name, const unsigned char *ip,
                                 size_t iplen, int check)
{
    if (ip != NULL)
        return !check || X509_VERIFY_PARAM_set1_ip(SSL_get0_param(ssl), ip, iplen);
    if (!SSL_set_tlsext_host_name(ssl, name))
        return 0;
    return !check || X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), name, strlen(name));
}

/* ---- I/O: one C call per operation ------------------------------------ */

/* The read and write helpers return the byte count when the call simply
 * succeeded. Otherwise they return minus the SSL_get_error() code, with
 * PYSSL_HANDSHAKE_SEEN added when a handshake started or ended during
 * the call (then also on success, with the count in io->count). The
 * result is a ssize_t, as wide as the size_t count, as the stdlib counts:
 * a long is narrower on 64-bit Windows, where a large write would be
 * reported as a failure after it was sent, or its count would wrap and
 * sendall() send data again. */
static ssize_t pyssl_io_result(pyssl_io *io, int ok, void *handshakes_before)
{
    SSL *ssl = io->ssl;
    int err = SSL_ERROR_NONE;
    if (ok != 1) {
        err = SSL_get_error(ssl, 0);
        PYSSL_CLEAR_IF_WANT(err);
        io->status[0] = PYSSL_GET_SOCKET_ERRNO();
        io->status[1] = 0;
        io->count = 0;
    }
    if (PYSSL_HANDSHAKES(ssl) != handshakes_before)
        err |= PYSSL_HANDSHAKE_SEEN;
    return err == SSL_ERROR_NONE ? (ssize_t)io->count : -(ssize_t)err;
}

static ssize_t pyssl_read(pyssl_io *io, void *buf, size_t len)
{
    void *handshakes = PYSSL_HANDSHAKES(io->ssl);
    int ok;
    PYSSL_CLEAR_SOCKET_ERRNO();
    ok = SSL_read_ex(io->ssl, buf, len, &io->count);
    return pyssl_io_result(io, ok, handshakes);
}

static ssize_t pyssl_write(pyssl_io *io, const void *buf, size_t len)
{
    void *handshakes = PYSSL_HANDSHAKES(io->ssl);
    int ok;
    PYSSL_CLEAR_SOCKET_ERRNO();
    ok = SSL_write_ex(io->ssl, buf, len, &io->count);
    return pyssl_io_result(io, ok, handshakes);
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

/* ---- the C allocator --------------------------------------------------- */

/* glibc's malloc gives memory at the top of the heap back to the system as
 * soon as more than 128 KiB of it is free, and maps blocks of 128 KiB and
 * more anew each time: a stream of 16 KiB records copied into bytes that
 * live briefly then costs a page fault per 4 KiB, which weighs on every
 * asyncio transfer. glibc raises both limits by itself the first time a
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
 * Python SSLContext that installed it, which keeps every list it has
 * installed while it lives: a handshake in another thread may still read
 * one that was replaced. The context outlives its SSL_CTX's use of them
 * because every connection keeps its context alive. */
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

/* ---- certificates and keys from memory --------------------------------- */

#include <openssl/decoder.h>

/* What SSL_CTX_use_certificate_chain_file() does with a file, done with the
 * bytes in `in`: the first certificate becomes the context's certificate,
 * the ones after it its chain. PEM is read with the context's password
 * callback, as from a file, and fails with the same errors; with `der` set,
 * `in` holds DER certificates one after another. Returns 1, or 0 with the
 * error queued. */
static int pyssl_use_certificate_chain_bio(SSL_CTX *ctx, BIO *in, int der)
{
    pem_password_cb *cb = SSL_CTX_get_default_passwd_cb(ctx);
    void *u = SSL_CTX_get_default_passwd_cb_userdata(ctx);
    X509 *cert;
    unsigned long err;
    int ok;

    ERR_clear_error();
    cert = der ? d2i_X509_bio(in, NULL) : PEM_read_bio_X509_AUX(in, NULL, cb, u);
    if (cert == NULL) {
        ERR_raise(ERR_LIB_SSL, der ? ERR_R_ASN1_LIB : ERR_R_PEM_LIB);
        return 0;
    }
    ok = SSL_CTX_use_certificate(ctx, cert);
    X509_free(cert);
    /* A key that does not match the certificate is dropped with an error
     * left in the queue, though the call succeeds. */
    if (!ok || ERR_peek_error() != 0 || !SSL_CTX_clear_chain_certs(ctx))
        return 0;
    for (;;) {
        if (der && BIO_ctrl_pending(in) == 0)
            return 1;
        cert = der ? d2i_X509_bio(in, NULL) : PEM_read_bio_X509(in, NULL, cb, u);
        if (cert == NULL)
            break;
        if (!SSL_CTX_add0_chain_cert(ctx, cert)) {
            X509_free(cert);
            return 0;
        }
    }
    if (der)
        return 0;  /* DER that is not a certificate */
    /* PEM input ends with "no start line"; any other error is bad data. */
    err = ERR_peek_last_error();
    if (err == 0 || (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE)) {
        ERR_clear_error();
        return 1;
    }
    return 0;
}

/* A private key in DER: PKCS#8, encrypted PKCS#8 (decrypted with cb) or the
 * key type's own structure. */
static EVP_PKEY *pyssl_read_der_key(BIO *in, pem_password_cb *cb, void *u)
{
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", NULL, NULL,
                                                           EVP_PKEY_KEYPAIR, NULL, NULL);
    if (dctx == NULL)
        return NULL;
    /* Without a callback OpenSSL prompts on the terminal, as for PEM. */
    if (!OSSL_DECODER_CTX_set_pem_password_cb(dctx, cb != NULL ? cb : PEM_def_callback, u)
        || !OSSL_DECODER_from_bio(dctx, in)) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    OSSL_DECODER_CTX_free(dctx);
    return pkey;
}

/* What SSL_CTX_use_PrivateKey_file() does with a PEM file, done with the
 * PEM (or, with `der` set, DER) bytes in `in`, with the same errors.
 * Returns 1, or 0 with the error queued. */
static int pyssl_use_private_key_bio(SSL_CTX *ctx, BIO *in, int der)
{
    pem_password_cb *cb = SSL_CTX_get_default_passwd_cb(ctx);
    void *u = SSL_CTX_get_default_passwd_cb_userdata(ctx);
    EVP_PKEY *pkey;
    int ok;

    pkey = der ? pyssl_read_der_key(in, cb, u) : PEM_read_bio_PrivateKey(in, NULL, cb, u);
    if (pkey == NULL) {
        ERR_raise(ERR_LIB_SSL, der ? ERR_R_ASN1_LIB : ERR_R_PEM_LIB);
        return 0;
    }
    ok = SSL_CTX_use_PrivateKey(ctx, pkey);
    EVP_PKEY_free(pkey);
    return ok;
}

/* ---- the trust store ---------------------------------------------------- */

/* A copy of the objects of the context's trust store, each holding its own
 * reference to its certificate or CRL; NULL when out of memory. The store
 * is shared: a handshake in another thread that finds a CA in a capath
 * directory adds it, as load_verify_locations() does, and the list of
 * objects may then move in memory. So it is read only under the store's
 * lock, as OpenSSL 3.3's X509_STORE_get1_objects() reads it, and what the
 * caller walks is the copy. Listed in pyssl_gil_releasing: it may wait for
 * that lock, which those threads hold without the GIL. */
#if OPENSSL_VERSION_NUMBER < 0x30300000L
static X509_OBJECT *pyssl_x509_object_dup(const X509_OBJECT *obj)
{
    X509_OBJECT *copy = X509_OBJECT_new();
    int ok = 1;
    if (copy == NULL)
        return NULL;
    switch (X509_OBJECT_get_type(obj)) {
    case X509_LU_X509:
        ok = X509_OBJECT_set1_X509(copy, X509_OBJECT_get0_X509(obj));
        break;
    case X509_LU_CRL:
        ok = X509_OBJECT_set1_X509_CRL(copy, X509_OBJECT_get0_X509_CRL(obj));
        break;
    default:
        /* Left empty: the caller counts certificates and CRLs only. */
        break;
    }
    if (!ok) {
        X509_OBJECT_free(copy);
        return NULL;
    }
    return copy;
}
#endif

static STACK_OF_X509_OBJECT *pyssl_store_objects(SSL_CTX *ctx)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
#if OPENSSL_VERSION_NUMBER >= 0x30300000L
    return X509_STORE_get1_objects(store);
#else
    STACK_OF(X509_OBJECT) *copy;
    if (!X509_STORE_lock(store))
        return NULL;
    copy = sk_X509_OBJECT_deep_copy(X509_STORE_get0_objects(store), pyssl_x509_object_dup,
                                    X509_OBJECT_free);
    X509_STORE_unlock(store);
    return copy;
#endif
}

static void pyssl_free_store_objects(STACK_OF_X509_OBJECT *objects)
{
    sk_X509_OBJECT_pop_free(objects, X509_OBJECT_free);
}

/* ---- OCSP stapling ------------------------------------------------------ */

#ifndef OPENSSL_NO_OCSP
#include <openssl/ocsp.h>
static const int PYSSL_HAS_OCSP = 1;
#else
static const int PYSSL_HAS_OCSP = 0;
#endif

/* A server's staple for this connection: OpenSSL frees what it is given,
 * so it gets a copy. Returns 1, or 0 when out of memory. */
static int pyssl_staple_ocsp_response(SSL *ssl, const unsigned char *data, long len)
{
#ifndef OPENSSL_NO_OCSP
    unsigned char *copy = OPENSSL_malloc(len);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, len);
    if (!SSL_set_tlsext_status_ocsp_resp(ssl, copy, len)) {
        OPENSSL_free(copy);
        return 0;
    }
    return 1;
#else
    return 0;
#endif
}

/* What the OCSP response the server stapled says of its certificate,
 * checked against the chain OpenSSL verified (the status callback runs
 * after the server's certificate was verified: after ServerHelloDone in
 * TLS 1.2, after the server's Finished in TLS 1.3): X509_V_OK when it is
 * good or nothing was stapled, X509_V_ERR_CERT_REVOKED when revoked,
 * X509_V_ERR_OCSP_CERT_UNKNOWN when the responder does not know it, and
 * X509_V_ERR_OCSP_VERIFY_FAILED for a response that cannot be trusted: not
 * DER, not successful, not signed by the issuer or a responder it
 * delegated to, out of date, or about another certificate. Leaves the
 * error queue empty. */
static int pyssl_check_ocsp_response(SSL *ssl)
{
#ifndef OPENSSL_NO_OCSP
    const unsigned char *data = NULL;
    long len = SSL_get_tlsext_status_ocsp_resp(ssl, &data);
    STACK_OF(X509) *chain = SSL_get0_verified_chain(ssl);
    OCSP_RESPONSE *response = NULL;
    OCSP_BASICRESP *basic = NULL;
    OCSP_CERTID *id = NULL;
    ASN1_GENERALIZEDTIME *this_update, *next_update;
    X509 *leaf, *issuer;
    int status, reason, result = X509_V_ERR_OCSP_VERIFY_FAILED;

    if (data == NULL || len <= 0)
        return X509_V_OK;
    if (chain == NULL || sk_X509_num(chain) == 0)
        goto done;
    leaf = sk_X509_value(chain, 0);
    /* A self-signed server certificate is its own issuer. */
    issuer = sk_X509_num(chain) > 1 ? sk_X509_value(chain, 1) : leaf;
    response = d2i_OCSP_RESPONSE(NULL, &data, len);
    if (response == NULL || OCSP_response_status(response) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
        goto done;
    basic = OCSP_response_get1_basic(response);
    if (basic == NULL
        || OCSP_basic_verify(basic, chain, SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl)), 0) <= 0)
        goto done;
    id = OCSP_cert_to_id(NULL, leaf, issuer);
    if (id == NULL
        || !OCSP_resp_find_status(basic, id, &status, &reason, NULL, &this_update, &next_update)
        /* Five minutes of leeway for clocks apart. */
        || !OCSP_check_validity(this_update, next_update, 300, -1))
        goto done;
    if (status == V_OCSP_CERTSTATUS_GOOD)
        result = X509_V_OK;
    else if (status == V_OCSP_CERTSTATUS_REVOKED)
        result = X509_V_ERR_CERT_REVOKED;
    else
        result = X509_V_ERR_OCSP_CERT_UNKNOWN;
done:
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(basic);
    OCSP_RESPONSE_free(response);
    ERR_clear_error();
    return result;
#else
    return X509_V_OK;
#endif
}
/* ---- TLS 1.3 early data ------------------------------------------------ */

#ifdef OPENSSL_NO_TLS1_3
static const int PYSSL_HAS_EARLY_DATA = 0;
#else
static const int PYSSL_HAS_EARLY_DATA = 1;
#endif

/* SSL_read_early_data() and SSL_write_early_data() in the form of the I/O
 * helpers above: SSL_ERROR_NONE or the SSL_get_error() code, with errno
 * and the return value in status. Reading returns SSL_ERROR_NONE with
 * *count == 0 once no more early data can come (SSL_READ_EARLY_DATA_FINISH,
 * which leaves *count at 0): the client sent none, the server rejected it,
 * or it has all been read. Both start or continue the handshake, so, like
 * the handshake helper, they clear the thread's error queue first. */
static int pyssl_early_data_error(SSL *ssl, size_t *count, int *status)
{
    int err = SSL_get_error(ssl, 0);
    PYSSL_CLEAR_IF_WANT(err);
    status[0] = PYSSL_GET_SOCKET_ERRNO();
    status[1] = 0;
    *count = 0;
    return err;
}

static int pyssl_read_early_data(SSL *ssl, void *buf, size_t len, size_t *count, int *status)
{
    int ret;
    ERR_clear_error();
    PYSSL_CLEAR_SOCKET_ERRNO();
    ret = SSL_read_early_data(ssl, buf, len, count);
    if (ret == SSL_READ_EARLY_DATA_SUCCESS)
        return SSL_ERROR_NONE;
    if (ret == SSL_READ_EARLY_DATA_FINISH) {
        *count = 0;
        return SSL_ERROR_NONE;
    }
    return pyssl_early_data_error(ssl, count, status);
}

static int pyssl_write_early_data(SSL *ssl, const void *buf, size_t len, size_t *count,
                                  int *status)
{
    ERR_clear_error();
    PYSSL_CLEAR_SOCKET_ERRNO();
    if (SSL_write_early_data(ssl, buf, len, count) == 1)
        return SSL_ERROR_NONE;
    return pyssl_early_data_error(ssl, count, status);
}

/* Over memory BIOs: the same, keeping the GIL (see pyssl_gil_releasing). */
#define pyssl_read_early_data_in_memory pyssl_read_early_data
#define pyssl_write_early_data_in_memory pyssl_write_early_data

/* ---- key exchange groups ------------------------------------------------ */

/* Whether OpenSSL can list the groups it implements (3.5), decided by the
 * headers the binding is compiled against; Python raises
 * NotImplementedError without, as the stdlib does with the same library. */
#if OPENSSL_VERSION_NUMBER >= 0x30500000L
static const int PYSSL_HAS_IMPLEMENTED_GROUPS = 1;
#else
static const int PYSSL_HAS_IMPLEMENTED_GROUPS = 0;
#endif

/* The TLS name of the group the key exchange used ("x25519",
 * "X25519MLKEM768"), or NULL: no handshake yet, or one without a group (an
 * RSA key exchange). OpenSSL 3.2 names it; before, the same name comes from
 * the group's NID through SSL_group_to_name(), which reads the same table.
 * Both read the connection's session, which a connection whose handshake
 * has not started has not got yet (and 3.0 does not check). */
static const char *pyssl_group_name(SSL *ssl)
{
    if (SSL_get_session(ssl) == NULL)
        return NULL;
#if OPENSSL_VERSION_NUMBER >= 0x30200000L
    return SSL_get0_group_name(ssl);
#else
    {
        int nid = (int)SSL_get_negotiated_group(ssl);
        if (nid == NID_undef)
            return NULL;
        return SSL_group_to_name(ssl, nid);
    }
#endif
}

/* The names of the groups the context can use with its protocol versions
 * (with all, their aliases too), joined with ':' (no group name has one) in
 * memory the caller frees with OPENSSL_free(). NULL with the error queued,
 * or where the library cannot list them (PYSSL_HAS_IMPLEMENTED_GROUPS). */
static char *pyssl_implemented_groups(SSL_CTX *ctx, int all)
{
#if OPENSSL_VERSION_NUMBER >= 0x30500000L
    STACK_OF(OPENSSL_CSTRING) *names = sk_OPENSSL_CSTRING_new_null();
    char *joined = NULL, *end;
    size_t size = 1;
    int i, count;

    if (names == NULL)
        return NULL;
    if (!SSL_CTX_get0_implemented_groups(ctx, all, names))
        goto done;
    count = sk_OPENSSL_CSTRING_num(names);
    for (i = 0; i < count; i++)
        size += strlen(sk_OPENSSL_CSTRING_value(names, i)) + 1;
    if ((joined = OPENSSL_malloc(size)) == NULL)
        goto done;
    end = joined;
    for (i = 0; i < count; i++) {
        const char *name = sk_OPENSSL_CSTRING_value(names, i);
        size_t len = strlen(name);
        if (i > 0)
            *end++ = ':';
        memcpy(end, name, len);
        end += len;
    }
    *end = '\0';
done:
    /* The names are the library's own constants: only the stack is freed. */
    sk_OPENSSL_CSTRING_free(names);
    return joined;
#else
    (void)ctx;
    (void)all;
    return NULL;
#endif
}

/* ---- signature algorithms ------------------------------------------------ */

/* Whether OpenSSL names the signature algorithm a handshake used (3.5) and
 * lists those it implements (3.4), decided by the headers; Python raises
 * NotImplementedError without, as the stdlib does with the same library. */
#if OPENSSL_VERSION_NUMBER >= 0x30500000L
static const int PYSSL_HAS_SIGNATURE_NAMES = 1;
#else
static const int PYSSL_HAS_SIGNATURE_NAMES = 0;
#endif
#if OPENSSL_VERSION_NUMBER >= 0x30400000L
static const int PYSSL_HAS_BUILTIN_SIGALGS = 1;
#else
static const int PYSSL_HAS_BUILTIN_SIGALGS = 0;
#endif

/* The name of the signature algorithm this end (peer = 0) or the peer
 * (peer = 1) signed the handshake with ("ecdsa_secp256r1_sha256"), or NULL
 * when that end signed nothing. Older OpenSSL only gives the hash's and
 * the key type's NIDs, which do not tell the TLS 1.3 schemes apart. */
static const char *pyssl_signature_name(SSL *ssl, int peer)
{
#if OPENSSL_VERSION_NUMBER >= 0x30500000L
    const char *name = NULL;
    int found = peer ? (int)SSL_get0_peer_signature_name(ssl, &name)
                     : (int)SSL_get0_signature_name(ssl, &name);
    return found ? name : NULL;
#else
    (void)ssl;
    (void)peer;
    return NULL;
#endif
}

/* The names of every signature algorithm the library implements, joined
 * with ':', in memory the caller frees with OPENSSL_free(); NULL when out
 * of memory or where the library cannot list them
 * (PYSSL_HAS_BUILTIN_SIGALGS). */
static char *pyssl_builtin_sigalgs(void)
{
#if OPENSSL_VERSION_NUMBER >= 0x30400000L
    return SSL_get1_builtin_sigalgs(NULL);
#else
    return NULL;
#endif
}

/* ---- kernel TLS --------------------------------------------------------- */

/* Whether this OpenSSL can hand a connection's keys to the kernel at all
 * (configured with enable-ktls); the kernel must have kTLS too. */
#ifdef OPENSSL_NO_KTLS
static const int PYSSL_HAS_KTLS = 0;
#else
static const int PYSSL_HAS_KTLS = 1;
#endif

/* Whether the kernel encrypts what this connection sends (receives): the
 * context had OP_ENABLE_KTLS, the kernel and this OpenSSL support kTLS,
 * and the negotiated cipher is one the kernel knows. */
static int pyssl_uses_ktls_send(SSL *ssl)
{
    BIO *bio = SSL_get_wbio(ssl);
    return bio != NULL && BIO_get_ktls_send(bio) == 1;
}

static int pyssl_uses_ktls_recv(SSL *ssl)
{
    BIO *bio = SSL_get_rbio(ssl);
    return bio != NULL && BIO_get_ktls_recv(bio) == 1;
}

/* SSL_sendfile() in the form of pyssl_write(): up to size bytes of the file
 * fd from offset, sent by the kernel. A sendfile() that would block is a
 * WANT_WRITE; one that failed otherwise leaves its errno in the queue. */
static long pyssl_sendfile(pyssl_io *io, int fd, int64_t offset, size_t size, int flags)
{
    void *handshakes = PYSSL_HANDSHAKES(io->ssl);
    ossl_ssize_t sent;
    PYSSL_CLEAR_SOCKET_ERRNO();
    ERR_clear_error();
    sent = SSL_sendfile(io->ssl, fd, (off_t)offset, size, flags);
    io->count = sent > 0 ? (size_t)sent : 0;
    return pyssl_io_result(io, sent >= 0, handshakes);
}
