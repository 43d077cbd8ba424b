"""Build script: compiles pyssl._openssl with cffi (see _native/build.py)."""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "_native"))

from openssl_location import MISSING_HEADERS_MESSAGE, find_openssl, find_problem  # noqa: E402
from stable_abi import wheel_tag  # noqa: E402


class build_ext_checking_openssl(build_ext):
    """Stop with an actionable message, not a compiler error, when the
    OpenSSL development files are missing."""

    def run(self):
        problem = find_problem(find_openssl())
        if problem:
            sys.exit("error: " + MISSING_HEADERS_MESSAGE.format(detail=problem))
        super().run()


class build_py_with_startup_hook(build_py):
    """Also install pyssl-inject.pth at the top of site-packages: with
    PYSSL_INJECT=1 in the environment, every interpreter started there
    calls pyssl.inject_into_stdlib() before running any user code."""

    def run(self):
        super().run()
        self.copy_file(
            "pyssl-inject.pth", os.path.join(self.build_lib, "pyssl-inject.pth")
        )

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [
            os.path.join(self.build_lib, "pyssl-inject.pth")
        ]


# The binding uses the stable ABI (see _native/stable_abi.py): built by
# 3.10 the wheel is tagged cp310-abi3, built by 3.11 or later cp311-abi3,
# and installs on that CPython and later. Free-threaded CPython has no
# stable ABI before 3.15; there the wheel is per version.
abi3_tag = wheel_tag()
abi3_options = {} if abi3_tag is None else {"bdist_wheel": {"py_limited_api": abi3_tag}}

setup(
    cffi_modules=["_native/build.py:ffibuilder"],
    options=abi3_options,
    cmdclass={
        "build_ext": build_ext_checking_openssl,
        "build_py": build_py_with_startup_hook,
    },
)
