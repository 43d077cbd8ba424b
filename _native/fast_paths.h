/* pyssl._fast_paths: CPython entry points for the calls an event loop
 * makes several times per TLS record: MemoryBIO's read, write and pending
 * (the type MemoryBIOBase), and a connection's read and write. Everything
 * else, and every error these report, goes through cffi and the Python
 * layer.
 *
 * Why not cffi for these: a cffi call with several arguments goes through
 * METH_VARARGS (an argument tuple, one conversion per argument), which
 * costs far more than a METH_FASTCALL call; cffi cannot return a new bytes
 * object filled in C, so MemoryBIO.read() would need three calls (pending,
 * bytes(n), BIO_read) where this needs one; and a method written in Python
 * is a frame per call where _ssl's are C. asyncio makes many of these
 * calls for every record, on both ends.
 *
 * A connection's functions take an address as an int (its pyssl_io[2]),
 * which the Python layer takes from the cdata it owns and keeps alive;
 * they check their arguments' count and types, and release the GIL when
 * told to (on a socket, where OpenSSL may block). MemoryBIO's methods
 * never release it. The module uses the stable ABI that
 * _native/stable_abi.py names: 3.10's has METH_FASTCALL, 3.11's adds the
 * buffer protocol (reads into the caller's buffer, writes from any
 * buffer).
 *
 * pyssl._lib calls pyssl_register_fast_paths() once, through cffi, and
 * imports the module it registers. */
#include <limits.h>

typedef PyObject *(*pyssl_fastcall)(PyObject *, PyObject *const *, Py_ssize_t);

/* The address each function takes first, after checking the count of
 * arguments; NULL with an exception set: TypeError, OverflowError (no
 * pointer that large), or ValueError for 0, which PyLong_AsVoidPtr()
 * converts without setting one. */
static void *pyssl_address_argument(const char *function, PyObject *const *args,
                                    Py_ssize_t nargs, Py_ssize_t expected)
{
    void *address;
    if (nargs != expected) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments", function, expected);
        return NULL;
    }
    if (!PyLong_Check(args[0])) {
        PyErr_Format(PyExc_TypeError, "%s() takes an address (int) first", function);
        return NULL;
    }
    address = PyLong_AsVoidPtr(args[0]);
    if (address == NULL && !PyErr_Occurred())
        PyErr_Format(PyExc_ValueError, "%s() takes a non-null address", function);
    return address;
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

/* ---- MemoryBIO ---------------------------------------------------------
 *
 * MemoryBIOBase is the C half of pyssl.MemoryBIO (pyssl/_memory_bio.py
 * subclasses it): the buffer, and the methods asyncio calls several times
 * per record (read, write, pending), each a C call as in _ssl. write()
 * takes bytes, and with 3.11's stable ABI any contiguous buffer; anything
 * else, and every failure, goes to the subclass's _write_full(), which
 * says what is wrong in the stdlib's words. */

typedef struct {
    PyObject_HEAD
    BIO *bio;
    int eof_written;
} pyssl_memory_bio;

static PyObject *pyssl_memory_bio_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    pyssl_memory_bio *self;
    if (PyTuple_Size(args) != 0 || (kwargs != NULL && PyDict_Size(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "MemoryBIO() takes no arguments");
        return NULL;
    }
    self = (pyssl_memory_bio *)alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->bio = pyssl_new_memory_bio();
    if (self->bio == NULL) {
        /* Only an allocation fails here: MemoryError, as _ssl raises. */
        ERR_clear_error();
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void pyssl_memory_bio_dealloc(PyObject *obj)
{
    PyTypeObject *type = Py_TYPE(obj);
    freefunc free_object = (freefunc)PyType_GetSlot(type, Py_tp_free);
    /* A connection using the buffer holds its own reference to it. */
    BIO_free(((pyssl_memory_bio *)obj)->bio);
    free_object(obj);
    Py_DECREF(type);
}

/* read(size=-1, /) -> bytes: up to size bytes (all of them when size is
 * negative), b'' when the buffer is empty. */
static PyObject *pyssl_memory_bio_read(PyObject *obj, PyObject *const *args, Py_ssize_t nargs)
{
    BIO *bio = ((pyssl_memory_bio *)obj)->bio;
    Py_ssize_t size = -1;
    size_t count;
    PyObject *out;
    int got;
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "read expected at most 1 argument, got %zd", nargs);
        return NULL;
    }
    if (nargs == 1) {
        PyObject *number = PyNumber_Index(args[0]);
        if (number == NULL)
            return NULL;
        size = PyLong_AsSsize_t(number);
        Py_DECREF(number);
        if (size == -1 && PyErr_Occurred())
            return NULL;
    }
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

/* The buffer protocol joined the stable ABI in 3.11 (see _native/stable_abi.py). */
#if !defined(Py_LIMITED_API) || Py_LIMITED_API + 0 >= 0x030B0000
#define PYSSL_HAS_BUFFERS 1
#endif

/* write(data, /) -> int: appends data and returns its length. */
static PyObject *pyssl_memory_bio_write(PyObject *obj, PyObject *const *args, Py_ssize_t nargs)
{
    pyssl_memory_bio *self = (pyssl_memory_bio *)obj;
    char *data;
    Py_ssize_t size;
    int written;
#ifdef PYSSL_HAS_BUFFERS
    Py_buffer view;
    view.obj = NULL;
#endif
    if (nargs != 1) {
        PyErr_Format(PyExc_TypeError, "write() takes exactly one argument (%zd given)", nargs);
        return NULL;
    }
    if (PyBytes_Check(args[0])) {
        if (PyBytes_AsStringAndSize(args[0], &data, &size) < 0)
            return NULL;
    }
#ifdef PYSSL_HAS_BUFFERS
    else if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) == 0) {
        data = view.buf;
        size = view.len;
    }
    else {
        PyErr_Clear();
        goto full_path;
    }
#else
    else
        goto full_path;
#endif
    if (self->eof_written || size > INT_MAX)
        written = -1;
    else
        written = size == 0 ? 0 : BIO_write(self->bio, data, (int)size);
#ifdef PYSSL_HAS_BUFFERS
    if (view.obj != NULL)
        PyBuffer_Release(&view);
#endif
    /* A memory BIO takes all or nothing: on failure nothing was written. */
    if (written >= 0 && (Py_ssize_t)written == size)
        return PyLong_FromSsize_t(size);
full_path:
    return PyObject_CallMethod(obj, "_write_full", "O", args[0]);
}

static PyObject *pyssl_memory_bio_write_eof(PyObject *obj, PyObject *unused)
{
    pyssl_memory_bio *self = (pyssl_memory_bio *)obj;
    (void)unused;
    self->eof_written = 1;
    BIO_clear_retry_flags(self->bio);
    BIO_set_mem_eof_return(self->bio, 0);
    Py_RETURN_NONE;
}

static PyObject *pyssl_memory_bio_pending(PyObject *obj, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(BIO_ctrl_pending(((pyssl_memory_bio *)obj)->bio));
}

static PyObject *pyssl_memory_bio_eof(PyObject *obj, void *closure)
{
    pyssl_memory_bio *self = (pyssl_memory_bio *)obj;
    (void)closure;
    return PyBool_FromLong(self->eof_written && BIO_ctrl_pending(self->bio) == 0);
}

static PyObject *pyssl_memory_bio_eof_written(PyObject *obj, void *closure)
{
    (void)closure;
    return PyBool_FromLong(((pyssl_memory_bio *)obj)->eof_written);
}

static PyObject *pyssl_memory_bio_address(PyObject *obj, void *closure)
{
    (void)closure;
    return PyLong_FromVoidPtr(((pyssl_memory_bio *)obj)->bio);
}

static PyMethodDef pyssl_memory_bio_methods[] = {
    {"read", (PyCFunction)(void (*)(void))(pyssl_fastcall)pyssl_memory_bio_read, METH_FASTCALL,
     "read($self, size=-1, /)\n--\n\nRead up to size bytes (all of them if negative)."},
    {"write", (PyCFunction)(void (*)(void))(pyssl_fastcall)pyssl_memory_bio_write, METH_FASTCALL,
     "write($self, data, /)\n--\n\nAppend the bytes-like data; returns the number written."},
    {"write_eof", pyssl_memory_bio_write_eof, METH_NOARGS,
     "write_eof($self, /)\n--\n\nMark the end of the stream: once drained, reads see EOF."},
    {NULL, NULL, 0, NULL}
};

static PyGetSetDef pyssl_memory_bio_getset[] = {
    {"pending", pyssl_memory_bio_pending, NULL, "The number of bytes in the buffer.", NULL},
    {"eof", pyssl_memory_bio_eof, NULL, "Whether write_eof() was called and everything was read.", NULL},
    {"_eof_written", pyssl_memory_bio_eof_written, NULL, "Whether write_eof() was called.", NULL},
    {"_address", pyssl_memory_bio_address, NULL, "The BIO's address, for the binding.", NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

static PyType_Slot pyssl_memory_bio_slots[] = {
    {Py_tp_new, (void *)pyssl_memory_bio_new},
    {Py_tp_dealloc, (void *)pyssl_memory_bio_dealloc},
    {Py_tp_methods, pyssl_memory_bio_methods},
    {Py_tp_getset, pyssl_memory_bio_getset},
    {Py_tp_doc, (void *)"The C half of pyssl.MemoryBIO: the buffer and its hot methods."},
    {0, NULL}
};

static PyType_Spec pyssl_memory_bio_spec = {
    "pyssl._fast_paths.MemoryBIOBase", sizeof(pyssl_memory_bio), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, pyssl_memory_bio_slots
};

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

/* One pyssl_read(), or pyssl_write() when data is not NULL, without the
 * GIL when release is set; the result is theirs, a count as wide as a
 * Py_ssize_t (see pyssl_io_result). */
typedef char pyssl_counts_are_py_ssize_t[
    sizeof(pyssl_read(NULL, NULL, 0)) == sizeof(Py_ssize_t) ? 1 : -1];

static Py_ssize_t pyssl_io_call(pyssl_io *io, void *dest, const void *data, size_t len, int release)
{
    PyThreadState *save = release ? PyEval_SaveThread() : NULL;
    Py_ssize_t result = data != NULL ? pyssl_write(io, data, len) : pyssl_read(io, dest, len);
    if (save != NULL)
        PyEval_RestoreThread(save);
    return result;
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
    PyObject *out = NULL, *data, *number, *pair;
    Py_ssize_t result;
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
    result = pyssl_io_call(io, dest, NULL, (size_t)size, release);
    if (result >= 0 && out != NULL && result == direct)
        return out;
    if (result >= 0) {
        data = PyBytes_FromStringAndSize(dest, (Py_ssize_t)result);
        Py_XDECREF(out);
        return data;
    }
    if (result != -PYSSL_HANDSHAKE_SEEN) {
        Py_XDECREF(out);
        return PyLong_FromSsize_t(result);
    }
    data = PyBytes_FromStringAndSize(dest, (Py_ssize_t)io->count);
    Py_XDECREF(out);
    number = PyLong_FromSsize_t(result);
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
    Py_ssize_t size, result;
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
    result = pyssl_io_call(io + 1, NULL, data, (size_t)size, release);
    return PyLong_FromSsize_t(result);
}

/* Reading straight into the caller's buffer (recv_into(), read(n, buffer))
 * needs the buffer protocol, which joined the stable ABI in 3.11: a module
 * built for the 3.11 stable ABI (or the full API) has ssl_read_into; one
 * built for 3.10's leaves it out, and Connection.read() then passes the
 * buffer through cffi (ffi.from_buffer, a cdata object per call). */
#ifdef PYSSL_HAS_BUFFERS
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
    Py_ssize_t size, result;
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
    result = pyssl_io_call(io, view.buf, NULL, (size_t)size, release);
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(result);
}
#endif

static PyMethodDef pyssl_fast_path_methods[] = {
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
    PyObject *memory_bio;
    int result;
    if (module == NULL) {
        PyErr_Clear();
        return -1;
    }
    memory_bio = PyType_FromSpec(&pyssl_memory_bio_spec);
    result = memory_bio == NULL ? -1 : PyModule_AddObjectRef(module, "MemoryBIOBase", memory_bio);
    Py_XDECREF(memory_bio);
    if (result == 0)
        result = PyDict_SetItemString(PyImport_GetModuleDict(), "pyssl._fast_paths", module);
    Py_DECREF(module);
    if (result < 0)
        PyErr_Clear();
    return result;
}
