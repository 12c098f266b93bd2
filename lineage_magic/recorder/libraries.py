"""Library versions of imported modules, looked up off the user's thread."""

from __future__ import annotations

import sys
from typing import Any


class LibraryVersions:
    """Resolve ``module -> (distribution, version)``, caching each answer.

    Called by the writer: the first lookup reads package metadata, which
    takes milliseconds, never on the user's cell. The writer may be another
    process, which cannot see the kernel's modules: ``learn`` takes the
    ``__version__`` the kernel's modules report, used when no installed
    package provides the module.
    """

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, str | None] | None] = {}
        self._distributions: dict[str, list[str]] | None = None
        self._reported: dict[str, str] = {}

    def learn(self, versions: dict[str, str]) -> None:
        """Remember ``top-level module -> __version__`` as the kernel reported it."""
        if versions:
            self._reported.update(versions)

    def resolve(self, module: str) -> tuple[str, str | None] | None:
        """The distribution and version providing ``module``; None for the stdlib."""
        top = module.split(".")[0]
        if top in self._cache:
            return self._cache[top]
        found: tuple[str, str | None] | None
        if top in sys.stdlib_module_names or top in sys.builtin_module_names:
            found = None
        else:
            found = (top, self._version_of(top))
        self._cache[top] = found
        return found

    def version(self, module: str) -> str | None:
        """The version string of the library providing ``module``."""
        found = self.resolve(module)
        return found[1] if found else None

    def library_rows(self, run_id: str | None, modules: list[str]) -> list[dict[str, Any]]:
        """``Library`` rows for the non-stdlib modules among ``modules``."""
        rows = []
        seen = set()
        for module in modules:
            found = self.resolve(module)
            if found is None or found[0] in seen:
                continue
            seen.add(found[0])
            rows.append({"run_id": run_id, "name": found[0][:255], "version": (found[1] or "")[:64] or None})
        return rows

    def _version_of(self, top: str) -> str | None:
        from importlib import metadata  # a few milliseconds to import: only where versions are looked up

        if self._distributions is None:
            self._distributions = metadata.packages_distributions()
        for dist in self._distributions.get(top, []):
            try:
                return metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
        if top in self._reported:
            return self._reported[top]
        return reported_version(top)


def reported_version(top: str) -> str | None:
    """The ``__version__`` of an imported top-level module of this process, if it says."""
    module = sys.modules.get(top)
    version = getattr(module, "__version__", None)
    return str(version)[:64] if version is not None else None
