"""Loading keys, certificates and trust anchors into an SSL_CTX.

The SSLContext methods ``load_cert_chain``, ``load_verify_locations`` and
``load_dh_params`` delegate here; the exceptions follow the stdlib's:
``OSError`` for a file the system could not read, ``SSLError`` for what
OpenSSL could not parse, ``TypeError``/``ValueError`` for bad arguments.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyssl._callbacks import PasswordSource
from pyssl._errors import SSLError, error_from_queue
from pyssl._lib import ffi, lib


def filesystem_path(value: Any, type_error: str) -> bytes:
    """``value`` as the bytes OpenSSL opens, like PyUnicode_FSConverter."""
    try:
        path = os.fsencode(os.fspath(value))
    except TypeError:
        raise TypeError(type_error) from None
    if b"\0" in path:
        raise ValueError("embedded null byte")
    return path


def _file_failure(source: PasswordSource | None, where: str) -> BaseException:
    """Why an OpenSSL call that read a file failed."""
    if source is not None and source.error is not None:
        lib.ERR_clear_error()
        return source.error
    errno = ffi.errno
    if errno:
        lib.ERR_clear_error()
        return OSError(errno, os.strerror(errno))
    return error_from_queue(where)


@contextmanager
def _password_callback(ctx_ptr: Any, password: Any) -> Iterator[PasswordSource | None]:
    """The context's password callback for one load: ``password`` (str,
    bytes, bytearray or a callable returning one), or, when it is None,
    OpenSSL's own prompt, as documented for the stdlib. Yields the password
    source, whose ``error`` holds what reading the password raised."""
    source = PasswordSource(password) if password is not None else None
    if source is None:
        yield None
        return
    # The handle lives until the callback is uninstalled.
    handle = ffi.new_handle(source)
    lib.SSL_CTX_set_default_passwd_cb(ctx_ptr, lib.pyssl_password_cb)
    lib.SSL_CTX_set_default_passwd_cb_userdata(ctx_ptr, handle)
    try:
        yield source
    finally:
        lib.SSL_CTX_set_default_passwd_cb(ctx_ptr, ffi.NULL)
        lib.SSL_CTX_set_default_passwd_cb_userdata(ctx_ptr, ffi.NULL)


def load_cert_chain(ctx_ptr: Any, certfile: Any, keyfile: Any = None, password: Any = None) -> None:
    cert_path = filesystem_path(certfile, "certfile should be a valid filesystem path")
    key_path = cert_path
    if keyfile is not None:
        key_path = filesystem_path(keyfile, "keyfile should be a valid filesystem path")
    with _password_callback(ctx_ptr, password) as source:
        lib.ERR_clear_error()
        ffi.errno = 0
        if lib.SSL_CTX_use_certificate_chain_file(ctx_ptr, cert_path) != 1:
            raise _file_failure(source, "load_cert_chain")
        ffi.errno = 0
        if lib.SSL_CTX_use_PrivateKey_file(ctx_ptr, key_path, lib.SSL_FILETYPE_PEM) != 1:
            raise _file_failure(source, "load_cert_chain")
        if lib.SSL_CTX_check_private_key(ctx_ptr) != 1:
            raise error_from_queue("load_cert_chain")


# An ASN.1 SEQUENCE tag: DER certificates and keys begin with it, PEM text
# does not.
_DER_SEQUENCE = 0x30


def _pem_or_der(data: Any, name: str) -> tuple[bytes, bool]:
    """(bytes, is DER) for ``certdata``/``keydata``: PEM text, or bytes
    holding PEM or DER."""
    invalid = f"{name} should be an ASCII string or a bytes-like object"
    if isinstance(data, str):
        try:
            return data.encode("ascii"), False
        except UnicodeEncodeError:
            raise TypeError(invalid) from None
    try:
        raw = bytes(memoryview(data))
    except TypeError:
        raise TypeError(invalid) from None
    return raw, raw[:1] == bytes([_DER_SEQUENCE])


def _load_from_memory(ctx_ptr: Any, use: Any, data: bytes, der: bool, source: PasswordSource | None) -> None:
    bio = lib.BIO_new_mem_buf(data, len(data))
    if bio == ffi.NULL:
        raise MemoryError()
    try:
        ok = use(ctx_ptr, bio, der)
    finally:
        lib.BIO_free(bio)
    if ok != 1:
        if source is not None and source.error is not None:
            lib.ERR_clear_error()
            raise source.error
        raise error_from_queue("load_cert_chain_from_memory")


def load_cert_chain_from_memory(ctx_ptr: Any, certdata: Any, keydata: Any = None, password: Any = None) -> None:
    certs, certs_der = _pem_or_der(certdata, "certdata")
    key, key_der = (certs, certs_der) if keydata is None else _pem_or_der(keydata, "keydata")
    with _password_callback(ctx_ptr, password) as source:
        lib.ERR_clear_error()
        _load_from_memory(ctx_ptr, lib.pyssl_use_certificate_chain_bio, certs, certs_der, source)
        _load_from_memory(ctx_ptr, lib.pyssl_use_private_key_bio, key, key_der, source)
        if lib.SSL_CTX_check_private_key(ctx_ptr) != 1:
            raise error_from_queue("load_cert_chain_from_memory")


def _cadata_buffer(cadata: Any) -> tuple[Any, bool]:
    """(buffer, is PEM) for ``cadata``: PEM text or DER bytes."""
    invalid = "cadata should be an ASCII string or a bytes-like object"
    if isinstance(cadata, str):
        try:
            return ffi.from_buffer(cadata.encode("ascii")), True
        except UnicodeEncodeError:
            raise TypeError(invalid) from None
    # A simple buffer request, as the stdlib makes: any C-contiguous
    # buffer is its bytes, whatever its shape; the exporter itself raises
    # BufferError for one that is not contiguous.
    try:
        return ffi.from_buffer(cadata), False
    except TypeError:
        raise TypeError(invalid) from None


def add_ca_certs(ctx_ptr: Any, cadata: Any) -> None:
    """Add every certificate in ``cadata`` to the context's trust store."""
    data, pem = _cadata_buffer(cadata)
    # Released on the way out, error or not: a traceback must not keep the
    # caller's bytearray locked against resizing.
    with data:
        if not len(data):
            raise ValueError("Empty certificate data")
        bio = lib.BIO_new_mem_buf(data, len(data))
        if bio == ffi.NULL:
            raise MemoryError()
        try:
            _add_certs_from_bio(ctx_ptr, bio, pem)
        finally:
            lib.BIO_free(bio)


def _add_certs_from_bio(ctx_ptr: Any, bio: Any, pem: bool) -> None:
    store = lib.SSL_CTX_get_cert_store(ctx_ptr)
    lib.ERR_clear_error()
    loaded = 0
    while True:
        if pem:
            cert = lib.PEM_read_bio_X509(bio, ffi.NULL, ffi.NULL, ffi.NULL)
        elif lib.BIO_ctrl_pending(bio):
            cert = lib.d2i_X509_bio(bio, ffi.NULL)
        else:
            # DER ends where the input does (OpenSSL 3.5.7 queues an error
            # when d2i_X509_bio() is called at the end).
            break
        if cert == ffi.NULL:
            break
        added = lib.X509_STORE_add_cert(store, cert)
        lib.X509_free(cert)
        if not added:
            last = lib.ERR_peek_last_error()
            if (
                lib.ERR_GET_LIB(last) == lib.ERR_LIB_X509
                and lib.ERR_GET_REASON(last) == lib.X509_R_CERT_ALREADY_IN_HASH_TABLE
            ):
                lib.ERR_clear_error()
            else:
                break
        loaded += 1

    last = lib.ERR_peek_last_error()
    if loaded == 0:
        lib.ERR_clear_error()
        what = "no start line" if pem else "not enough data"
        raise SSLError(0, f"{what}: cadata does not contain a certificate")
    # Running out of PEM input ends the loop with "no start line", which
    # only means EOF; DER input ends before any read fails, so any error
    # there is real (trailing garbage, a truncated certificate).
    end_of_pem = (lib.ERR_LIB_PEM, lib.PEM_R_NO_START_LINE)
    if last and not (pem and (lib.ERR_GET_LIB(last), lib.ERR_GET_REASON(last)) == end_of_pem):
        raise error_from_queue("load_verify_locations")
    lib.ERR_clear_error()


def load_verify_locations(ctx_ptr: Any, cafile: Any = None, capath: Any = None, cadata: Any = None) -> None:
    if cafile is None and capath is None and cadata is None:
        raise TypeError("cafile, capath and cadata cannot be all omitted")
    cafile_path = ffi.NULL
    capath_path = ffi.NULL
    if cafile is not None:
        cafile_path = filesystem_path(cafile, "cafile should be a valid filesystem path")
    if capath is not None:
        capath_path = filesystem_path(capath, "capath should be a valid filesystem path")
    if cadata is not None:
        add_ca_certs(ctx_ptr, cadata)
    if cafile is not None or capath is not None:
        lib.ERR_clear_error()
        ffi.errno = 0
        if lib.SSL_CTX_load_verify_locations(ctx_ptr, cafile_path, capath_path) != 1:
            raise _file_failure(None, "load_verify_locations")


def load_dh_params(ctx_ptr: Any, path: Any) -> None:
    # A path only: open() would take an int for a descriptor, and close it.
    try:
        with open(os.fspath(path), "rb") as f:
            data = f.read()
    except OSError as exc:
        exc.filename = path  # as given (a Path stays a Path)
        raise
    bio = ffi.gc(lib.BIO_new_mem_buf(data, len(data)), lib.BIO_free)
    lib.ERR_clear_error()
    if not lib.pyssl_load_dh_params(ctx_ptr, bio):
        raise error_from_queue("load_dh_params")
