"""Which CPython build runs this process, and whether ``.venv`` should be made from it.

    python tools/interpreter.py            # this interpreter's build, as JSON
    python tools/interpreter.py --probe    # for tools/pick-python: prints optimized|plain,
                                           # exit 1 if it cannot host the project's .venv

The same CPython release runs this project's requests with about a fifth less CPU when it was
built with profile-guided optimisation and link-time optimisation and its executable is not a
thin launcher of a shared ``libpython`` (docs/decisions/0024-optimised-interpreter.md). The
builds an operator meets:

- a distribution's package (Debian's and Ubuntu's ``/usr/bin/python3.11``): PGO + LTO, the
  interpreter statically linked into the executable -- optimised;
- the official container images and python.org builds: ``--enable-optimizations`` -- optimised;
- a plain source build, which is what pyenv and asdf make unless told otherwise:
  ``-O3`` only, the executable calling into ``libpython3.11.so`` -- plain.

Standard library only: it runs under every candidate interpreter before ``.venv`` exists.
"""

from __future__ import annotations

import json
import sys
import sysconfig
from typing import Any

#: the releases the project runs on (requirements pinned for 3.11; Django 5.2 supports these)
SUPPORTED = ((3, 11), (3, 13))


def libpython_is_shared() -> bool:
    """Whether this process runs the interpreter out of a shared ``libpython`` (a plain source
    build with ``--enable-shared``) rather than out of its own executable."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return any("/libpython" in line for line in maps)
    except OSError:  # not Linux: judge by the build flags alone
        return bool(sysconfig.get_config_var("Py_ENABLE_SHARED"))


def build_info() -> dict[str, Any]:
    """This interpreter: executable, version, and whether it is an optimised build (and why)."""
    config_args = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    shared = libpython_is_shared()
    if "--enable-optimizations" in config_args:
        optimized, why = True, "built with --enable-optimizations (PGO)"
    elif not shared:
        optimized, why = True, "statically linked executable (a distribution's PGO + LTO build)"
    else:
        optimized, why = False, "plain build: no PGO, interpreter in a shared libpython"
    return {
        "executable": sys.executable,
        "version": ".".join(map(str, sys.version_info[:3])),
        "implementation": sys.implementation.name,
        "optimized": optimized,
        "why": why,
    }


def can_host_venv() -> bool:
    """CPython of a supported release, able to create a venv with pip in it."""
    if sys.implementation.name != "cpython":
        return False
    if not SUPPORTED[0] <= sys.version_info[:2] <= SUPPORTED[1]:
        return False
    try:
        import ensurepip  # noqa: F401  # Debian ships it apart (python3.11-venv)
        import venv  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str]) -> int:
    if argv[1:] == ["--probe"]:
        if not can_host_venv():
            return 1
        print("optimized" if build_info()["optimized"] else "plain")
        return 0
    print(json.dumps(build_info(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
