"""Build script: compiles pyssl._openssl with cffi (see _native/build.py)."""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "_native"))

from openssl_location import MISSING_HEADERS_MESSAGE, find_openssl, probe_headers  # noqa: E402


class build_ext_checking_openssl(build_ext):
    """Stop with an actionable message, not a compiler error, when the
    OpenSSL development files are missing."""

    def run(self):
        if sys.platform != "win32":
            _, problem = probe_headers(find_openssl().include_dirs)
            if problem:
                sys.exit("error: " + MISSING_HEADERS_MESSAGE.format(detail=problem))
        super().run()


setup(
    cffi_modules=["_native/build.py:ffibuilder"],
    cmdclass={"build_ext": build_ext_checking_openssl},
)
