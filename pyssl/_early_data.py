"""The server's TLS 1.3 early data setting: ``SSLContext.max_early_data``.

``EarlyDataContext`` is a base of ``SSLContext`` (``_context.py``). Reading
and writing early data are connection methods (``_connection_additions.py``);
docs/additions.md says how the pieces fit together.
"""

from __future__ import annotations

from operator import index
from typing import Any

from pyssl._enums import _SSLMethod
from pyssl._lib import lib

_UINT32_MAX = 0xFFFFFFFF


class EarlyDataContext:
    """``max_early_data`` over ``self._ctx_ptr``."""

    _ctx_ptr: Any
    _protocol: Any

    @property
    def max_early_data(self) -> int:
        """How many bytes of early data this server accepts per connection,
        announced in the session tickets it issues; 0 (the default) accepts
        none."""
        return lib.SSL_CTX_get_max_early_data(self._ctx_ptr)

    @max_early_data.setter
    def max_early_data(self, value: Any) -> None:
        size = index(value)
        if size < 0:
            raise ValueError("value must be non-negative")
        if size > _UINT32_MAX:
            raise OverflowError(f"max_early_data must be at most {_UINT32_MAX}")
        if self._protocol == _SSLMethod.PROTOCOL_TLS_CLIENT:
            raise ValueError("SSLContext is not a server context.")
        ctx_ptr = self._ctx_ptr
        lib.SSL_CTX_set_max_early_data(ctx_ptr, size)
        # OpenSSL takes at most recv_max_early_data bytes (16 KiB unless
        # raised) whatever the tickets announced, and aborts connections
        # that send more. It only grows, so that tickets issued under an
        # earlier, larger setting stay usable.
        if size > lib.SSL_CTX_get_recv_max_early_data(ctx_ptr):
            lib.SSL_CTX_set_recv_max_early_data(ctx_ptr, size)
