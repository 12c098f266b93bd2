"""Compile the watcher's C audit hook (``_audit.c``) next to its source.

Optional: without the compiled module the watcher uses its Python hook,
which records the same events at a higher cost per ``open``. Needs
setuptools and a C compiler; imports nothing else of the package, so a
build backend can run it by path::

    python lineage_magic/files/_build.py
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "_audit.c"
MODULE = "lineage_magic.files._audit"


def supported() -> bool:
    """CPython with the GIL: the hook relies on the GIL to guard its state."""
    return sys.implementation.name == "cpython" and not sysconfig.get_config_var("Py_GIL_DISABLED")


def build(target_dir: Path = HERE) -> Path:
    """Compile the module into ``target_dir``; the path of the built file."""
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    with tempfile.TemporaryDirectory(prefix="lineage-magic-build-") as tmp:
        source = Path(tmp) / SOURCE.name
        shutil.copyfile(SOURCE, source)
        extension = Extension(MODULE, [str(source)], optional=False)
        dist = Distribution({"name": "lineage-magic-audit", "ext_modules": [extension]})
        command = build_ext(dist)
        command.build_lib = str(Path(tmp) / "lib")
        command.build_temp = str(Path(tmp) / "temp")
        command.ensure_finalized()
        command.run()
        (built,) = (Path(tmp) / "lib").rglob("_audit*")
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / built.name
        # Replace, never overwrite in place: a running process may have the old file mapped.
        staged = target.with_name(target.name + ".tmp")
        shutil.copyfile(built, staged)
        staged.replace(target)
    return target


if __name__ == "__main__":
    if not supported():
        print("the C audit hook is not supported on this interpreter; the Python hook is used")
        sys.exit(0)
    print(build())
