"""Build hook: compile the file watcher's C audit hook into the wheel, when possible.

The compiled hook makes recording which files a cell opens cost a set
insertion per ``open`` instead of a Python call. It is optional: without a
C compiler (or on an interpreter it does not support) the build warns and
produces a pure-Python wheel, whose watcher uses its Python hook.
"""

from __future__ import annotations

import runpy
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUILDER = Path("lineage_magic") / "files" / "_build.py"


class AuditHookBuild(BuildHookInterface):
    """Compile ``lineage_magic/files/_audit.c`` for wheel and editable builds."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Build the module; on any failure keep the wheel pure and say why."""
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        try:
            builder = runpy.run_path(str(root / BUILDER))
            if not builder["supported"]():
                return
            if version == "editable":
                # The package is imported from the source tree: put the module there.
                built = builder["build"](root / BUILDER.parent)
                return
            target = Path(tempfile.mkdtemp(prefix="lineage-magic-wheel-"))
            built = builder["build"](target)
        except Exception as err:  # noqa: BLE001 - the hook is optional; the package works without it
            print(f"lineage_magic: the C audit hook was not built ({err}); "
                  "the file watcher will use its Python hook", file=sys.stderr)
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        build_data["force_include"][str(built)] = str(BUILDER.parent / built.name)
