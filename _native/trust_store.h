/* The trust store's sources: CA certificates (and CRLs) read once per
 * process and shared by every context that loads them (pyssl/_trust_store.py).
 *
 * A source holds the objects one load adds to a store, in the order the
 * load adds them, and the arrangement of a store that held nothing before
 * (what X509_STORE_add_cert/X509_STORE_add_crl leave after those adds,
 * made once by running them on a scratch store). A context's store gets
 * references to the same immutable X509 and X509_CRL objects: pushed in
 * that arrangement when the store is empty, added one by one otherwise, so
 * that the store ends exactly as the uncached load leaves it, in contents
 * and order. */

#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

typedef struct {
    STACK_OF(X509_OBJECT) *adds;
    X509_STORE *arranged;
} pyssl_trust_source;

void pyssl_trust_source_free(pyssl_trust_source *source)
{
    if (source == NULL)
        return;
    sk_X509_OBJECT_pop_free(source->adds, X509_OBJECT_free);
    X509_STORE_free(source->arranged);
    OPENSSL_free(source);
}

static int pyssl_trust_append(STACK_OF(X509_OBJECT) *adds, X509 *cert, X509_CRL *crl)
{
    X509_OBJECT *obj = X509_OBJECT_new();
    int ok;

    if (obj == NULL)
        return 0;
    ok = cert != NULL ? X509_OBJECT_set1_X509(obj, cert) : X509_OBJECT_set1_X509_CRL(obj, crl);
    if (!ok || !sk_X509_OBJECT_push(adds, obj)) {
        X509_OBJECT_free(obj);
        return 0;
    }
    return 1;
}

static int pyssl_trust_add_one(X509_STORE *store, X509_OBJECT *obj)
{
    if (X509_OBJECT_get_type(obj) == X509_LU_X509)
        return X509_STORE_add_cert(store, X509_OBJECT_get0_X509(obj));
    return X509_STORE_add_crl(store, X509_OBJECT_get0_X509_CRL(obj));
}

/* Takes over `adds`. NULL when out of memory. */
static pyssl_trust_source *pyssl_trust_source_new(STACK_OF(X509_OBJECT) *adds)
{
    pyssl_trust_source *source = OPENSSL_zalloc(sizeof(*source));
    int i;

    if (source == NULL) {
        sk_X509_OBJECT_pop_free(adds, X509_OBJECT_free);
        return NULL;
    }
    source->adds = adds;
    source->arranged = X509_STORE_new();
    if (source->arranged == NULL)
        goto fail;
    for (i = 0; i < sk_X509_OBJECT_num(adds); i++)
        if (!pyssl_trust_add_one(source->arranged, sk_X509_OBJECT_value(adds, i)))
            goto fail;
    return source;
fail:
    pyssl_trust_source_free(source);
    return NULL;
}

/* A PEM file as SSL_CTX_load_verify_locations(ctx, file, NULL) reads it
 * (X509_load_cert_crl_file: PEM_X509_INFO_read_bio, then each entry's
 * certificate and CRL in turn). NULL where that load would fail (the file
 * cannot be opened or parsed, or holds neither certificate nor CRL) or on
 * a shortage of memory: the caller then runs the uncached load, which
 * reports the failure in its own words. Releases the GIL (see
 * pyssl_gil_releasing). */
pyssl_trust_source *pyssl_trust_read_file(const char *path)
{
    STACK_OF(X509_INFO) *infos;
    STACK_OF(X509_OBJECT) *adds = NULL;
    BIO *in;
    int i, ok = 1;

#if defined(_WIN32)
    in = BIO_new_file(path, "rb");
#else
    in = BIO_new_file(path, "r");
#endif
    if (in == NULL)
        return NULL;
    infos = PEM_X509_INFO_read_bio_ex(in, NULL, NULL, "", NULL, NULL);
    BIO_free(in);
    if (infos == NULL)
        return NULL;
    adds = sk_X509_OBJECT_new_null();
    if (adds == NULL)
        ok = 0;
    for (i = 0; ok && i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *info = sk_X509_INFO_value(infos, i);
        if (info->x509 != NULL && !pyssl_trust_append(adds, info->x509, NULL))
            ok = 0;
        if (ok && info->crl != NULL && !pyssl_trust_append(adds, NULL, info->crl))
            ok = 0;
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    if (!ok || sk_X509_OBJECT_num(adds) == 0) {
        sk_X509_OBJECT_pop_free(adds, X509_OBJECT_free);
        return NULL;
    }
    return pyssl_trust_source_new(adds);
}

/* cadata as add_ca_certs() reads it: PEM_read_bio_X509 (PEM) or
 * d2i_X509_bio (DER, until the input ends) one certificate after another.
 * The reading stops at the first failure, whose error stays in the queue
 * for the caller to judge as add_ca_certs() does: a source only when that
 * load would succeed. *count is how many certificates were read. Releases
 * the GIL (see pyssl_gil_releasing). */
pyssl_trust_source *pyssl_trust_read_data(const unsigned char *data, int len, int pem, int *count)
{
    STACK_OF(X509_OBJECT) *adds = sk_X509_OBJECT_new_null();
    BIO *bio = BIO_new_mem_buf(data, len);
    X509 *cert;

    *count = 0;
    if (adds == NULL || bio == NULL) {
        sk_X509_OBJECT_free(adds);
        BIO_free(bio);
        return NULL;
    }
    for (;;) {
        if (pem)
            cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        else if (BIO_ctrl_pending(bio))
            cert = d2i_X509_bio(bio, NULL);
        else
            break;
        if (cert == NULL)
            break;
        if (!pyssl_trust_append(adds, cert, NULL)) {
            X509_free(cert);
            BIO_free(bio);
            sk_X509_OBJECT_pop_free(adds, X509_OBJECT_free);
            return NULL;
        }
        X509_free(cert);
        *count += 1;
    }
    BIO_free(bio);
    if (*count == 0) {
        sk_X509_OBJECT_free(adds);
        return NULL;
    }
    return pyssl_trust_source_new(adds);
}

static int pyssl_trust_put(X509_STORE *store, const pyssl_trust_source *source, int cadata)
{
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
    STACK_OF(X509_OBJECT) *arranged = X509_STORE_get0_objects(source->arranged);
    int i, n;

    if (!X509_STORE_lock(store))
        return 0;
    if (sk_X509_OBJECT_num(objs) == 0) {
        /* The arrangement the adds leave in an empty store, without the
         * search (and sort of the whole store) each add makes. */
        n = sk_X509_OBJECT_num(arranged);
        if (!sk_X509_OBJECT_reserve(objs, n)) {
            X509_STORE_unlock(store);
            return 0;
        }
        for (i = 0; i < n; i++) {
            X509_OBJECT *from = sk_X509_OBJECT_value(arranged, i);
            X509_OBJECT *obj = X509_OBJECT_new();
            int ok = obj != NULL
                && (X509_OBJECT_get_type(from) == X509_LU_X509
                    ? X509_OBJECT_set1_X509(obj, X509_OBJECT_get0_X509(from))
                    : X509_OBJECT_set1_X509_CRL(obj, X509_OBJECT_get0_X509_CRL(from)));
            if (!ok || !sk_X509_OBJECT_push(objs, obj)) {
                X509_OBJECT_free(obj);
                X509_STORE_unlock(store);
                return 0;
            }
        }
        X509_STORE_unlock(store);
        return 1;
    }
    X509_STORE_unlock(store);
    for (i = 0; i < sk_X509_OBJECT_num(source->adds); i++) {
        if (!pyssl_trust_add_one(store, sk_X509_OBJECT_value(source->adds, i))) {
            unsigned long last = ERR_peek_last_error();
            if (cadata && ERR_GET_LIB(last) == ERR_LIB_X509
                && ERR_GET_REASON(last) == X509_R_CERT_ALREADY_IN_HASH_TABLE) {
                ERR_clear_error();
                continue;
            }
            return 0;
        }
    }
    return 1;
}

/* Puts a source's objects into a context's store, as the uncached load
 * would: 1, or 0 with the error in the queue. `cadata` adds as
 * add_ca_certs() does (a certificate already in the store is no failure);
 * otherwise as X509_STORE_load_file(), which first gives the store its
 * file look-up. */
int pyssl_trust_fill(SSL_CTX *ctx, const pyssl_trust_source *source, int cadata)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);

    if (!cadata && X509_STORE_add_lookup(store, X509_LOOKUP_file()) == NULL)
        return 0;
    return pyssl_trust_put(store, source, cadata);
}

/* The file SSL_CTX_set_default_verify_paths() loads: SSL_CERT_FILE (read
 * as OpenSSL reads it, ignored in a setuid program), else OpenSSL's
 * default. */
const char *pyssl_trust_default_file(void)
{
    const char *file;
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
# if __GLIBC_PREREQ(2, 17)
#  define PYSSL_SECURE_GETENV
    file = secure_getenv(X509_get_default_cert_file_env());
# endif
#endif
#ifndef PYSSL_SECURE_GETENV
    file = OPENSSL_issetugid() ? NULL : getenv(X509_get_default_cert_file_env());
#endif
    return file != NULL ? file : X509_get_default_cert_file();
}

/* SSL_CTX_set_default_verify_paths() with the default file's objects taken
 * from its source: the file, hashed-directory and store look-ups in the
 * order X509_STORE_set_default_paths() adds them, the directories looked
 * up lazily by OpenSSL as before, and no error left behind. */
int pyssl_trust_set_default_paths(SSL_CTX *ctx, const pyssl_trust_source *file)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    X509_LOOKUP *lookup;

    lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
    if (lookup == NULL)
        return 0;
    /* A failure to load the default file is no failure here. */
    pyssl_trust_put(store, file, 0);
    lookup = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir());
    if (lookup == NULL)
        return 0;
    X509_LOOKUP_add_dir(lookup, NULL, X509_FILETYPE_DEFAULT);
    lookup = X509_STORE_add_lookup(store, X509_LOOKUP_store());
    if (lookup == NULL)
        return 0;
    X509_LOOKUP_add_store_ex(lookup, NULL, NULL, NULL);
    ERR_clear_error();
    return 1;
}
