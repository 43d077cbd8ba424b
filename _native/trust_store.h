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
 * and order.
 *
 * A file of plain PEM blocks is read lazily: its certificates are checked
 * for the shape OpenSSL's decoder accepts, without decoding them (most of
 * that cost is each certificate's public key), and a store that takes the
 * file when it holds nothing gets the objects of a subject name only when
 * verification asks for that name, and all of them, in the arrangement the
 * eager load leaves, before anything reads the whole store
 * (pyssl_trust_materialize). docs/performance.md says why each step keeps
 * the store as the eager load would have it. */

#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

/* The lazy reading relies on qsort() keeping equal elements in their
 * order, as glibc's does: a store sorted after some of a file's objects
 * went in late must come out as the eager store sorted. Elsewhere files
 * are read eagerly. */
#if defined(__GLIBC__)
#define PYSSL_TRUST_LAZY 1
#include <sys/stat.h>
#else
#define PYSSL_TRUST_LAZY 0
#endif

/* Larger than a CA bundle would be: such a file is read eagerly. */
#define PYSSL_TRUST_LAZY_MAX_SIZE (64 * 1024 * 1024)

enum { PYSSL_TRUST_CERT, PYSSL_TRUST_TRUSTED, PYSSL_TRUST_CRL };

/* One object of a lazily read file, in the order the eager load adds it.
 * A TRUSTED CERTIFICATE block or a CRL is decoded when the file is read;
 * a plain certificate when a store first needs it. */
typedef struct {
    unsigned char kind;
    /* The same certificate (or CRL) as an earlier entry: the eager load's
     * add of it leaves the store unchanged. */
    unsigned char copy;
    /* In the source's DER: the certificate (without a TRUSTED
     * CERTIFICATE's trust settings), its to-be-signed part and subject. */
    size_t der, der_len, tbs, tbs_len, subject, subject_len;
    X509 *x509;
    X509_CRL *crl;
} pyssl_trust_entry;

/* A name to look entries up by: a certificate's subject or a CRL's issuer. */
typedef struct {
    int type; /* X509_LU_X509 or X509_LU_CRL */
    int entry;
    int owned;
    X509_NAME *name;
} pyssl_trust_key;

typedef struct pyssl_trust_source {
    /* The adds and the arrangement; for a lazy source NULL until every
     * entry is decoded (pyssl_trust_source_decode). */
    STACK_OF(X509_OBJECT) *adds;
    X509_STORE *arranged;
    int refs;
    CRYPTO_RWLOCK *lock;
    /* Lazy sources only. */
    int count;
    pyssl_trust_entry *entries;
    unsigned char *der;
    int nkeys;
    pyssl_trust_key *keys; /* sorted; NULL until first looked up */
} pyssl_trust_source;

/* Whether files are read lazily where the platform allows it. */
static int pyssl_trust_lazy = PYSSL_TRUST_LAZY;

void pyssl_trust_set_lazy(int lazy)
{
    pyssl_trust_lazy = lazy && PYSSL_TRUST_LAZY;
}

int pyssl_trust_source_is_lazy(const pyssl_trust_source *source)
{
    return source->entries != NULL;
}

static void pyssl_trust_source_release(pyssl_trust_source *source)
{
    int i;

    sk_X509_OBJECT_pop_free(source->adds, X509_OBJECT_free);
    X509_STORE_free(source->arranged);
    for (i = 0; source->entries != NULL && i < source->count; i++) {
        X509_free(source->entries[i].x509);
        X509_CRL_free(source->entries[i].crl);
    }
    for (i = 0; source->keys != NULL && i < source->nkeys; i++)
        if (source->keys[i].owned)
            X509_NAME_free(source->keys[i].name);
    OPENSSL_free(source->keys);
    OPENSSL_free(source->entries);
    OPENSSL_free(source->der);
    CRYPTO_THREAD_lock_free(source->lock);
    OPENSSL_free(source);
}

/* Drops a reference: Python's, or a store's (a lazily filled store keeps
 * its source). */
void pyssl_trust_source_free(pyssl_trust_source *source)
{
    int refs;

    if (source == NULL)
        return;
    if (!CRYPTO_atomic_add(&source->refs, -1, &refs, source->lock) || refs > 0)
        return;
    pyssl_trust_source_release(source);
}

static pyssl_trust_source *pyssl_trust_source_alloc(void)
{
    pyssl_trust_source *source = OPENSSL_zalloc(sizeof(*source));

    if (source == NULL)
        return NULL;
    source->refs = 1;
    source->lock = CRYPTO_THREAD_lock_new();
    if (source->lock == NULL) {
        OPENSSL_free(source);
        return NULL;
    }
    return source;
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

/* The arrangement `adds` leave in an empty store. */
static X509_STORE *pyssl_trust_arrange(STACK_OF(X509_OBJECT) *adds)
{
    X509_STORE *arranged = X509_STORE_new();
    int i;

    if (arranged == NULL)
        return NULL;
    for (i = 0; i < sk_X509_OBJECT_num(adds); i++)
        if (!pyssl_trust_add_one(arranged, sk_X509_OBJECT_value(adds, i))) {
            X509_STORE_free(arranged);
            return NULL;
        }
    return arranged;
}

/* Takes over `adds`. NULL when out of memory. */
static pyssl_trust_source *pyssl_trust_source_new(STACK_OF(X509_OBJECT) *adds)
{
    pyssl_trust_source *source = pyssl_trust_source_alloc();

    if (source == NULL) {
        sk_X509_OBJECT_pop_free(adds, X509_OBJECT_free);
        return NULL;
    }
    source->adds = adds;
    source->arranged = pyssl_trust_arrange(adds);
    if (source->arranged == NULL) {
        pyssl_trust_source_free(source);
        return NULL;
    }
    return source;
}

/* ---- the shape of a certificate ----------------------------------------

 * What the lazy reading accepts without decoding: DER of the common form
 * of an X.509 certificate, every part of which OpenSSL's decoder (d2i_X509,
 * and d2i_X509_NAME for the names) is known to accept: one-byte tags,
 * definite lengths in their shortest form, the types and the content
 * rules those decoders check (INTEGER padding, OBJECT IDENTIFIER
 * encoding, BIT STRING unused bits, times' lengths, name strings'
 * encodings). Anything else, acceptable to OpenSSL or not, makes the file
 * be read eagerly, by OpenSSL, which then accepts or fails it in its own
 * words. A certificate of this form also encodes to the very bytes it was
 * read from, so two of them are the same certificate to X509_cmp exactly
 * when their bytes are equal. Only the public key is left undecoded;
 * OpenSSL's decoder never fails a certificate over its key. */

static int pyssl_der_next(const unsigned char **p, const unsigned char *end, int tag,
                          const unsigned char **content, size_t *len)
{
    const unsigned char *q = *p;
    size_t n;
    int bytes;

    if (end - q < 2 || *q != tag)
        return 0;
    q++;
    n = *q++;
    if (n & 0x80) {
        bytes = (int)(n & 0x7f);
        if (bytes == 0 || bytes > 3 || end - q < bytes || *q == 0)
            return 0;
        for (n = 0; bytes > 0; bytes--)
            n = (n << 8) | *q++;
        if (n < 0x80)
            return 0;
    }
    if ((size_t)(end - q) < n)
        return 0;
    *content = q;
    *len = n;
    *p = q + n;
    return 1;
}

static int pyssl_der_integer(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *c;
    size_t n;

    if (!pyssl_der_next(p, end, 0x02, &c, &n) || n == 0)
        return 0;
    return n == 1 || !((c[0] == 0x00 && !(c[1] & 0x80)) || (c[0] == 0xff && (c[1] & 0x80)));
}

static int pyssl_der_oid(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *c;
    size_t n, i;

    if (!pyssl_der_next(p, end, 0x06, &c, &n) || n == 0 || n > 64 || (c[n - 1] & 0x80))
        return 0;
    for (i = 0; i < n; i++)
        if (c[i] == 0x80 && (i == 0 || !(c[i - 1] & 0x80)))
            return 0;
    return 1;
}

/* AlgorithmIdentifier: parameters absent, NULL, an OID or a SEQUENCE
 * (which the decoder keeps as it is). */
static int pyssl_der_algorithm(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *c, *e, *v;
    size_t n, vn;

    if (!pyssl_der_next(p, end, 0x30, &c, &n))
        return 0;
    e = c + n;
    if (!pyssl_der_oid(&c, e))
        return 0;
    if (c < e) {
        if (*c == 0x05) {
            if (!pyssl_der_next(&c, e, 0x05, &v, &vn) || vn != 0)
                return 0;
        } else if (*c == 0x06) {
            if (!pyssl_der_oid(&c, e))
                return 0;
        } else if (!pyssl_der_next(&c, e, 0x30, &v, &vn)) {
            return 0;
        }
    }
    return c == e;
}

static int pyssl_der_bit_string(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *c;
    size_t n;

    return pyssl_der_next(p, end, 0x03, &c, &n) && n >= 2 && c[0] == 0;
}

/* UTF-8 that OpenSSL converts without complaint: shortest forms, no
 * surrogates, nothing past U+10FFFF. */
static int pyssl_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0, more, j;
    unsigned long v;

    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if (s[i] >= 0xc2 && s[i] <= 0xdf) {
            more = 1;
            v = s[i] & 0x1f;
        } else if (s[i] >= 0xe0 && s[i] <= 0xef) {
            more = 2;
            v = s[i] & 0x0f;
        } else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
            more = 3;
            v = s[i] & 0x07;
        } else {
            return 0;
        }
        if (n - i - 1 < more)
            return 0;
        for (j = 1; j <= more; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            v = (v << 6) | (s[i + j] & 0x3f);
        }
        if ((more == 2 && v < 0x800) || (more == 3 && v < 0x10000) || v > 0x10ffff
            || (v >= 0xd800 && v <= 0xdfff))
            return 0;
        i += more + 1;
    }
    return 1;
}

/* An attribute value of a name: the string types whose canonical form
 * (x509_name_canon) OpenSSL always makes. */
static int pyssl_der_name_string(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *c;
    size_t n, i;
    int tag;

    if (*p >= end)
        return 0;
    tag = **p;
    if (tag != 0x13 && tag != 0x16 && tag != 0x14 && tag != 0x0c && tag != 0x1e)
        return 0;
    if (!pyssl_der_next(p, end, tag, &c, &n) || n == 0)
        return 0;
    if (tag == 0x0c)
        return pyssl_utf8_valid(c, n);
    if (tag == 0x1e) {
        if (n & 1)
            return 0;
        for (i = 0; i < n; i += 2)
            if (c[i] >= 0xd8 && c[i] <= 0xdf)
                return 0;
    }
    return 1;
}

static int pyssl_der_name(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *c, *e, *s, *se, *a, *ae;
    size_t n, sn, an;

    if (!pyssl_der_next(p, end, 0x30, &c, &n) || n > 65536)
        return 0;
    for (e = c + n; c < e;) {
        if (!pyssl_der_next(&c, e, 0x31, &s, &sn) || sn == 0)
            return 0;
        for (se = s + sn; s < se;) {
            if (!pyssl_der_next(&s, se, 0x30, &a, &an))
                return 0;
            ae = a + an;
            if (!pyssl_der_oid(&a, ae) || !pyssl_der_name_string(&a, ae) || a != ae)
                return 0;
        }
    }
    return 1;
}

static int pyssl_der_time(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *c;
    size_t n, i, digits;

    if (*p < end && **p == 0x17)
        digits = 12;
    else if (*p < end && **p == 0x18)
        digits = 14;
    else
        return 0;
    if (!pyssl_der_next(p, end, **p, &c, &n) || n != digits + 1 || c[digits] != 'Z')
        return 0;
    for (i = 0; i < digits; i++)
        if (c[i] < '0' || c[i] > '9')
            return 0;
    return 1;
}

static int pyssl_der_extensions(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *c, *e, *l, *le, *x, *xe, *v;
    size_t n, ln, xn, vn;

    if (!pyssl_der_next(p, end, 0xa3, &c, &n))
        return 0;
    e = c + n;
    if (!pyssl_der_next(&c, e, 0x30, &l, &ln) || c != e || ln == 0)
        return 0;
    for (le = l + ln; l < le;) {
        if (!pyssl_der_next(&l, le, 0x30, &x, &xn))
            return 0;
        xe = x + xn;
        if (!pyssl_der_oid(&x, xe))
            return 0;
        if (x < xe && *x == 0x01
            && (!pyssl_der_next(&x, xe, 0x01, &v, &vn) || vn != 1 || (v[0] != 0x00 && v[0] != 0xff)))
            return 0;
        if (!pyssl_der_next(&x, xe, 0x04, &v, &vn) || x != xe)
            return 0;
    }
    return 1;
}

/* The certificate at the start of [der, der + len): its length, and
 * where its to-be-signed part and subject are; 0 if it is not of the
 * form above. */
static size_t pyssl_der_certificate(const unsigned char *der, size_t len, pyssl_trust_entry *entry)
{
    const unsigned char *p = der, *end = der + len, *c, *e, *t, *te, *v, *ve;
    size_t n, tn, vn;

    if (!pyssl_der_next(&p, end, 0x30, &c, &n))
        return 0;
    e = c + n;
    entry->tbs = (size_t)(c - der);
    if (!pyssl_der_next(&c, e, 0x30, &t, &tn))
        return 0;
    entry->tbs_len = (size_t)(c - der) - entry->tbs;
    te = t + tn;
    if (t < te && *t == 0xa0) {
        if (!pyssl_der_next(&t, te, 0xa0, &v, &vn))
            return 0;
        ve = v + vn;
        if (!pyssl_der_integer(&v, ve) || v != ve)
            return 0;
    }
    if (!pyssl_der_integer(&t, te) || !pyssl_der_algorithm(&t, te) || !pyssl_der_name(&t, te))
        return 0;
    if (!pyssl_der_next(&t, te, 0x30, &v, &vn))
        return 0;
    ve = v + vn;
    if (!pyssl_der_time(&v, ve) || !pyssl_der_time(&v, ve) || v != ve)
        return 0;
    entry->subject = (size_t)(t - der);
    if (!pyssl_der_name(&t, te))
        return 0;
    entry->subject_len = (size_t)(t - der) - entry->subject;
    /* SubjectPublicKeyInfo. */
    if (!pyssl_der_next(&t, te, 0x30, &v, &vn))
        return 0;
    ve = v + vn;
    if (!pyssl_der_algorithm(&v, ve) || !pyssl_der_bit_string(&v, ve) || v != ve)
        return 0;
    if (t < te && *t == 0xa3 && !pyssl_der_extensions(&t, te))
        return 0;
    if (t != te || !pyssl_der_algorithm(&c, e) || !pyssl_der_bit_string(&c, e) || c != e)
        return 0;
    return (size_t)(p - der);
}

/* ---- reading a file lazily ----------------------------------------------

 * The PEM text is taken in a plain form that PEM_X509_INFO_read_bio_ex()
 * reads block for block the same way: lines of printable text outside the
 * blocks that do not start with dashes, and no longer than OpenSSL reads a
 * line at once; blocks named CERTIFICATE, X509 CERTIFICATE, TRUSTED
 * CERTIFICATE or X509 CRL, without headers or blank lines, with base64
 * lines of up to 76 characters padded only at the end; lines ending in
 * LF or CR LF. Anything else is read eagerly. */

static const char pyssl_pem_dashes[] = "-----";

/* Which of the names a BEGIN or END line (`what`) gives, -1 for any other
 * line. */
static int pyssl_pem_kind(const unsigned char *line, size_t len, const char *what)
{
    static const char *const names[] = {"CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CRL"};
    size_t i, wl = strlen(what), nl;

    if (len < wl + 10 || memcmp(line, pyssl_pem_dashes, 5) != 0 || memcmp(line + 5, what, wl) != 0
        || memcmp(line + len - 5, pyssl_pem_dashes, 5) != 0)
        return -1;
    line += 5 + wl;
    len -= 10 + wl;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        nl = strlen(names[i]);
        if (len == nl && memcmp(line, names[i], nl) == 0)
            return (int)i;
    }
    return -1;
}

/* Base64 digits' values; 64 for the padding '=', 255 for anything else. */
static unsigned char pyssl_b64[256];
static CRYPTO_ONCE pyssl_b64_once = CRYPTO_ONCE_STATIC_INIT;

static void pyssl_b64_init(void)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int i;

    memset(pyssl_b64, 255, sizeof(pyssl_b64));
    for (i = 0; i < 64; i++)
        pyssl_b64[(unsigned char)digits[i]] = (unsigned char)i;
    pyssl_b64['='] = 64;
}

typedef struct {
    int kind;
    size_t der, len;
} pyssl_pem_block;

/* The blocks of `text`, their DER decoded into `der` (as long as the text
 * at least, or the text itself: each block's DER is shorter than what was
 * read to make it): the count, or -1 where the text is not of the plain
 * form. */
static int pyssl_pem_scan(const unsigned char *text, size_t size, unsigned char *der,
                          pyssl_pem_block **blocks_out)
{
    static const int kinds[] = {PYSSL_TRUST_CERT, PYSSL_TRUST_CERT, PYSSL_TRUST_TRUSTED, PYSSL_TRUST_CRL};
    const unsigned char *line = text, *end = text + size, *eol, *c, *stop;
    pyssl_pem_block *blocks = NULL, *grown;
    size_t len, out = 0, chars = 0, padding = 0, capacity = 0;
    int count = 0, inside = -1, lines = 0;
    unsigned long quantum = 0, v;

    if (!CRYPTO_THREAD_run_once(&pyssl_b64_once, pyssl_b64_init))
        return -1;
    while (line < end) {
        eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            eol = end;
        len = (size_t)(eol - line);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        /* OpenSSL drops a byte order mark from the first line it reads
         * when looking for a block. */
        if (len > 200 || (len >= 3 && line[0] == 0xef && line[1] == 0xbb && line[2] == 0xbf))
            goto unusual;
        if (inside < 0) {
            for (c = line; c < line + len; c++)
                if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
                    goto unusual;
            if (len >= 5 && memcmp(line, pyssl_pem_dashes, 5) == 0) {
                inside = pyssl_pem_kind(line, len, "BEGIN ");
                if (inside < 0)
                    goto unusual;
                if (count == (int)capacity) {
                    capacity = capacity ? capacity * 2 : 64;
                    grown = OPENSSL_realloc(blocks, capacity * sizeof(*blocks));
                    if (grown == NULL)
                        goto unusual;
                    blocks = grown;
                }
                blocks[count].kind = kinds[inside];
                blocks[count].der = out;
                chars = padding = 0;
                lines = 0;
            }
        } else if (len >= 5 && memcmp(line, pyssl_pem_dashes, 5) == 0) {
            if (pyssl_pem_kind(line, len, "END ") != inside || lines == 0 || chars % 4 != 0)
                goto unusual;
            blocks[count].len = out - blocks[count].der;
            count++;
            inside = -1;
        } else {
            /* Padding ends the last line of a block. */
            if (len == 0 || len > 76 || padding > 0)
                goto unusual;
            lines++;
            c = line;
            stop = line + len;
            /* Whole quantums while no padding shows. */
            if (chars % 4 == 0)
                for (; stop - c >= 4; c += 4) {
                    v = (unsigned long)pyssl_b64[c[0]] << 18 | (unsigned long)pyssl_b64[c[1]] << 12
                        | (unsigned long)pyssl_b64[c[2]] << 6 | pyssl_b64[c[3]];
                    if (((pyssl_b64[c[0]] | pyssl_b64[c[1]] | pyssl_b64[c[2]] | pyssl_b64[c[3]]) & 0xc0) != 0)
                        break;
                    der[out++] = (unsigned char)(v >> 16);
                    der[out++] = (unsigned char)(v >> 8);
                    der[out++] = (unsigned char)v;
                    chars += 4;
                }
            for (; c < stop; c++) {
                v = pyssl_b64[*c];
                if (v == 64) {
                    /* At most two, in the last two places of a quantum. */
                    if (++padding > 2 || chars % 4 < 2)
                        goto unusual;
                    v = 0;
                } else if (v > 64 || padding > 0) {
                    goto unusual;
                }
                quantum = (quantum << 6) | v;
                if (++chars % 4 == 0) {
                    der[out++] = (unsigned char)(quantum >> 16);
                    der[out++] = (unsigned char)(quantum >> 8);
                    der[out++] = (unsigned char)quantum;
                    quantum = 0;
                    out -= padding;
                }
            }
        }
        line = eol + (eol < end);
    }
    if (inside >= 0)
        goto unusual;
    *blocks_out = blocks;
    return count;
unusual:
    OPENSSL_free(blocks);
    return -1;
}

typedef struct {
    const unsigned char *tbs;
    size_t tbs_len;
    int entry;
} pyssl_trust_tbs;

static int pyssl_trust_by_tbs(const void *a, const void *b)
{
    const pyssl_trust_tbs *x = a, *y = b;
    int r;

    if (x->tbs_len != y->tbs_len)
        return x->tbs_len < y->tbs_len ? -1 : 1;
    r = memcmp(x->tbs, y->tbs, x->tbs_len);
    if (r != 0)
        return r;
    return (x->entry > y->entry) - (x->entry < y->entry);
}

/* Marks the entries that repeat an earlier one (the eager load's add of
 * them changes nothing); 0 where two certificates differ in their
 * signatures alone, which X509_cmp calls the same when it cannot digest
 * them: such a file is read eagerly. */
static int pyssl_trust_mark_copies(pyssl_trust_entry *entries, int count, const unsigned char *der)
{
    pyssl_trust_tbs *certs = OPENSSL_malloc(sizeof(*certs) * (count ? count : 1));
    pyssl_trust_entry *a, *b;
    int n = 0, i, j, ok = 1;

    if (certs == NULL)
        return 0;
    for (i = 0; i < count; i++)
        if (entries[i].kind != PYSSL_TRUST_CRL) {
            certs[n].tbs = der + entries[i].tbs;
            certs[n].tbs_len = entries[i].tbs_len;
            certs[n++].entry = i;
        }
    qsort(certs, (size_t)n, sizeof(*certs), pyssl_trust_by_tbs);
    /* Equal to-be-signed parts sit together, earliest entry first. */
    for (i = 1; i < n && ok; i++) {
        if (certs[i - 1].tbs_len != certs[i].tbs_len
            || memcmp(certs[i - 1].tbs, certs[i].tbs, certs[i].tbs_len) != 0)
            continue;
        a = &entries[certs[i - 1].entry];
        b = &entries[certs[i].entry];
        if (a->der_len != b->der_len || memcmp(der + a->der, der + b->der, a->der_len) != 0)
            ok = 0;
        else
            b->copy = 1;
    }
    OPENSSL_free(certs);
    for (i = 0; ok && i < count; i++) {
        if (entries[i].kind != PYSSL_TRUST_CRL)
            continue;
        for (j = 0; j < i; j++)
            if (entries[j].kind == PYSSL_TRUST_CRL && !entries[j].copy
                && X509_CRL_cmp(entries[j].crl, entries[i].crl) == 0
                && X509_CRL_match(entries[j].crl, entries[i].crl) == 0) {
                entries[i].copy = 1;
                break;
            }
    }
    return ok;
}

/* Reads the whole file; NULL if it cannot be read or is larger than a CA
 * bundle would be. */
static unsigned char *pyssl_trust_slurp(const char *path, size_t *size)
{
    FILE *f;
    unsigned char *data = NULL, *grown;
    size_t capacity = 0, n;
    long hint;
#if PYSSL_TRUST_LAZY
    struct stat st;
#endif

    *size = 0;
#if PYSSL_TRUST_LAZY
    /* Regular files only, looked at before they are opened: a directory
     * opens, and gives a size of its own; a named pipe opened or read here
     * would leave nothing for the eager reading, which opens it once as
     * the uncached load does. */
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return NULL;
#endif
    f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
#if PYSSL_TRUST_LAZY
    /* Replaced by something else since. */
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return NULL;
    }
#endif
    /* The size it has now, read at once; a file that grows meanwhile is
     * read to its end all the same. */
    if (fseek(f, 0, SEEK_END) == 0 && (hint = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
        if (hint >= PYSSL_TRUST_LAZY_MAX_SIZE) {
            fclose(f);
            return NULL;
        }
        capacity = (size_t)hint + 1;
    }
    for (;;) {
        if (capacity == 0 || *size == capacity) {
            capacity = capacity ? capacity * 2 : 256 * 1024;
            if (capacity > PYSSL_TRUST_LAZY_MAX_SIZE || (grown = OPENSSL_realloc(data, capacity)) == NULL) {
                OPENSSL_free(data);
                fclose(f);
                return NULL;
            }
            data = grown;
        } else if (data == NULL && (data = OPENSSL_malloc(capacity)) == NULL) {
            fclose(f);
            return NULL;
        }
        n = fread(data + *size, 1, capacity - *size, f);
        *size += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        OPENSSL_free(data);
        data = NULL;
    }
    fclose(f);
    return data;
}

/* The file as a lazy source: NULL where it is not of the plain form (or
 * holds nothing, or memory runs out), for the eager reading to decide. The
 * entries come in the order X509_load_cert_crl_file() adds them:
 * PEM_X509_INFO_read_bio_ex() gathers a certificate and a CRL that follow
 * each other into one X509_INFO, the certificate added first. */
static pyssl_trust_source *pyssl_trust_read_lazily(const char *path)
{
    pyssl_trust_source *source = NULL;
    pyssl_trust_entry *entries = NULL, *e;
    pyssl_pem_block *blocks = NULL, *block;
    unsigned char *text, *der = NULL;
    const unsigned char *p;
    size_t size;
    int count, i, n = 0, info_cert = -1, info_crl = -1, ok = 0;

    text = pyssl_trust_slurp(path, &size);
    if (text == NULL)
        return NULL;
    /* The DER goes over the text it is decoded from: it never overtakes
     * the line being read. */
    der = text;
    count = pyssl_pem_scan(text, size, der, &blocks);
    if (count <= 0)
        goto done;
    entries = OPENSSL_zalloc(sizeof(*entries) * (size_t)count);
    if (entries == NULL)
        goto done;
    ERR_set_mark();
    for (i = 0; i <= count; i++) {
        /* The X509_INFO being gathered goes out before a second
         * certificate or CRL, and at the end. */
        if (i == count || (blocks[i].kind == PYSSL_TRUST_CRL ? info_crl : info_cert) >= 0) {
            if (info_cert >= 0)
                entries[n++].der = (size_t)info_cert;
            if (info_crl >= 0)
                entries[n++].der = (size_t)info_crl;
            info_cert = info_crl = -1;
        }
        if (i == count)
            break;
        if (blocks[i].kind == PYSSL_TRUST_CRL)
            info_crl = i;
        else
            info_cert = i;
    }
    /* entries[k].der holds the block index for now. */
    for (i = 0; i < n; i++) {
        e = &entries[i];
        block = &blocks[e->der];
        e->kind = (unsigned char)block->kind;
        e->der = block->der;
        p = der + block->der;
        if (block->kind == PYSSL_TRUST_CRL) {
            if (d2i_X509_CRL(&e->crl, &p, (long)block->len) == NULL)
                goto failed;
            continue;
        }
        e->der_len = pyssl_der_certificate(der + block->der, block->len, e);
        e->tbs += block->der;
        e->subject += block->der;
        if (e->der_len == 0 || (block->kind == PYSSL_TRUST_CERT && e->der_len != block->len))
            goto failed;
        if (block->kind == PYSSL_TRUST_TRUSTED) {
            /* As PEM_X509_INFO_read_bio_ex() reads it. */
            e->x509 = X509_new_ex(NULL, NULL);
            if (e->x509 == NULL || d2i_X509_AUX(&e->x509, &p, (long)block->len) == NULL)
                goto failed;
        }
    }
    if (!pyssl_trust_mark_copies(entries, n, der))
        goto failed;
    source = pyssl_trust_source_alloc();
    if (source == NULL)
        goto failed;
    source->count = n;
    source->entries = entries;
    source->der = der;
    entries = NULL;
    der = NULL;
    ok = 1;
failed:
    ERR_pop_to_mark();
done:
    if (!ok && entries != NULL)
        for (i = 0; i < count; i++) {
            X509_free(entries[i].x509);
            X509_CRL_free(entries[i].crl);
        }
    OPENSSL_free(entries);
    OPENSSL_free(blocks);
    OPENSSL_free(der);
    return source;
}

/* ---- what a lazy source gives a store --------------------------------- */

/* The certificate of a plain entry, decoded as PEM_X509_INFO_read_bio_ex()
 * decodes it, once for every store; NULL only when memory runs out. */
static X509 *pyssl_trust_entry_x509(pyssl_trust_source *source, int i)
{
    pyssl_trust_entry *e = &source->entries[i];
    const unsigned char *p = source->der + e->der;
    X509 *x509;

    if (!CRYPTO_THREAD_read_lock(source->lock))
        return NULL;
    x509 = e->x509;
    CRYPTO_THREAD_unlock(source->lock);
    if (x509 != NULL)
        return x509;
    x509 = X509_new_ex(NULL, NULL);
    if (x509 == NULL || d2i_X509(&x509, &p, (long)e->der_len) == NULL)
        return NULL;
    if (!CRYPTO_THREAD_write_lock(source->lock)) {
        X509_free(x509);
        return NULL;
    }
    if (e->x509 == NULL) {
        e->x509 = x509;
        x509 = NULL;
    }
    CRYPTO_THREAD_unlock(source->lock);
    X509_free(x509);
    return e->x509;
}

static int pyssl_trust_by_key(const void *a, const void *b)
{
    const pyssl_trust_key *x = a, *y = b;
    int r;

    if (x->type != y->type)
        return x->type - y->type;
    r = X509_NAME_cmp(x->name, y->name);
    if (r != 0)
        return r;
    return (x->entry > y->entry) - (x->entry < y->entry);
}

static void pyssl_trust_free_keys(pyssl_trust_key *keys, int n)
{
    int i;

    for (i = 0; i < n; i++)
        if (keys[i].owned)
            X509_NAME_free(keys[i].name);
    OPENSSL_free(keys);
}

/* The entries by name (the names X509_OBJECT_retrieve_by_subject compares),
 * made the first time a store asks: 0 when memory runs out. */
static int pyssl_trust_index(pyssl_trust_source *source)
{
    pyssl_trust_key *keys;
    pyssl_trust_entry *e;
    const unsigned char *p;
    int i, n = 0, done;

    if (!CRYPTO_THREAD_read_lock(source->lock))
        return 0;
    done = source->keys != NULL;
    CRYPTO_THREAD_unlock(source->lock);
    if (done)
        return 1;
    keys = OPENSSL_zalloc(sizeof(*keys) * (size_t)(source->count ? source->count : 1));
    if (keys == NULL)
        return 0;
    for (i = 0; i < source->count; i++) {
        e = &source->entries[i];
        if (e->copy)
            continue;
        keys[n].entry = i;
        if (e->kind == PYSSL_TRUST_CRL) {
            keys[n].type = X509_LU_CRL;
            keys[n].name = X509_CRL_get_issuer(e->crl);
        } else if (e->kind == PYSSL_TRUST_TRUSTED) {
            keys[n].type = X509_LU_X509;
            keys[n].name = X509_get_subject_name(e->x509);
        } else {
            keys[n].type = X509_LU_X509;
            keys[n].owned = 1;
            p = source->der + e->subject;
            keys[n].name = d2i_X509_NAME(NULL, &p, (long)e->subject_len);
            if (keys[n].name == NULL) {
                pyssl_trust_free_keys(keys, n);
                return 0;
            }
        }
        n++;
    }
    qsort(keys, (size_t)n, sizeof(*keys), pyssl_trust_by_key);
    if (!CRYPTO_THREAD_write_lock(source->lock)) {
        pyssl_trust_free_keys(keys, n);
        return 0;
    }
    if (source->keys == NULL) {
        source->keys = keys;
        source->nkeys = n;
        keys = NULL;
    }
    CRYPTO_THREAD_unlock(source->lock);
    if (keys != NULL)
        pyssl_trust_free_keys(keys, n);
    return 1;
}

/* The keys of a type and name, [*first, *first + *n), their plain
 * certificates decoded: 0 when memory runs out. */
static int pyssl_trust_group(pyssl_trust_source *source, int type, const X509_NAME *name,
                             int *first, int *n)
{
    pyssl_trust_key *keys;
    int lo = 0, hi, mid, r, i;

    *first = *n = 0;
    if (!pyssl_trust_index(source))
        return 0;
    keys = source->keys;
    hi = source->nkeys;
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        r = keys[mid].type != type ? keys[mid].type - type : X509_NAME_cmp(keys[mid].name, name);
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (i = lo; i < source->nkeys && keys[i].type == type && X509_NAME_cmp(keys[i].name, name) == 0; i++)
        if (keys[i].type == X509_LU_X509 && pyssl_trust_entry_x509(source, keys[i].entry) == NULL)
            return 0;
    *first = lo;
    *n = i - lo;
    return 1;
}

/* Every entry decoded, and the adds and arrangement made: 0 when memory
 * runs out. Releases the GIL (see pyssl_gil_releasing). */
int pyssl_trust_source_decode(pyssl_trust_source *source)
{
    STACK_OF(X509_OBJECT) *adds;
    X509_STORE *arranged;
    pyssl_trust_entry *e;
    int i, done, ok = 1;

    if (!CRYPTO_THREAD_read_lock(source->lock))
        return 0;
    done = source->adds != NULL;
    CRYPTO_THREAD_unlock(source->lock);
    if (done)
        return 1;
    ERR_set_mark();
    adds = sk_X509_OBJECT_new_null();
    for (i = 0; ok && adds != NULL && i < source->count; i++) {
        e = &source->entries[i];
        if (e->kind == PYSSL_TRUST_CRL)
            ok = pyssl_trust_append(adds, NULL, e->crl);
        else
            ok = pyssl_trust_entry_x509(source, i) != NULL && pyssl_trust_append(adds, e->x509, NULL);
    }
    arranged = ok && adds != NULL ? pyssl_trust_arrange(adds) : NULL;
    ERR_pop_to_mark();
    if (arranged == NULL || !CRYPTO_THREAD_write_lock(source->lock)) {
        sk_X509_OBJECT_pop_free(adds, X509_OBJECT_free);
        X509_STORE_free(arranged);
        return 0;
    }
    if (source->adds == NULL) {
        source->adds = adds;
        source->arranged = arranged;
        adds = NULL;
        arranged = NULL;
    }
    CRYPTO_THREAD_unlock(source->lock);
    sk_X509_OBJECT_pop_free(adds, X509_OBJECT_free);
    X509_STORE_free(arranged);
    return 1;
}

/* ---- stores filled lazily ----------------------------------------------

 * A store that takes a lazy source while it holds nothing keeps it in its
 * ex_data (an attachment) and gets, as its get_issuer, lookup_certs and
 * lookup_crls, functions that first push the source's objects of the name
 * asked for, all of them, then do what OpenSSL's own do. Every read of a
 * name in verification goes through these three, so it finds exactly
 * what the eager store holds under that name, in the same order: the
 * objects of a name go in together, in the order of the file, and nothing
 * else of a name the file has can arrive before them (another load first
 * materializes the whole source; a lookup such as a hashed directory is
 * asked only for names the store lacks). Each of those reads sorts the
 * store, as it sorts the eager one: from the first, the eager store is
 * sorted, and the lazy one, completed and sorted, is the same. Until
 * then the eager store is the arrangement of the source. */

typedef struct {
    pyssl_trust_source *source;
    unsigned char *pushed; /* per entry: in the store (or a copy) */
    int objects;           /* the source's objects in the store */
    int touched;           /* verification has read the store */
    int done;              /* every entry is in the store */
} pyssl_trust_attachment;

static int pyssl_trust_store_index = -1;
static CRYPTO_ONCE pyssl_trust_once = CRYPTO_ONCE_STATIC_INIT;

static void pyssl_trust_attachment_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                                        long argl, void *argp)
{
    pyssl_trust_attachment *attachment = ptr;

    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (attachment == NULL)
        return;
    pyssl_trust_source_free(attachment->source);
    OPENSSL_free(attachment->pushed);
    OPENSSL_free(attachment);
}

static void pyssl_trust_init(void)
{
    pyssl_trust_store_index = X509_STORE_get_ex_new_index(0, NULL, NULL, NULL, pyssl_trust_attachment_free);
}

/* The store's attachment while it has entries to push; called with the
 * store locked. */
static pyssl_trust_attachment *pyssl_trust_attachment_of(X509_STORE *store)
{
    pyssl_trust_attachment *attachment;

    if (pyssl_trust_store_index < 0)
        return NULL;
    attachment = X509_STORE_get_ex_data(store, pyssl_trust_store_index);
    return attachment != NULL && !attachment->done ? attachment : NULL;
}

static int pyssl_trust_push(STACK_OF(X509_OBJECT) *objs, X509 *cert, X509_CRL *crl)
{
    X509_OBJECT *obj = X509_OBJECT_new();
    int ok = obj != NULL
        && (cert != NULL ? X509_OBJECT_set1_X509(obj, cert) : X509_OBJECT_set1_X509_CRL(obj, crl));

    if (!ok || !sk_X509_OBJECT_push(objs, obj)) {
        X509_OBJECT_free(obj);
        return 0;
    }
    return 1;
}

/* The name an object is sorted by in a store. */
static const X509_NAME *pyssl_trust_name_of(X509_OBJECT *obj)
{
    if (X509_OBJECT_get_type(obj) == X509_LU_X509)
        return X509_get_subject_name(X509_OBJECT_get0_X509(obj));
    return X509_CRL_get_issuer(X509_OBJECT_get0_X509_CRL(obj));
}

/* Whether the store takes `obj` for the entry's object (X509_OBJECT_retrieve_match). */
static int pyssl_trust_same(X509_OBJECT *obj, const pyssl_trust_entry *e)
{
    if (X509_OBJECT_get_type(obj) == X509_LU_X509)
        return X509_cmp(X509_OBJECT_get0_X509(obj), e->x509) == 0;
    return X509_CRL_match(X509_OBJECT_get0_X509_CRL(obj), e->crl) == 0;
}

/* The source's objects of one name (keys [first, first + n)) into the
 * store where the eager store has them: ahead of every other object of
 * that name, all of which came later; one that repeats an object of the
 * file goes, as its add would have added nothing. Called with the store
 * locked. */
static int pyssl_trust_insert_group(STACK_OF(X509_OBJECT) *objs, pyssl_trust_attachment *attachment,
                                    int first, int n)
{
    pyssl_trust_source *source = attachment->source;
    pyssl_trust_key *keys = source->keys;
    X509_OBJECT *obj;
    int at = -1, i, k, removed;

    if (attachment->pushed[keys[first].entry])
        return 1;
    /* Only objects of other origins share the name: the file's go in a
     * name at a time. */
    for (i = 0; sk_X509_OBJECT_num(objs) != attachment->objects && i < sk_X509_OBJECT_num(objs);) {
        obj = sk_X509_OBJECT_value(objs, i);
        if ((int)X509_OBJECT_get_type(obj) != keys[first].type
            || X509_NAME_cmp(pyssl_trust_name_of(obj), keys[first].name) != 0) {
            i++;
            continue;
        }
        for (removed = 0, k = first; !removed && k < first + n; k++)
            removed = pyssl_trust_same(obj, &source->entries[keys[k].entry]);
        if (removed) {
            (void)sk_X509_OBJECT_delete(objs, i);
            X509_OBJECT_free(obj);
            continue;
        }
        if (at < 0)
            at = i;
        i++;
    }
    for (k = first; k < first + n; k++) {
        pyssl_trust_entry *e = &source->entries[keys[k].entry];
        obj = X509_OBJECT_new();
        if (obj == NULL
            || !(e->x509 != NULL ? X509_OBJECT_set1_X509(obj, e->x509) : X509_OBJECT_set1_X509_CRL(obj, e->crl))
            || !(at < 0 ? sk_X509_OBJECT_push(objs, obj) : sk_X509_OBJECT_insert(objs, obj, at++))) {
            X509_OBJECT_free(obj);
            return 0;
        }
        attachment->pushed[keys[k].entry] = 1;
        attachment->objects++;
    }
    return 1;
}

/* Before verification reads `name`: the source's objects of that name
 * into the store. The store's lock is never held while the source's is
 * taken, nor while anything is decoded. */
static void pyssl_trust_prepare(const X509_STORE_CTX *ctx, int type, const X509_NAME *name)
{
    X509_STORE *store = X509_STORE_CTX_get0_store(ctx);
    pyssl_trust_attachment *attachment;
    int first, n;

    if (store == NULL || name == NULL || !X509_STORE_lock(store))
        return;
    attachment = pyssl_trust_attachment_of(store);
    if (attachment != NULL)
        attachment->touched = 1;
    X509_STORE_unlock(store);
    if (attachment == NULL)
        return;
    ERR_set_mark();
    if (pyssl_trust_group(attachment->source, type, name, &first, &n) && n > 0
        && X509_STORE_lock(store)) {
        if (!attachment->done)
            pyssl_trust_insert_group(X509_STORE_get0_objects(store), attachment, first, n);
        X509_STORE_unlock(store);
    }
    ERR_pop_to_mark();
}

static int pyssl_trust_get_issuer(X509 **issuer, X509_STORE_CTX *ctx, X509 *x)
{
    pyssl_trust_prepare(ctx, X509_LU_X509, X509_get_issuer_name(x));
    return X509_STORE_CTX_get1_issuer(issuer, ctx, x);
}

static STACK_OF(X509) *pyssl_trust_lookup_certs(X509_STORE_CTX *ctx, const X509_NAME *name)
{
    pyssl_trust_prepare(ctx, X509_LU_X509, name);
    return X509_STORE_CTX_get1_certs(ctx, name);
}

static STACK_OF(X509_CRL) *pyssl_trust_lookup_crls(const X509_STORE_CTX *ctx, const X509_NAME *name)
{
    pyssl_trust_prepare(ctx, X509_LU_CRL, name);
    return X509_STORE_CTX_get1_crls(ctx, name);
}

/* 1 if the store now takes `source` lazily, 0 if it must be filled
 * eagerly (it holds something, or a source of its own), -1 when memory
 * runs out. */
static int pyssl_trust_attach(X509_STORE *store, pyssl_trust_source *source)
{
    pyssl_trust_attachment *attachment;
    int empty, refs;

    if (source->entries == NULL || !CRYPTO_THREAD_run_once(&pyssl_trust_once, pyssl_trust_init)
        || pyssl_trust_store_index < 0)
        return 0;
    if (!X509_STORE_lock(store))
        return -1;
    empty = sk_X509_OBJECT_num(X509_STORE_get0_objects(store)) == 0
        && X509_STORE_get_ex_data(store, pyssl_trust_store_index) == NULL;
    X509_STORE_unlock(store);
    if (!empty)
        return 0;
    attachment = OPENSSL_zalloc(sizeof(*attachment));
    if (attachment == NULL)
        return -1;
    attachment->pushed = OPENSSL_zalloc((size_t)source->count);
    if (attachment->pushed == NULL) {
        OPENSSL_free(attachment);
        return -1;
    }
    X509_STORE_set_get_issuer(store, pyssl_trust_get_issuer);
    X509_STORE_set_lookup_certs(store, pyssl_trust_lookup_certs);
    X509_STORE_set_lookup_crls(store, pyssl_trust_lookup_crls);
    if (!X509_STORE_lock(store)) {
        OPENSSL_free(attachment->pushed);
        OPENSSL_free(attachment);
        return -1;
    }
    /* Another thread may have filled the store meanwhile. */
    empty = sk_X509_OBJECT_num(X509_STORE_get0_objects(store)) == 0
        && X509_STORE_get_ex_data(store, pyssl_trust_store_index) == NULL;
    if (empty && CRYPTO_atomic_add(&source->refs, 1, &refs, source->lock)) {
        attachment->source = source;
        if (!X509_STORE_set_ex_data(store, pyssl_trust_store_index, attachment)) {
            X509_STORE_unlock(store);
            pyssl_trust_attachment_free(NULL, attachment, NULL, 0, 0, NULL);
            return -1;
        }
        attachment = NULL;
    }
    X509_STORE_unlock(store);
    if (attachment != NULL) {
        OPENSSL_free(attachment->pushed);
        OPENSSL_free(attachment);
        return 0;
    }
    return 1;
}

/* 1 if the context's store has a lazy source with objects not yet in it.
 * Releases the GIL (see pyssl_gil_releasing): it waits for the store's lock. */
int pyssl_trust_pending(SSL_CTX *ctx)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int pending;

    if (pyssl_trust_store_index < 0 || !X509_STORE_lock(store))
        return 0;
    pending = pyssl_trust_attachment_of(store) != NULL;
    X509_STORE_unlock(store);
    return pending;
}

/* Every object of the store's lazy source into the store, which then is
 * what the eager load would have made of it by now: the arrangement of
 * the source if verification never read it, else everything sorted.
 * Before anything reads the whole store or adds to it. 0 when memory runs
 * out. Releases the GIL (see pyssl_gil_releasing). */
int pyssl_trust_materialize(SSL_CTX *ctx)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    pyssl_trust_attachment *attachment;
    STACK_OF(X509_OBJECT) *objs, *arranged;
    pyssl_trust_key *keys;
    X509_OBJECT *from;
    int i, j, ok = 1;

    if (pyssl_trust_store_index < 0 || !X509_STORE_lock(store))
        return 1;
    attachment = pyssl_trust_attachment_of(store);
    X509_STORE_unlock(store);
    if (attachment == NULL)
        return 1;
    if (!pyssl_trust_source_decode(attachment->source) || !pyssl_trust_index(attachment->source)
        || !X509_STORE_lock(store))
        return 0;
    objs = X509_STORE_get0_objects(store);
    if (!attachment->done && !attachment->touched && sk_X509_OBJECT_num(objs) == 0) {
        arranged = X509_STORE_get0_objects(attachment->source->arranged);
        for (i = 0; ok && i < sk_X509_OBJECT_num(arranged); i++) {
            from = sk_X509_OBJECT_value(arranged, i);
            ok = pyssl_trust_push(objs, X509_OBJECT_get0_X509(from), X509_OBJECT_get0_X509_CRL(from));
        }
    } else if (!attachment->done) {
        /* Every name not yet asked for, a name at a time. */
        keys = attachment->source->keys;
        for (i = 0; ok && i < attachment->source->nkeys; i = j) {
            for (j = i + 1; j < attachment->source->nkeys && keys[j].type == keys[i].type
                 && X509_NAME_cmp(keys[j].name, keys[i].name) == 0; j++)
                ;
            ok = pyssl_trust_insert_group(objs, attachment, i, j - i);
        }
        sk_X509_OBJECT_sort(objs);
    }
    if (ok)
        attachment->done = 1;
    X509_STORE_unlock(store);
    return ok;
}

/* ---- reading and filling ------------------------------------------------ */

/* A PEM file as SSL_CTX_load_verify_locations(ctx, file, NULL) reads it
 * (X509_load_cert_crl_file: PEM_X509_INFO_read_bio, then each entry's
 * certificate and CRL in turn): lazily where it is of the plain form,
 * eagerly otherwise. NULL where that load would fail (the file cannot be
 * opened or parsed, or holds neither certificate nor CRL) or on a shortage
 * of memory: the caller then runs the uncached load, which reports the
 * failure in its own words. Releases the GIL (see pyssl_gil_releasing). */
pyssl_trust_source *pyssl_trust_read_file(const char *path)
{
    STACK_OF(X509_INFO) *infos;
    STACK_OF(X509_OBJECT) *adds = NULL;
    pyssl_trust_source *source;
    BIO *in;
    int i, ok = 1;

    if (pyssl_trust_lazy && (source = pyssl_trust_read_lazily(path)) != NULL)
        return source;
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

/* The source's objects into a store eagerly; the source's adds made. */
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
            if (!pyssl_trust_push(objs, X509_OBJECT_get0_X509(from), X509_OBJECT_get0_X509_CRL(from))) {
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

/* A source into a store, lazily if it can be: 1, 0 with the error in the
 * queue, or -1 when the source must be decoded first
 * (pyssl_trust_source_decode). A store with a lazy source of its own has
 * it materialized by the caller first (pyssl_trust_materialize). */
static int pyssl_trust_load(X509_STORE *store, pyssl_trust_source *source, int cadata)
{
    int attached = pyssl_trust_attach(store, source), decoded;

    if (attached != 0)
        return attached > 0;
    if (!CRYPTO_THREAD_read_lock(source->lock))
        return 0;
    decoded = source->adds != NULL;
    CRYPTO_THREAD_unlock(source->lock);
    if (!decoded)
        return -1;
    return pyssl_trust_put(store, source, cadata);
}

/* Puts a source's objects into a context's store, as the uncached load
 * would: 1, 0 with the error in the queue, or -1 (see pyssl_trust_load).
 * `cadata` adds as add_ca_certs() does (a certificate already in the
 * store is no failure); otherwise as X509_STORE_load_file(), which first
 * gives the store its file look-up. */
int pyssl_trust_fill(SSL_CTX *ctx, pyssl_trust_source *source, int cadata)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);

    if (!cadata && X509_STORE_add_lookup(store, X509_LOOKUP_file()) == NULL)
        return 0;
    return pyssl_trust_load(store, source, cadata);
}

/* The file SSL_CTX_set_default_verify_paths() loads: SSL_CERT_FILE (read
 * as OpenSSL reads it, ignored in a setuid program), else OpenSSL's
 * default. */
const char *pyssl_trust_default_file(void)
{
    const char *file = pyssl_safe_getenv(X509_get_default_cert_file_env());

    return file != NULL ? file : X509_get_default_cert_file();
}

/* SSL_CTX_set_default_verify_paths() with the default file's objects taken
 * from its source: the file, hashed-directory and store look-ups in the
 * order X509_STORE_set_default_paths() adds them, the directories looked
 * up lazily (default_store.h), and no error left behind. -1 when the
 * source must be decoded first (see pyssl_trust_load). */
int pyssl_trust_set_default_paths(SSL_CTX *ctx, pyssl_trust_source *file)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    X509_LOOKUP *lookup;

    lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
    if (lookup == NULL)
        return 0;
    /* A failure to load the default file is no failure here. */
    if (pyssl_trust_load(store, file, 0) < 0)
        return -1;
    if (!pyssl_add_default_dirs(store))
        return 0;
    ERR_clear_error();
    return 1;
}
