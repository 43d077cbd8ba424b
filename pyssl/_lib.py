"""The compiled binding, loaded once, and what this OpenSSL supports.

Every other module reaches OpenSSL through ``ffi`` and ``lib`` from here.
"""

from __future__ import annotations

try:
    from pyssl._openssl import ffi, lib
except ModuleNotFoundError as exc:  # pragma: no cover - depends on how pyssl was run
    if exc.name != "pyssl._openssl":
        raise  # cffi's _cffi_backend, say: its own message names it
    import os as _os

    raise ImportError(
        f"pyssl's compiled binding (pyssl._openssl) is missing from "
        f"{_os.path.dirname(__file__)}: this looks like the source tree, which "
        "shadows an installed pyssl when Python runs from the checkout. Run "
        "from another directory (or use the `pyssl` command), or compile the "
        "binding in place with `python _native/build.py`."
    ) from exc

__all__ = ["fast_paths", "ffi", "lib"]

OPENSSL_VERSION_NUMBER: int = lib.OpenSSL_version_num()
OPENSSL_VERSION: str = ffi.string(lib.OpenSSL_version(lib.OPENSSL_VERSION)).decode(
    "ascii"
)


def _version_info(number: int) -> tuple[int, int, int, int, int]:
    # OpenSSL 3 packs MNN00PP0L: major, minor, patch; fix and status are
    # kept for the stdlib's five-tuple shape.
    status = number & 0xF
    number >>= 4
    patch = number & 0xFF
    number >>= 8
    fix = number & 0xFF
    number >>= 8
    minor = number & 0xFF
    number >>= 8
    major = number & 0xFF
    return (major, minor, fix, patch, status)


OPENSSL_VERSION_INFO = _version_info(OPENSSL_VERSION_NUMBER)
# The version the binding was compiled against (the stdlib's _OPENSSL_API_VERSION).
OPENSSL_API_VERSION = _version_info(lib.OPENSSL_VERSION_NUMBER)

# The ex_data slot the I/O helpers count handshakes in (see helpers.h);
# allocated once, before any connection exists.
if lib.pyssl_init_handshake_tracking() < 0:  # pragma: no cover - out of memory
    raise MemoryError("cannot allocate an OpenSSL ex_data index")

# CPython entry points for the calls made per record (MemoryBIO's C half,
# a connection's read and write; see fast_paths.h): one module, made by the
# binding and registered as pyssl._fast_paths.
if lib.pyssl_register_fast_paths() < 0:  # pragma: no cover - out of memory
    raise ImportError("cannot create pyssl._fast_paths")
import pyssl._fast_paths as fast_paths  # noqa: E402

HAS_SNI = True
HAS_ALPN = True
HAS_NEVER_CHECK_COMMON_NAME = True
HAS_TLS_UNIQUE = True
HAS_SSLv2 = False
HAS_NPN = bool(lib.PYSSL_HAS_NPN)
HAS_ECDH = bool(lib.PYSSL_HAS_ECDH)
HAS_SSLv3 = bool(lib.PYSSL_HAS_SSLv3)
HAS_TLSv1 = bool(lib.PYSSL_HAS_TLSv1)
HAS_TLSv1_1 = bool(lib.PYSSL_HAS_TLSv1_1)
HAS_TLSv1_2 = bool(lib.PYSSL_HAS_TLSv1_2)
HAS_TLSv1_3 = bool(lib.PYSSL_HAS_TLSv1_3)
HAS_PSK = bool(lib.PYSSL_HAS_PSK)
HAS_PSK_TLS13 = bool(lib.PYSSL_HAS_PSK_TLS13)
HAS_PHA = bool(lib.PYSSL_HAS_PHA)
# What pyssl adds to the stdlib's API (docs/additions.md).
HAS_VERIFY_CALLBACK = True
HAS_CERTS_FROM_MEMORY = True
HAS_OCSP_STAPLING = bool(lib.PYSSL_HAS_OCSP)
# Beyond the stdlib (docs/additions.md): OpenSSL 3 always has exporters;
# early data and key updates come with TLS 1.3.
HAS_KEYING_MATERIAL_EXPORTER = True
HAS_EARLY_DATA = bool(lib.PYSSL_HAS_EARLY_DATA)
HAS_KEY_UPDATE = HAS_TLSv1_3
