"""The context's certificates: the chain and key it proves itself with,
the CA certificates it trusts, and how it verifies the peer's (verify mode
and flags, host name checks, post-handshake authentication, the verify
callback, OCSP stapling).

``CertificateSettings`` is a base of ``_SSLContext`` (``_context.py``); the
functions below read files, PEM and DER into an SSL_CTX for it. Failures
are the stdlib's: ``OSError`` for a file the system could not read,
``SSLError`` for what OpenSSL could not parse, ``TypeError``/``ValueError``
for bad arguments.

docs/internals.md says how this fits with the rest.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pyssl import _cert_callbacks, _trust_store
from pyssl._arguments import as_c_int, as_unsigned_long_mask
from pyssl._callbacks import PasswordSource
from pyssl._enums import VerifyMode, _SSLMethod
from pyssl._errors import clear_queue, error_from_queue, numbered_error
from pyssl._lib import HAS_OCSP_STAPLING, ffi, lib

_CERT_NONE = int(VerifyMode.CERT_NONE)
_CERT_OPTIONAL = int(VerifyMode.CERT_OPTIONAL)
_CERT_REQUIRED = int(VerifyMode.CERT_REQUIRED)

_VERIFY_MODE_TO_OPENSSL = {
    _CERT_NONE: lib.SSL_VERIFY_NONE,
    _CERT_OPTIONAL: lib.SSL_VERIFY_PEER,
    _CERT_REQUIRED: lib.SSL_VERIFY_PEER | lib.SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
}

# SSL_CTX_set_tlsext_status_type(): the client asks for no status.
_STATUS_TYPE_NOTHING = -1


def _require_ocsp() -> None:
    if not HAS_OCSP_STAPLING:
        raise NotImplementedError("OCSP stapling is not supported by this OpenSSL")


class CertificateSettings:
    """The SSLContext attributes and methods about certificates."""

    _ctx_ptr: Any
    _key: Any
    _protocol: int
    _check_hostname: bool
    _post_handshake_auth: bool
    _verify_callback: Callable[[Any, int, int, bool], Any] | None = None
    # A server's staple: bytes, a callable, or None (see set_ocsp_response).
    _ocsp_response: Any = None
    _check_ocsp_response = False

    # ---- verification ------------------------------------------------------

    def _set_verify_mode(self, mode: int) -> None:
        # The verify callback (set_verify_callback()) stays, as in the stdlib.
        callback = lib.SSL_CTX_get_verify_callback(self._ctx_ptr)
        lib.SSL_CTX_set_verify(self._ctx_ptr, _VERIFY_MODE_TO_OPENSSL[mode], callback)

    @property
    def verify_mode(self) -> int:
        """Whether to verify the peer's certificate (a CERT_* value)."""
        mode = lib.SSL_CTX_get_verify_mode(self._ctx_ptr)
        if not mode & lib.SSL_VERIFY_PEER:
            return _CERT_NONE
        if mode & lib.SSL_VERIFY_FAIL_IF_NO_PEER_CERT:
            return _CERT_REQUIRED
        return _CERT_OPTIONAL

    @verify_mode.setter
    def verify_mode(self, value: Any) -> None:
        mode = as_c_int(value)
        if mode not in _VERIFY_MODE_TO_OPENSSL:
            raise ValueError("invalid value for verify_mode")
        if mode == VerifyMode.CERT_NONE and self._check_hostname:
            raise ValueError(
                "Cannot set verify_mode to CERT_NONE when check_hostname is enabled."
            )
        self._set_verify_mode(mode)

    @property
    def check_hostname(self) -> bool:
        """Whether the peer's certificate must match ``server_hostname``."""
        return self._check_hostname

    @check_hostname.setter
    def check_hostname(self, value: Any) -> None:
        check = bool(value)
        if check and lib.SSL_CTX_get_verify_mode(self._ctx_ptr) == lib.SSL_VERIFY_NONE:
            self._set_verify_mode(VerifyMode.CERT_REQUIRED)
        self._check_hostname = check

    @property
    def verify_flags(self) -> int:
        """The certificate verification flags (VERIFY_* bits)."""
        param = lib.SSL_CTX_get0_param(self._ctx_ptr)
        return lib.X509_VERIFY_PARAM_get_flags(param)

    @verify_flags.setter
    def verify_flags(self, value: int) -> None:
        new = as_unsigned_long_mask(value)
        param = lib.SSL_CTX_get0_param(self._ctx_ptr)
        current = lib.X509_VERIFY_PARAM_get_flags(param)
        to_clear = current & ~new
        to_set = ~current & new
        if to_clear and not lib.X509_VERIFY_PARAM_clear_flags(param, to_clear):
            raise error_from_queue("verify_flags")
        if to_set and not lib.X509_VERIFY_PARAM_set_flags(param, to_set):
            raise error_from_queue("verify_flags")

    @property
    def _host_flags(self) -> int:
        """The host name checking flags (HOSTFLAG_* bits)."""
        return lib.X509_VERIFY_PARAM_get_hostflags(
            lib.SSL_CTX_get0_param(self._ctx_ptr)
        )

    @_host_flags.setter
    def _host_flags(self, value: Any) -> None:
        # An unsigned int taken without a range check, as the stdlib's "I".
        flags = as_unsigned_long_mask(value) & 0xFFFFFFFF
        lib.X509_VERIFY_PARAM_set_hostflags(
            lib.SSL_CTX_get0_param(self._ctx_ptr), flags
        )

    @property
    def post_handshake_auth(self) -> bool:
        """Whether TLS 1.3 post-handshake client authentication is enabled."""
        return self._post_handshake_auth

    @post_handshake_auth.setter
    def post_handshake_auth(self, value: Any) -> None:
        self._post_handshake_auth = bool(value)

    # ---- certificates and keys -------------------------------------------

    def load_cert_chain(
        self, certfile: Any, keyfile: Any = None, password: Any = None
    ) -> None:
        """Load a certificate chain and its private key. ``password`` (str,
        bytes, bytearray or a callable returning one) decrypts the key."""
        load_cert_chain(self._ctx_ptr, certfile, keyfile, password)

    def load_verify_locations(
        self, cafile: Any = None, capath: Any = None, cadata: Any = None
    ) -> None:
        """Load CA certificates to verify peers with: a PEM file, a
        directory of hashed PEM files, or PEM text / DER bytes."""
        load_verify_locations(self._ctx_ptr, cafile, capath, cadata)

    def set_default_verify_paths(self) -> None:
        """Load CA certificates from OpenSSL's default locations."""
        if _trust_store.set_default_verify_paths(self._ctx_ptr):
            return
        clear_queue()
        if not lib.pyssl_set_default_verify_paths(self._ctx_ptr):
            raise error_from_queue("set_default_verify_paths")

    def load_dh_params(self, path: Any) -> None:
        """Load Diffie-Hellman parameters for DHE key exchange."""
        load_dh_params(self._ctx_ptr, path)

    # ---- the trust store ------------------------------------------------------

    def _store_certificates(self) -> Iterator[tuple[int, Any]]:
        """(type, X509_OBJECT) of each object of the trust store, from a
        copy taken under the store's lock (see pyssl_store_objects): a
        handshake in another thread may add to the store meanwhile. The
        copy, and the references it holds, live as long as the iteration."""
        # A lazily read file is all in the store before it is read.
        _trust_store.materialize(self._ctx_ptr)
        objects = lib.pyssl_store_objects(self._ctx_ptr)
        if objects == ffi.NULL:
            clear_queue()
            raise MemoryError("failed to query cert store")
        objects = ffi.gc(objects, lib.pyssl_free_store_objects)
        for i in range(lib.sk_X509_OBJECT_num(objects)):
            obj = lib.sk_X509_OBJECT_value(objects, i)
            yield lib.X509_OBJECT_get_type(obj), obj

    def cert_store_stats(self) -> dict[str, int]:
        """Counts of the loaded X.509 certificates, CA certificates and CRLs.
        Certificates in a capath directory are counted once used."""
        x509 = crl = ca = 0
        for kind, obj in self._store_certificates():
            if kind == lib.X509_LU_X509:
                x509 += 1
                if lib.X509_check_ca(lib.X509_OBJECT_get0_X509(obj)):
                    ca += 1
            elif kind == lib.X509_LU_CRL:
                crl += 1
        return {"x509": x509, "crl": crl, "x509_ca": ca}

    def get_ca_certs(self, binary_form: bool = False) -> list[Any]:
        """The loaded CA certificates, as dicts or DER bytes."""
        from pyssl import _certificate_info, _x509

        certs = []
        for kind, obj in self._store_certificates():
            if kind != lib.X509_LU_X509:
                continue
            cert = lib.X509_OBJECT_get0_X509(obj)
            if not lib.X509_check_ca(cert):
                continue
            certs.append(
                _x509.certificate_to_der(cert)
                if binary_form
                else _certificate_info.decode_certificate(cert)
            )
        return certs

    # ---- the verify callback -------------------------------------------------

    def set_verify_callback(
        self, callback: Callable[[Any, int, int, bool], Any] | None
    ) -> None:
        """Call ``callback(certificate, depth, error_code, preverified)`` for
        each certificate of the peer's chain that OpenSSL verifies: the
        trust anchor first (highest depth), the peer's own certificate
        (depth 0) last, and again for a certificate OpenSSL finds a fault
        with. ``certificate`` is a ``Certificate`` (as in
        ``get_verified_chain()``), ``error_code`` OpenSSL's verify error
        (0 when none), ``preverified`` OpenSSL's verdict. The callback's
        truth value is the verdict: true accepts the certificate, false
        fails the handshake with ``SSLCertVerificationError``. An exception
        fails it too, and is raised by the handshake itself, with the
        ``SSLCertVerificationError`` as its cause. None removes the
        callback. A connection uses the callback of the context it was made
        with (not of one an SNI callback switches to); one made while that
        context had no callback calls none."""
        if callback is None:
            self._verify_callback = None
            function = ffi.NULL
        elif not callable(callback):
            raise TypeError("not a callable object")
        else:
            self._verify_callback = callback
            function = lib.pyssl_verify_cb
        lib.SSL_CTX_set_verify(
            self._ctx_ptr, lib.SSL_CTX_get_verify_mode(self._ctx_ptr), function
        )

    # ---- certificates and keys from memory -----------------------------------

    def load_cert_chain_from_memory(
        self,
        certdata: str | bytes | Any,
        keydata: str | bytes | Any = None,
        password: Any = None,
    ) -> None:
        """Load a certificate chain and its private key from memory, as
        ``load_cert_chain()`` loads them from files. ``certdata`` is the
        certificate followed by its intermediates: PEM (``str`` or bytes)
        or DER (bytes of certificates one after another). ``keydata`` is
        the private key, PEM or DER (PKCS#8, encrypted or not, or the key
        type's own format); without it the key is read from ``certdata``.
        Bytes that begin with an ASN.1 SEQUENCE (0x30) are DER. ``password``
        decrypts the key, as for ``load_cert_chain()``. Nothing is written
        to disk."""
        load_cert_chain_from_memory(self._ctx_ptr, certdata, keydata, password)

    # ---- OCSP stapling ------------------------------------------------------------

    def _install_status_callback(self) -> None:
        if self._ocsp_response is not None or self._check_ocsp_response:
            lib.SSL_CTX_set_tlsext_status_cb(self._ctx_ptr, lib.pyssl_ocsp_status_cb)
            lib.SSL_CTX_set_tlsext_status_arg(self._ctx_ptr, self._key)
        else:
            lib.SSL_CTX_set_tlsext_status_cb(self._ctx_ptr, ffi.NULL)

    def set_ocsp_response(self, response: bytes | Callable[[Any], Any] | None) -> None:
        """Server side: staple this DER OCSP response (bytes-like) to every
        handshake whose client asks for one, or, given a callable, call
        ``response(sslsocket_or_sslobject)`` during each such handshake
        for the DER bytes to staple (None staples nothing; an exception
        fails the handshake and is the cause of its ``SSLError``). The
        response is sent as given. None stops stapling."""
        _require_ocsp()
        if self._protocol == _SSLMethod.PROTOCOL_TLS_CLIENT:
            raise ValueError(
                "set_ocsp_response() cannot be used on a TLS_CLIENT context"
            )
        if response is not None and not callable(response):
            response = _cert_callbacks.staple_bytes(response)
        self._ocsp_response = response
        self._install_status_callback()

    @property
    def request_ocsp_response(self) -> bool:
        """Client side: whether to ask the server to staple an OCSP response
        to the handshake (read with ``get_ocsp_response()``)."""
        if not HAS_OCSP_STAPLING:
            return False
        return (
            lib.SSL_CTX_get_tlsext_status_type(self._ctx_ptr)
            == lib.TLSEXT_STATUSTYPE_ocsp
        )

    @request_ocsp_response.setter
    def request_ocsp_response(self, value: Any) -> None:
        _require_ocsp()
        request = bool(value)
        if self._protocol == _SSLMethod.PROTOCOL_TLS_SERVER:
            raise ValueError(
                "request_ocsp_response cannot be set on a TLS_SERVER context"
            )
        if not request and self._check_ocsp_response:
            raise ValueError(
                "Cannot disable request_ocsp_response when check_ocsp_response is enabled."
            )
        status_type = lib.TLSEXT_STATUSTYPE_ocsp if request else _STATUS_TYPE_NOTHING
        lib.SSL_CTX_set_tlsext_status_type(self._ctx_ptr, status_type)

    @property
    def check_ocsp_response(self) -> bool:
        """Client side: whether a stapled OCSP response must vouch for the
        server's certificate. The response is checked against the verified
        chain: signed by the certificate's issuer (or a responder it
        delegated to), current, about this certificate. ``revoked`` fails
        the handshake with ``SSLCertVerificationError`` (``verify_code``
        23, "certificate revoked"), ``unknown`` with 75, a response that
        cannot be trusted with 74. A server that staples nothing passes.
        Setting it also sets ``request_ocsp_response``."""
        return self._check_ocsp_response

    @check_ocsp_response.setter
    def check_ocsp_response(self, value: Any) -> None:
        _require_ocsp()
        check = bool(value)
        if self._protocol == _SSLMethod.PROTOCOL_TLS_SERVER:
            raise ValueError(
                "check_ocsp_response cannot be set on a TLS_SERVER context"
            )
        if check:
            self.request_ocsp_response = True
        self._check_ocsp_response = check
        self._install_status_callback()


# ---- loading into an SSL_CTX ---------------------------------------------------


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
        clear_queue()
        return source.error
    errno = ffi.errno
    if errno:
        clear_queue()
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


def load_cert_chain(
    ctx_ptr: Any, certfile: Any, keyfile: Any = None, password: Any = None
) -> None:
    cert_path = filesystem_path(certfile, "certfile should be a valid filesystem path")
    key_path = cert_path
    if keyfile is not None:
        key_path = filesystem_path(keyfile, "keyfile should be a valid filesystem path")
    with _password_callback(ctx_ptr, password) as source:
        clear_queue()
        ffi.errno = 0
        if lib.SSL_CTX_use_certificate_chain_file(ctx_ptr, cert_path) != 1:
            raise _file_failure(source, "load_cert_chain")
        ffi.errno = 0
        if (
            lib.SSL_CTX_use_PrivateKey_file(ctx_ptr, key_path, lib.SSL_FILETYPE_PEM)
            != 1
        ):
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


def _load_from_memory(
    ctx_ptr: Any, use: Any, data: bytes, der: bool, source: PasswordSource | None
) -> None:
    bio = lib.BIO_new_mem_buf(data, len(data))
    if bio == ffi.NULL:
        raise MemoryError()
    try:
        ok = use(ctx_ptr, bio, der)
    finally:
        lib.BIO_free(bio)
    if ok != 1:
        if source is not None and source.error is not None:
            clear_queue()
            raise source.error
        raise error_from_queue("load_cert_chain_from_memory")


def load_cert_chain_from_memory(
    ctx_ptr: Any, certdata: Any, keydata: Any = None, password: Any = None
) -> None:
    certs, certs_der = _pem_or_der(certdata, "certdata")
    key, key_der = (
        (certs, certs_der) if keydata is None else _pem_or_der(keydata, "keydata")
    )
    with _password_callback(ctx_ptr, password) as source:
        clear_queue()
        _load_from_memory(
            ctx_ptr, lib.pyssl_use_certificate_chain_bio, certs, certs_der, source
        )
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
        if _trust_store.add_data(ctx_ptr, data, pem):
            return
        bio = lib.BIO_new_mem_buf(data, len(data))
        if bio == ffi.NULL:
            raise MemoryError()
        try:
            _add_certs_from_bio(ctx_ptr, bio, pem)
        finally:
            lib.BIO_free(bio)


def _add_certs_from_bio(ctx_ptr: Any, bio: Any, pem: bool) -> None:
    store = lib.SSL_CTX_get_cert_store(ctx_ptr)
    clear_queue()
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
                clear_queue()
            else:
                break
        loaded += 1

    last = lib.ERR_peek_last_error()
    if loaded == 0:
        what = "no start line" if pem else "not enough data"
        raise numbered_error(0, f"{what}: cadata does not contain a certificate")
    # Running out of PEM input ends the loop with "no start line", which
    # only means EOF; DER input ends before any read fails, so any error
    # there is real (trailing garbage, a truncated certificate).
    end_of_pem = (lib.ERR_LIB_PEM, lib.PEM_R_NO_START_LINE)
    if last and not (
        pem and (lib.ERR_GET_LIB(last), lib.ERR_GET_REASON(last)) == end_of_pem
    ):
        raise error_from_queue("load_verify_locations")
    clear_queue()


def load_verify_locations(
    ctx_ptr: Any, cafile: Any = None, capath: Any = None, cadata: Any = None
) -> None:
    if cafile is None and capath is None and cadata is None:
        raise TypeError("cafile, capath and cadata cannot be all omitted")
    cafile_path = ffi.NULL
    capath_path = ffi.NULL
    if cafile is not None:
        cafile_path = filesystem_path(
            cafile, "cafile should be a valid filesystem path"
        )
    if capath is not None:
        capath_path = filesystem_path(
            capath, "capath should be a valid filesystem path"
        )
    if cafile is not None or cadata is not None:
        # What is added goes after all of a lazily read file, as it would.
        _trust_store.materialize(ctx_ptr)
    if cadata is not None:
        add_ca_certs(ctx_ptr, cadata)
    if cafile is not None and _trust_store.load_file(ctx_ptr, cafile_path):
        if capath is None:
            return
        cafile_path = ffi.NULL
    if cafile is not None or capath is not None:
        clear_queue()
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
    clear_queue()
    if not lib.pyssl_load_dh_params(ctx_ptr, bio):
        raise error_from_queue("load_dh_params")
