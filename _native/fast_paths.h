/* pyssl._fast_paths: CPython entry points for the calls an event loop
 * makes several times per TLS record: MemoryBIO.read and write, and a
 * connection's read and write of bytes. Everything else, and every error
 * these report, goes through cffi and the Python layer.
 *
 * Why not cffi for these: a cffi call with several arguments goes through
 * METH_VARARGS (an argument tuple, one conversion per argument), about
 * 100 ns where a METH_FASTCALL function takes 25, and cffi cannot return a
 * new bytes object filled in C, so MemoryBIO.read() needed three calls
 * (pending, bytes(n), BIO_read) where this needs one. asyncio makes about
 * a dozen of these calls per 64-byte round trip.
 *
 * The functions take an address as an int (a BIO*, or a connection's
 * pyssl_io[2]), which the Python layer takes from the cdata it owns and
 * keeps alive; they check their arguments' count and types. The memory
 * BIO functions never release the GIL; a connection's read and write
 * release it when told to (on a socket, where OpenSSL may block). They
 * use the stable ABI of CPython 3.10 (cffi builds the module with
 * Py_LIMITED_API): METH_FASTCALL is part of it since 3.10. Only
 * ssl_read_into needs 3.11's (see _native/stable_abi.py).
 *
 * pyssl._lib calls pyssl_register_fast_paths() once, through cffi, and
 * imports the module it registers. */
#include <limits.h>

#ifndef METH_FASTCALL
#define METH_FASTCALL 0x0080
#endif

typedef PyObject *(*pyssl_fastcall)(PyObject *, PyObject *const *, Py_ssize_t);

/* The address each function takes first, after checking the count of
 * arguments; NULL with TypeError set. */
static void *pyssl_address_argument(const char *function, PyObject *const *args,
                                    Py_ssize_t nargs, Py_ssize_t expected)
{
    if (nargs != expected) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments", function, expected);
        return NULL;
    }
    if (!PyLong_Check(args[0])) {
        PyErr_Format(PyExc_TypeError, "%s() takes an address (int) first", function);
        return NULL;
    }
    return PyLong_AsVoidPtr(args[0]);
}

/* A bytes argument's storage; -1 with TypeError set for anything else. */
static int pyssl_bytes_argument(const char *function, PyObject *arg, char **data, Py_ssize_t *size)
{
    if (!PyBytes_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "%s() takes a bytes object", function);
        return -1;
    }
    return PyBytes_AsStringAndSize(arg, data, size);
}

/* bio_read(address, size) -> bytes: up to size bytes (all of them when
 * size is negative), b'' when the BIO is empty. */
static PyObject *pyssl_fast_bio_read(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    BIO *bio;
    Py_ssize_t size;
    size_t count;
    PyObject *out;
    int got;
    (void)module;
    bio = (BIO *)pyssl_address_argument("bio_read", args, nargs, 2);
    if (bio == NULL)
        return NULL;
    size = PyLong_AsSsize_t(args[1]);
    if (size == -1 && PyErr_Occurred())
        return NULL;
    count = BIO_ctrl_pending(bio);
    if (size >= 0 && (size_t)size < count)
        count = (size_t)size;
    if (count > INT_MAX)
        count = INT_MAX; /* BIO_read() counts in an int */
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)count);
    if (out == NULL || count == 0)
        return out;
    got = BIO_read(bio, PyBytes_AsString(out), (int)count);
    if ((size_t)got != count) {
        /* A memory BIO gives all it holds; never seen. Whatever came is
         * returned, nothing is lost. */
        PyObject *part = PyBytes_FromStringAndSize(PyBytes_AsString(out), got > 0 ? got : 0);
        Py_DECREF(out);
        return part;
    }
    return out;
}

/* bio_write(address, data, limit) -> int: appends the bytes object data
 * and returns its length; -1 without writing anything when data is longer
 * than limit or the BIO fails (the caller takes its full path, which says
 * why). */
static PyObject *pyssl_fast_bio_write(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    BIO *bio;
    char *data;
    Py_ssize_t size, limit;
    int written;
    (void)module;
    bio = (BIO *)pyssl_address_argument("bio_write", args, nargs, 3);
    if (bio == NULL)
        return NULL;
    if (pyssl_bytes_argument("bio_write", args[1], &data, &size) < 0)
        return NULL;
    limit = PyLong_AsSsize_t(args[2]);
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    if (size > limit || size > INT_MAX)
        return PyLong_FromLong(-1);
    written = BIO_write(bio, data, (int)size);
    if (written != (int)size && size != 0)
        return PyLong_FromLong(-1);
    return PyLong_FromSsize_t(size);
}

/* A connection's reads and writes, as Connection.read() and write() make
 * them: the address is the connection's pyssl_io[2] (see pyssl_new_ssl),
 * release says whether the GIL is released around the call (on a socket,
 * where OpenSSL may block). */

/* One SSL_read gives at most one record: 16 KiB of plaintext. */
#define PYSSL_READ_CHUNK 16384

/* How many bytes a read of up to size bytes can go straight into the bytes
 * object it returns, or 0: into a buffer on the stack, then copied into a
 * bytes object of the count's size (the stable ABI cannot shrink a bytes
 * object, as _ssl does). Straight in when the count is known: the rest of
 * a record already decrypted (SSL_pending), or, over memory BIOs, a whole
 * record when the caller takes one and at least that much has arrived
 * (asyncio reads 16 KiB records this way: a 16 KiB copy fewer each). */
static Py_ssize_t pyssl_direct_read_size(pyssl_io *io, Py_ssize_t size, int on_socket)
{
    int pending = SSL_pending(io->ssl);
    if (pending > 0)
        return pending < size ? pending : size;
    if (!on_socket && size >= PYSSL_READ_CHUNK
        && BIO_ctrl_pending(SSL_get_rbio(io->ssl)) > PYSSL_READ_CHUNK)
        return PYSSL_READ_CHUNK;
    return 0;
}

/* ssl_read(address, size, release): up to size (> 0) bytes. A bytes object
 * when SSL_read_ex simply succeeded; (bytes, result) when it succeeded and
 * a handshake was seen during the call; otherwise pyssl_read()'s negative
 * result, as an int (nothing was read: the caller takes its full path). */
static PyObject *pyssl_fast_ssl_read(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    char buf[PYSSL_READ_CHUNK];
    char *dest = buf;
    pyssl_io *io;
    Py_ssize_t size, direct;
    PyThreadState *save = NULL;
    PyObject *out = NULL, *data, *number, *pair;
    long result;
    int release;
    (void)module;
    io = (pyssl_io *)pyssl_address_argument("ssl_read", args, nargs, 3);
    if (io == NULL)
        return NULL;
    size = PyLong_AsSsize_t(args[1]);
    if (size == -1 && PyErr_Occurred())
        return NULL;
    if (size <= 0) {
        PyErr_SetString(PyExc_ValueError, "ssl_read() takes a positive size");
        return NULL;
    }
    if (size > PYSSL_READ_CHUNK)
        size = PYSSL_READ_CHUNK;
    release = PyObject_IsTrue(args[2]);
    if (release < 0)
        return NULL;
    direct = pyssl_direct_read_size(io, size, release);
    if (direct > 0) {
        /* New and not shared: OpenSSL may fill it without the GIL. */
        out = PyBytes_FromStringAndSize(NULL, direct);
        if (out == NULL)
            return NULL;
        dest = PyBytes_AsString(out);
        size = direct;
    }
    if (release)
        save = PyEval_SaveThread();
    result = pyssl_read(io, dest, (size_t)size);
    if (save != NULL)
        PyEval_RestoreThread(save);
    if (result >= 0 && out != NULL && result == direct)
        return out;
    if (result >= 0) {
        data = PyBytes_FromStringAndSize(dest, (Py_ssize_t)result);
        Py_XDECREF(out);
        return data;
    }
    if (result != -PYSSL_HANDSHAKE_SEEN) {
        Py_XDECREF(out);
        return PyLong_FromLong(result);
    }
    data = PyBytes_FromStringAndSize(dest, (Py_ssize_t)io->count);
    Py_XDECREF(out);
    number = PyLong_FromLong(result);
    pair = data != NULL && number != NULL ? PyTuple_New(2) : NULL;
    if (pair == NULL) {
        Py_XDECREF(data);
        Py_XDECREF(number);
        return NULL;
    }
    PyTuple_SetItem(pair, 0, data); /* steals both */
    PyTuple_SetItem(pair, 1, number);
    return pair;
}

/* ssl_write(address, data, release): writes the bytes object data;
 * pyssl_write()'s result as an int. */
static PyObject *pyssl_fast_ssl_write(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    pyssl_io *io;
    char *data;
    Py_ssize_t size;
    PyThreadState *save = NULL;
    long result;
    int release;
    (void)module;
    io = (pyssl_io *)pyssl_address_argument("ssl_write", args, nargs, 3);
    if (io == NULL)
        return NULL;
    if (pyssl_bytes_argument("ssl_write", args[1], &data, &size) < 0)
        return NULL;
    release = PyObject_IsTrue(args[2]);
    if (release < 0)
        return NULL;
    if (release)
        save = PyEval_SaveThread();
    result = pyssl_write(io + 1, data, (size_t)size);
    if (save != NULL)
        PyEval_RestoreThread(save);
    return PyLong_FromLong(result);
}

/* Reading straight into the caller's buffer (recv_into(), read(n, buffer))
 * needs the buffer protocol, which joined the stable ABI in 3.11: a module
 * built for the 3.11 stable ABI (or the full API) has ssl_read_into; one
 * built for 3.10's leaves it out, and Connection.read() then passes the
 * buffer through cffi (ffi.from_buffer, a cdata object per call). */
#if !defined(Py_LIMITED_API) || Py_LIMITED_API + 0 >= 0x030B0000
#define PYSSL_HAS_READ_INTO 1

/* ssl_read_into(address, buffer, size, release): reads up to size bytes
 * (the whole buffer when size is not between 0 and its length) into the
 * writable, contiguous buffer, holding it for the call. The count as an
 * int when SSL_read_ex simply succeeded (0 for an empty buffer); None,
 * with nothing read and no error set, when buffer is not such a buffer
 * (the caller's full path says why); otherwise pyssl_read()'s negative
 * result (the caller takes its full path). */
static PyObject *pyssl_fast_ssl_read_into(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    pyssl_io *io;
    Py_buffer view;
    Py_ssize_t size;
    PyThreadState *save = NULL;
    long result;
    int release;
    (void)module;
    io = (pyssl_io *)pyssl_address_argument("ssl_read_into", args, nargs, 4);
    if (io == NULL)
        return NULL;
    size = PyLong_AsSsize_t(args[2]); /* OverflowError beyond, as _ssl's */
    if (size == -1 && PyErr_Occurred())
        return NULL;
    release = PyObject_IsTrue(args[3]);
    if (release < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &view, PyBUF_WRITABLE) < 0) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    if (size <= 0 || size > view.len)
        size = view.len;
    if (size == 0) {
        PyBuffer_Release(&view);
        return PyLong_FromLong(0);
    }
    if (release)
        save = PyEval_SaveThread();
    result = pyssl_read(io, view.buf, (size_t)size);
    if (save != NULL)
        PyEval_RestoreThread(save);
    PyBuffer_Release(&view);
    return PyLong_FromLong(result);
}
#endif

static PyMethodDef pyssl_fast_path_methods[] = {
    {"bio_read", (PyCFunction)(void (*)(void))(pyssl_fastcall)pyssl_fast_bio_read, METH_FASTCALL,
     "bio_read(address, size) -> bytes"},
    {"bio_write", (PyCFunction)(void (*)(void))(pyssl_fastcall)pyssl_fast_bio_write, METH_FASTCALL,
     "bio_write(address, data, limit) -> int"},
    {"ssl_read", (PyCFunction)(void (*)(void))(pyssl_fastcall)pyssl_fast_ssl_read, METH_FASTCALL,
     "ssl_read(address, size, release) -> bytes | (bytes, int) | int"},
    {"ssl_write", (PyCFunction)(void (*)(void))(pyssl_fastcall)pyssl_fast_ssl_write, METH_FASTCALL,
     "ssl_write(address, data, release) -> int"},
#ifdef PYSSL_HAS_READ_INTO
    {"ssl_read_into", (PyCFunction)(void (*)(void))(pyssl_fastcall)pyssl_fast_ssl_read_into, METH_FASTCALL,
     "ssl_read_into(address, buffer, size, release) -> int | None"},
#endif
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef pyssl_fast_path_module = {
    PyModuleDef_HEAD_INIT, "pyssl._fast_paths",
    "CPython entry points for the calls pyssl makes per TLS record (see _native/fast_paths.h).",
    -1, pyssl_fast_path_methods, NULL, NULL, NULL, NULL
};

/* Called once by pyssl._lib (through cffi, holding the GIL): makes the
 * module and registers it in sys.modules. 0, or -1 when that failed. */
static int pyssl_register_fast_paths(void)
{
    PyObject *module = PyModule_Create(&pyssl_fast_path_module);
    int result;
    if (module == NULL) {
        PyErr_Clear();
        return -1;
    }
    result = PyDict_SetItemString(PyImport_GetModuleDict(), "pyssl._fast_paths", module);
    Py_DECREF(module);
    if (result < 0)
        PyErr_Clear();
    return result;
}
