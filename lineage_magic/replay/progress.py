"""Progress of a long execution: an ipywidgets bar in a notebook, text lines elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def _in_kernel_with_front_end() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class Progress:
    """Counts executed cells; shows a widget in a kernel, else a stderr line every ``every`` cells."""

    def __init__(self, total: int, *, label: str = "replay", every: int = 10, enabled: bool = True,
                 stream: TextIO | None = None) -> None:
        self.total = total
        self.label = label
        self.every = max(1, every)
        self.done = 0
        self.enabled = enabled and total > 0
        self.stream = stream
        self._bar: Any = None
        self._t0 = time.perf_counter()
        if self.enabled and stream is None and _in_kernel_with_front_end():
            self._bar = self._widget()

    def _widget(self) -> Any:
        try:
            import ipywidgets
            from IPython.display import display
        except ImportError:
            return None
        bar = ipywidgets.IntProgress(value=0, min=0, max=self.total, description=self.label,
                                     bar_style="info")
        display(bar)
        return bar

    def cell_executed(self, cell: Any = None, cell_index: int | None = None, execute_reply: Any = None) -> None:
        """One more cell ran (nbclient's ``on_cell_executed`` hook signature)."""
        self.done += 1
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.value = self.done
            if execute_reply is not None and (execute_reply.get("content") or {}).get("status") == "error":
                self._bar.bar_style = "warning"
            return
        if self.done % self.every == 0 or self.done == self.total:
            elapsed = time.perf_counter() - self._t0
            print(f"{self.label}: {self.done}/{self.total} cells ({elapsed:.1f} s)",
                  file=self.stream or sys.stderr, flush=True)

    def close(self, ok: bool = True) -> None:
        """Finish the bar (green when ``ok``)."""
        if self._bar is not None:
            self._bar.bar_style = "success" if ok else "danger"
