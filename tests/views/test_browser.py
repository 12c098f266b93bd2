"""The record view and the lineage graph, rendered from their widget state in headless Chromium.

The page (``browser/page.html``) carries the views' widget state from
``ipywidgets.embed.embed_data`` and loads the widget manager's JavaScript,
``dist/embed.js`` of the npm package ``@jupyter-widgets/html-manager``, from
an HTTP server on 127.0.0.1. Chromium may resolve no other host, so nothing
comes from a CDN. Needs Debian's ``chromium`` and ``npm``: the test skips
without them, except under ``CI=true``, where it fails instead.
"""

from __future__ import annotations

import functools
import html
import json
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from typing import Any, NoReturn

import pytest
from lineage_builder import Lineage, make_cell, node

import lineage_magic.views as views
from lineage_magic.store.models import Artifact, Cell, Edge, LookupNode, Run

pytestmark = pytest.mark.slow

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
HERE = Path(__file__).resolve().parent
PACKAGE = "@jupyter-widgets/html-manager@^1"
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
HOSTILE_SOURCE = f"note = '{SCRIPT}'  # {IMG}\nprint(model, note)"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
    # Every host name fails to resolve: a script or font from a CDN could not load.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def _unavailable(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lineage_magic-tests"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's chromium."""
    found = shutil.which("chromium")
    if found is None:
        _unavailable("chromium not installed (apt-get install chromium)")
    return found


@pytest.fixture(scope="session")
def html_manager() -> Path:
    """The ``dist/`` folder of @jupyter-widgets/html-manager 1.x, installed once per machine."""
    dist = _cache_dir() / "html-manager-1" / "node_modules" / "@jupyter-widgets" / \
        "html-manager" / "dist"
    if (dist / "embed.js").is_file():
        return dist
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm not installed: it fetches @jupyter-widgets/html-manager")
    _cache_dir().mkdir(parents=True, exist_ok=True)
    # Installed beside the cache and renamed into place, so concurrent runs never see half.
    staging = Path(tempfile.mkdtemp(prefix="html-manager-", dir=_cache_dir()))
    try:
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(staging), PACKAGE],
            capture_output=True, text=True, timeout=300, check=False,
        )
        if done.returncode != 0:
            _unavailable(f"npm install {PACKAGE} failed: {done.stderr.strip()[-300:]}")
        try:
            staging.rename(_cache_dir() / "html-manager-1")
        except OSError:
            pass  # another run installed it first; that copy is as good
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    assert (dist / "embed.js").is_file(), f"no dist/embed.js in {PACKAGE}"
    return dist


@pytest.fixture
def hostile_lineage(lineage: Lineage) -> Lineage:
    """The views' lineage plus a cell of ``analysis`` whose source and output are markup."""
    with lineage.store.session(write=True) as s:
        run = s.get(Run, lineage["analysis"])
        cell = make_cell(s, run, 6, HOSTILE_SOURCE)
        s.flush()
        cell.parents.append(s.get(Cell, lineage["c4"]))
        use = node(s, LookupNode, cell, "model", 0)
        s.flush()
        s.add(Edge(source_id=lineage["model"], target_id=use.id, run_id=run.id))
        run.outputs.append(Artifact(kind="value", name=IMG, version=0, run=run, cell=cell))
        s.commit()
        lineage.ids["c6"] = cell.id
    return lineage


class _Quiet(SimpleHTTPRequestHandler):
    requested: list[str]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        type(self).requested.append(self.path)


@pytest.fixture
def serve() -> Iterator[Any]:
    """Serve a folder on 127.0.0.1 (port 0) from a thread; yields a function giving its URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(root: Path) -> tuple[str, list[str]]:
        handler = type("Handler", (_Quiet,), {"requested": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0),
                                     functools.partial(handler, directory=str(root)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", handler.requested

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _page(record: Any, graph: Any, embed_url: str) -> str:
    """The page holding both views as widget views over their embedded widget state."""
    from ipywidgets.embed import embed_data, escape_script

    data = embed_data(views=[record.widget, graph.widget])
    record_spec, graph_spec = data["view_specs"]

    def view(spec: dict[str, Any]) -> str:
        return ('<script type="application/vnd.jupyter.widget-view+json">'
                f"{escape_script(json.dumps(spec))}</script>")

    template = Template((HERE / "browser" / "page.html").read_text())
    return template.substitute(
        title="lineage_magic views", embed_url=embed_url,
        state=escape_script(json.dumps(data["manager_state"], indent=1)),
        record_view=view(record_spec), graph_view=view(graph_spec),
    )


def _run_chromium(chromium: str, profile: Path, url: str, *args: str) -> str:
    done = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
         "--virtual-time-budget=10000", *args, url],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout


def _png_size_and_colours(png: bytes) -> tuple[int, int, int]:
    """Width, height and number of distinct byte values in the pixel data of a PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", png[16:24])
    chunks, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        if png[at + 4:at + 8] == b"IDAT":
            chunks.append(png[at + 8:at + 8 + length])
        at += 12 + length
    return width, height, len(set(zlib.decompress(b"".join(chunks))))


def test_views_render_from_widget_state_in_chromium(
    hostile_lineage: Lineage, chromium: str, html_manager: Path, serve: Any, tmp_path: Path,
) -> None:
    lineage = hostile_lineage
    record = views.show(lineage["analysis"], store=lineage.store)
    graph = views.graph("model", run=lineage["analysis"], depth=2, store=lineage.store)
    site = tmp_path / "site"
    site.mkdir()
    (site / "html-manager").symlink_to(html_manager, target_is_directory=True)
    page = _page(record, graph, "html-manager/embed.js")
    assert "https://" not in page and "http://" not in page.replace("http://www.w3.org", "")
    (site / "index.html").write_text(page)
    base, requested = serve(site)

    dom = _run_chromium(chromium, tmp_path / "profile-dom", f"{base}/index.html", "--dump-dom")
    (tmp_path / "dom.html").write_text(dom)  # kept for a look when an assertion fails

    assert "/html-manager/embed.js" in requested
    # The page's body holds only widget-view references; the head, the state as JSON.
    # Everything below is drawn by the html-manager from that state.
    served_body = page[page.index("<body>"):]
    assert "<svg" not in served_body and "<table" not in served_body and "cells" not in served_body
    body = dom[dom.index("<body>"):]
    assert 'class="widget-subarea"' in body
    for rendered in ("jupyter-widgets", "widget-vbox", "widget-button", "widget-html",
                     "widget-slider", "widget-dropdown"):
        assert rendered in body, rendered
    # The record view of the run.
    assert lineage["analysis"] in body
    assert "<b>cells</b> (6)" in body
    assert "df = pd.read_csv('data.csv')" in body
    assert ">analysis v0</button>" in body and ">model v0</button>" in body
    # The graph of ``model``: its SVG with a labelled node per record.
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="lm-graph"' in body
    for label in ("model = fit(clean)", "clean = df.dropna()", "name: model", "artifact: model v0"):
        assert label in body, label
    assert f'data-kind="cell" data-id="{lineage["c6"]}"' in body
    # Recorded markup stays text: escaped in the DOM, no element made of it, no handler run.
    # (Only the body is searched: the head's state JSON holds the strings raw, in a data
    # script the browser never parses as markup.)
    for payload in (SCRIPT, IMG):
        assert payload not in body
        assert html.escape(payload, quote=False) in body
    assert "<img" not in body.lower()
    assert "data-alerted=" not in dom

    # The mark works: the same page with the payload as markup is marked.
    template = Template((HERE / "browser" / "page.html").read_text())
    (site / "control.html").write_text(template.substitute(
        title="control", embed_url="html-manager/embed.js", state="{}", record_view="",
        graph_view=IMG,
    ))
    control = _run_chromium(chromium, tmp_path / "profile-control", f"{base}/control.html",
                            "--dump-dom")
    assert 'data-alerted="1"' in control

    shot = tmp_path / "widgets.png"
    _run_chromium(chromium, tmp_path / "profile-shot", f"{base}/index.html",
                  f"--screenshot={shot}", "--window-size=1200,900")
    png = shot.read_bytes()
    width, height, colours = _png_size_and_colours(png)
    assert (width, height) == (1200, 900)
    assert len(png) > 10_000 and colours > 50, "the screenshot is (nearly) blank"
