"""pyssl: Python's ``ssl`` module on a cffi binding of OpenSSL."""
