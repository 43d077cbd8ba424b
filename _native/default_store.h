/* The store look-up SSL_CTX_set_default_verify_paths() adds, without the
 * cost of adding it to every context.
 *
 * Before OpenSSL 3.4, X509_LOOKUP_add_store_ex(lookup, NULL, ...) adds the
 * default certificate directory (SSL_CERT_DIR, else OpenSSL's default) as a
 * store URI, and opens and lists that directory there and then, to check
 * that it opens. With a few hundred entries in the directory that is about
 * a third of what making a default context costs once its CA file is
 * shared. OpenSSL 3.4 dropped the default URI (the hashed-directory look-up
 * before it searches the same directory); earlier versions still search it
 * when verification asks for a subject that no earlier look-up found.
 *
 * pyssl's look-up keeps that search and drops only the listing at creation:
 * it keeps the URI, and when asked for a subject it opens the URI, searches
 * it by name one level deep and adds what it finds to the store, as
 * OpenSSL's store look-up does, and then answers from the store. A URI
 * that does not open finds nothing, as it would not have been added. */

#include <stdlib.h>
#include <openssl/crypto.h>
#include <openssl/store.h>

/* getenv() as OpenSSL reads its own variables: ignored in a setuid
 * program. */
static const char *pyssl_safe_getenv(const char *name)
{
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
# if __GLIBC_PREREQ(2, 17)
#  define PYSSL_SECURE_GETENV
    return secure_getenv(name);
# endif
#endif
#ifndef PYSSL_SECURE_GETENV
    return OPENSSL_issetugid() ? NULL : getenv(name);
#endif
}

/* Whether X509_LOOKUP_add_store_ex(lookup, NULL, ...) adds the default
 * certificate directory in the OpenSSL in use (not the one compiled
 * against: an sdist build may run on a later patch release). */
static int pyssl_store_adds_default_dir(void)
{
    return OpenSSL_version_num() < 0x30400000L;
}

/* Adds to the store what `uri` holds under `criterion`, going `depth`
 * levels into a directory: 1 when anything was added and nothing failed. */
static int pyssl_default_store_cache(X509_STORE *store, const char *uri,
                                     const OSSL_STORE_SEARCH *criterion, int depth)
{
    OSSL_STORE_CTX *sctx = OSSL_STORE_open_ex(uri, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    int ok = 0;

    if (sctx == NULL)
        return 0;
    /* Only a directory applies the criterion; a file yields everything. */
    OSSL_STORE_find(sctx, criterion);
    for (;;) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(sctx);

        if (info == NULL)
            break;
        switch (OSSL_STORE_INFO_get_type(info)) {
        case OSSL_STORE_INFO_NAME:
            ok = depth > 0
                && pyssl_default_store_cache(store, OSSL_STORE_INFO_get0_NAME(info), criterion,
                                             depth - 1);
            break;
        case OSSL_STORE_INFO_CERT:
            ok = X509_STORE_add_cert(store, OSSL_STORE_INFO_get0_CERT(info));
            break;
        case OSSL_STORE_INFO_CRL:
            ok = X509_STORE_add_crl(store, OSSL_STORE_INFO_get0_CRL(info));
            break;
        default:
            ok = 0;
        }
        OSSL_STORE_INFO_free(info);
        if (!ok)
            break;
    }
    OSSL_STORE_close(sctx);
    return ok;
}

static int pyssl_default_store_by_subject(X509_LOOKUP *lookup, X509_LOOKUP_TYPE type,
                                          const X509_NAME *name, X509_OBJECT *ret)
{
    const char *uri = X509_LOOKUP_get_method_data(lookup);
    X509_STORE *store = X509_LOOKUP_get_store(lookup);
    OSSL_STORE_SEARCH *criterion;
    X509_OBJECT *found = NULL;
    int ok = 0;

    if (uri == NULL || store == NULL || type == X509_LU_NONE)
        return 0;
    /* A search that finds nothing leaves nothing behind in the queue. */
    ERR_set_mark();
    criterion = OSSL_STORE_SEARCH_by_name((X509_NAME *)name);
    if (criterion != NULL && pyssl_default_store_cache(store, uri, criterion, 1)
        && X509_STORE_lock(store)) {
        found = X509_OBJECT_retrieve_by_subject(X509_STORE_get0_objects(store), type, name);
        /* The caller takes its own reference after this returns. */
        if (found != NULL && type == X509_LU_X509)
            ok = X509_OBJECT_set1_X509(ret, X509_OBJECT_get0_X509(found));
        else if (found != NULL)
            ok = X509_OBJECT_set1_X509_CRL(ret, X509_OBJECT_get0_X509_CRL(found));
        X509_STORE_unlock(store);
        if (ok && type == X509_LU_X509)
            X509_free(X509_OBJECT_get0_X509(ret));
        else if (ok)
            X509_CRL_free(X509_OBJECT_get0_X509_CRL(ret));
    }
    OSSL_STORE_SEARCH_free(criterion);
    ERR_pop_to_mark();
    return ok;
}

static void pyssl_default_store_free(X509_LOOKUP *lookup)
{
    OPENSSL_free(X509_LOOKUP_get_method_data(lookup));
}

static X509_LOOKUP_METHOD *pyssl_default_store_method;
static CRYPTO_ONCE pyssl_default_store_once = CRYPTO_ONCE_STATIC_INIT;

static void pyssl_default_store_method_init(void)
{
    X509_LOOKUP_METHOD *method = X509_LOOKUP_meth_new("pyssl: the default store URI, opened when searched");

    if (method == NULL)
        return;
    if (!X509_LOOKUP_meth_set_free(method, pyssl_default_store_free)
        || !X509_LOOKUP_meth_set_get_by_subject(method, pyssl_default_store_by_subject)) {
        X509_LOOKUP_meth_free(method);
        return;
    }
    pyssl_default_store_method = method;
}

/* What X509_LOOKUP_add_store_ex(X509_STORE_add_lookup(store,
 * X509_LOOKUP_store()), NULL, NULL, NULL) adds, less the listing: 1, or 0
 * with the error in the queue. */
static int pyssl_add_default_store(X509_STORE *store)
{
    X509_LOOKUP *lookup;
    const char *uri;
    char *copy;

    if (!pyssl_store_adds_default_dir()) {
        lookup = X509_STORE_add_lookup(store, X509_LOOKUP_store());
        if (lookup == NULL)
            return 0;
        X509_LOOKUP_add_store_ex(lookup, NULL, NULL, NULL);
        return 1;
    }
    if (!CRYPTO_THREAD_run_once(&pyssl_default_store_once, pyssl_default_store_method_init)
        || pyssl_default_store_method == NULL)
        return 0;
    uri = pyssl_safe_getenv(X509_get_default_cert_dir_env());
    if (uri == NULL)
        uri = X509_get_default_cert_dir();
    lookup = X509_STORE_add_lookup(store, pyssl_default_store_method);
    if (lookup == NULL)
        return 0;
    /* A store given the default paths twice searches the URI once. */
    if (X509_LOOKUP_get_method_data(lookup) != NULL)
        return 1;
    copy = OPENSSL_strdup(uri);
    if (copy == NULL)
        return 0;
    if (!X509_LOOKUP_set_method_data(lookup, copy)) {
        OPENSSL_free(copy);
        return 0;
    }
    return 1;
}

/* The look-ups SSL_CTX_set_default_verify_paths() adds after the default
 * file's: the hashed default directory, then the store. 1, or 0 with the
 * error in the queue. */
static int pyssl_add_default_dirs(X509_STORE *store)
{
    X509_LOOKUP *lookup = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir());

    if (lookup == NULL)
        return 0;
    X509_LOOKUP_add_dir(lookup, NULL, X509_FILETYPE_DEFAULT);
    return pyssl_add_default_store(store);
}

/* SSL_CTX_set_default_verify_paths() with the store look-up above: the
 * default file loaded by OpenSSL (a failure to load it is no failure), and
 * no error left behind. */
int pyssl_set_default_verify_paths(SSL_CTX *ctx)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    X509_LOOKUP *lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());

    if (lookup == NULL)
        return 0;
    X509_LOOKUP_load_file(lookup, NULL, X509_FILETYPE_DEFAULT);
    if (!pyssl_add_default_dirs(store))
        return 0;
    ERR_clear_error();
    return 1;
}
