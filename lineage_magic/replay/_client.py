"""The nbclient client used by replay and ``lineage-magic run``.

Imported lazily (it imports nbclient). It adds three things to ``NotebookClient``:

* each execute request carries the notebook cell id in its metadata
  (``cellId``, as JupyterLab sends it), so the recorder in the kernel stores
  ``Cell.notebook_cell_id``. nbclient 0.10/0.11 do not send it themselves;
* the kernel's exit is noticed within 10 ms. jupyter_client polls for it every
  100 ms, and the kernel, which finishes writing the run as it exits, often
  misses a tick by a few milliseconds: a tenth of a second lost per notebook;
* ``serve_writer``: the kernel's lineage records are written from this
  process, which has the store open already, instead of by a writer process
  the kernel would start (``process_writer.prepare``).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.util import run_sync
from traitlets import Bool, Type

from ..recorder.process_writer import Prepared, prepare

EXIT_POLL_S = 0.01
"""How often a shutting-down kernel is checked for having exited."""


class PromptKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` that notices a kernel's exit within ``EXIT_POLL_S``."""

    async def _async_finish_shutdown(self, waittime: float | None = None, pollinterval: float = EXIT_POLL_S,
                                     restart: bool = False) -> None:
        await super()._async_finish_shutdown(waittime, min(pollinterval, EXIT_POLL_S), restart)

    finish_shutdown = _async_finish_shutdown


class LineageClient(NotebookClient):
    """A NotebookClient that tells the kernel which notebook cell it executes."""

    kernel_manager_class = Type(PromptKernelManager, config=True,
                                help="The kernel manager; its default notices the kernel's exit promptly.")
    serve_writer = Bool(
        False, config=True,
        help="Write the kernel's lineage records from this process (the kernel must run this Python).",
    )
    writer: Prepared | None = None
    _current_cell_id: str | None = None

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        """Launch the kernel; with ``serve_writer``, hand it a writer served from here."""
        prepared = None
        if self.serve_writer and self._runs_this_python():
            prepared = prepare([c.source for c in self.nb.cells if c.cell_type == "code" and c.source.strip()])
        if prepared is not None:
            self.extra_arguments = [*self.extra_arguments, prepared.argument]
            kwargs["pass_fds"] = (*kwargs.get("pass_fds", ()), *prepared.fds)
        self.writer = prepared
        try:
            await super().async_start_new_kernel(**kwargs)
        finally:
            if prepared is not None:
                prepared.release()

    def _runs_this_python(self) -> bool:
        """Whether the kernel runs this interpreter, so that it finds the same libraries."""
        try:
            command = self.km.kernel_spec.argv[0]  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - no kernel spec: let the kernel start its own writer
            return False
        if command in ("python", f"python{sys.version_info[0]}", "python%d.%d" % sys.version_info[:2]):
            return True  # jupyter_client runs these as sys.executable
        return os.path.realpath(command) == os.path.realpath(sys.executable)

    async def async_start_new_kernel_client(self) -> Any:
        """Start the kernel client and make its execute requests carry the cell id."""
        kc = await super().async_start_new_kernel_client()
        client = self

        def execute(code: str, silent: bool = False, store_history: bool = True,
                    user_expressions: dict[str, Any] | None = None, allow_stdin: bool | None = None,
                    stop_on_error: bool = True) -> str:
            content = {
                "code": code,
                "silent": silent,
                "store_history": store_history,
                "user_expressions": user_expressions or {},
                "allow_stdin": kc.allow_stdin if allow_stdin is None else allow_stdin,
                "stop_on_error": stop_on_error,
            }
            metadata = {"cellId": client._current_cell_id} if client._current_cell_id else {}
            msg = kc.session.msg("execute_request", content, metadata=metadata)
            kc.shell_channel.send(msg)
            return msg["header"]["msg_id"]

        kc.execute = execute
        return kc

    async def async_execute_cell(self, cell: Any, cell_index: int, execution_count: int | None = None,
                                 store_history: bool = True) -> Any:
        """Execute one cell, announcing its id to the kernel."""
        self._current_cell_id = cell.get("id")
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        finally:
            self._current_cell_id = None

    # nbclient binds its synchronous wrappers to its own coroutines: rebind to ours.
    start_new_kernel = run_sync(async_start_new_kernel)
    start_new_kernel_client = run_sync(async_start_new_kernel_client)
    execute_cell = run_sync(async_execute_cell)
