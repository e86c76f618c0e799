"""Every use of Panel / Bokeh / HoloViews / ipykernel internals, in one place.

The rest of the package uses their public API only. What is here was checked against the
versions in ``CHECKED`` (``tests/test_dashboard.py`` fails when the installed ones differ,
so that each workaround is looked at again):

- ``page_echo``: Panel's notebook page sends every streamed/patched update back to the
  kernel; applied again, a streamed datetime column gets float milliseconds appended.
- ``comms_on_main_thread``: JupyterLab 4.4+ (``commsOverSubshells``, its default) hands a
  message from the page to a kernel *subshell*, a thread of its own, while a cell or a
  periodic callback updates the same Bokeh document on the main thread (and prints).
  pyviz_comms' ``JupyterCommJS._handle_open`` / ``_handle_msg`` (what Panel and HoloViews
  plots receive the page's messages through) are wrapped so that such a message is handled
  on the kernel's main event loop, in arrival order: every document change happens on one
  thread, whatever the JupyterLab setting.
- ``load_notebook_locally`` / local CSS: BokehJS, Panel's JS, es-module-shims and Panel's
  stylesheets (theme, loading.css, dataframe.css, ...) from the Jupyter server (the server
  extension Panel ships serves them under ``panel-preview/static/``), not from a CDN and
  not inlined (6 MB in every saved notebook).
- ``ordered_push``: Panel sends an update made before the page has opened its comm on a
  timer of its own (``panel.io.notebook.push``, 0.1 s later, each update separately), so
  updates made around the moment the page connects reached it out of order or not at all
  (notebook 03's scatter missed its second point). Here they wait in one queue per comm and
  leave in the order they were made.
- ``skip_slow_imports``: ``hv.extension`` imports nbformat (for ``hv.archive``), which
  imports jsonschema, which builds rfc3987_syntax's grammars at import: about 1 s of every
  imports cell. Nothing in a notebook validates IRIs, so that optional module is marked
  absent (jsonschema then skips its "iri" format check).
- ``buffer_rows_seen`` (``Buffer._count``) and ``page_waiting`` (``Viewable._comms``).

>>> page_echo({"kind": "ColumnsStreamed"}), page_echo({"kind": "ModelChanged"})
(True, False)
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from importlib.metadata import version

# The versions each workaround below was checked against.
CHECKED = {"panel": "1.9.4", "bokeh": "3.9.2", "holoviews": "1.23.2", "ipykernel": "7.4.0",
           "pyviz_comms": "3.0.6", "jsonschema": "4.26.0"}

# Patch events the page only ever sends back as an echo of the kernel's own update: nothing
# on a JARVIS page lets a user stream or patch data in the browser.
_PAGE_ECHO = ("ColumnsStreamed", "ColumnsPatched")
_STATE: dict = {"loop": None, "thread": None, "original": None, "render": None, "base": None}


def version_changes() -> list[str]:
    """Installed versions that differ from those the workarounds were checked against.

    >>> isinstance(version_changes(), list)
    True
    """
    changes = []
    for name, checked in CHECKED.items():
        installed = version(name)
        if installed != checked:
            changes.append(f"{name} {installed} (checked against {checked})")
    return changes


def page_echo(event) -> bool:
    """True for a patch event the page can only have sent back as an echo."""
    return isinstance(event, dict) and event.get("kind") in _PAGE_ECHO


def drop_page_echo(msg) -> None:
    """Remove the echoed stream/patch events from a comm message from the page, in place.

    >>> msg = {"content": {"events": [{"kind": "ColumnsStreamed"}, {"kind": "ModelChanged"}]}}
    >>> drop_page_echo(msg); msg["content"]["events"]
    [{'kind': 'ModelChanged'}]
    """
    content = msg.get("content") if isinstance(msg, dict) else None
    if isinstance(content, dict) and isinstance(content.get("events"), list):
        content["events"] = [e for e in content["events"] if not page_echo(e)]


def buffer_rows_seen(buffer) -> int:
    """How many rows a HoloViews ``Buffer`` has been sent (it changes on every send)."""
    return buffer._count


def page_waiting(viewable) -> bool:
    """True while a notebook page showing ``viewable`` has not opened its comm yet."""
    comms = getattr(viewable, "_comms", None) or {}
    return any(not getattr(comm, "_comm", True) for comm, _client in comms.values())


# -- messages from the page on the kernel's main thread --------------------------------------
def comms_on_main_thread() -> bool:
    """From now on, handle the page's messages to Panel/HoloViews comms (and their opening)
    on this thread's running event loop, in arrival order (call it on the kernel's main
    thread, in a cell). Returns False (and changes nothing) when no event loop runs here.

    pyviz_comms' ``JupyterCommJS._handle_msg`` also swaps ``sys.stdout`` while it applies a
    message (to show what the handler prints under the plot): on a subshell thread that
    captured whatever the running cell printed at that moment, and showed it under the plot.
    On the main loop it runs between two steps of the cell, never during a print.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    if threading.current_thread() is not threading.main_thread():
        return False
    from pyviz_comms import JupyterCommJS

    _STATE["loop"], _STATE["thread"] = loop, threading.current_thread()
    if _STATE["original"] is None:
        _STATE["original"] = {name: getattr(JupyterCommJS, name)
                              for name in ("_handle_msg", "_handle_open")}
        for name, original in _STATE["original"].items():
            setattr(JupyterCommJS, name, _on_main_loop(original))
    return True


def _on_main_loop(original):
    @functools.wraps(original)
    def handler(self, *args):
        if not call_on_main_loop(_apply_logged, original, self, *args):
            return original(self, *args)
        return None

    return handler


def _apply_logged(original, *args) -> None:
    try:
        original(*args)
    except Exception:  # noqa: BLE001 - the page's message must not kill the loop
        import logging

        logging.getLogger("jarvis").exception("applying a message from the page failed")


def call_on_main_loop(fn, *args) -> bool:
    """Run ``fn(*args)`` on the kernel's main loop when called from another thread (True),
    else do nothing (False): the caller runs it itself."""
    loop = _STATE["loop"]
    if loop is None or threading.current_thread() is _STATE["thread"] or loop.is_closed():
        return False
    loop.call_soon_threadsafe(fn, *args)
    return True


# -- Panel's and Bokeh's resources from the Jupyter server ----------------------------------
def jupyter_base_url() -> str:
    """The Jupyter server's base URL as the kernel can know it (JupyterHub sets it).

    >>> jupyter_base_url().endswith("/")
    True
    """
    base = os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/"
    return base if base.endswith("/") else base + "/"


def local_loader_js(base: str) -> str:
    """Panel's notebook loader with every script URL on the Jupyter server at ``base``."""
    from bokeh.resources import Resources as BokehResources
    from panel.io.notebook import _autoload_js, require_components
    from panel.io.resources import Resources, bundle_resources, set_resource_mode

    with set_resource_mode("server"):
        resources = Resources.from_bokeh(BokehResources(mode="server"), notebook=True)
        bundle = bundle_resources(None, resources, notebook=True)
        configs, requirements, exports, skip_imports = require_components()
        js = _autoload_js(bundle=bundle, configs=configs, requirements=requirements,
                          exports=exports, skip_imports=skip_imports, ipywidget=False,
                          reloading=False, load_timeout=5000)
    return js.replace('"static/', f'"{base}panel-preview/static/')


def load_notebook_locally(inline: bool = False, reloading: bool = False,
                          enable_mathjax=False, load_timeout: int = 5000) -> None:
    """Stands in for ``panel.io.notebook.load_notebook``: the same messages, local URLs."""
    import bokeh.io.notebook
    from IPython.display import publish_display_data
    from panel.io.notebook import LOAD_MIME, PANEL_DIR, PYVIZ_PROXY, _JupyterCommManager, nb_mime_js

    if reloading:
        return
    js = local_loader_js(_STATE["base"] or jupyter_base_url())
    css = (PANEL_DIR / "_templates" / "jupyter.css").read_text(encoding="utf-8")
    shim = '<script type="esms-options">{"shimMode": true}</script>'
    publish_display_data(data={"text/html": f"{shim}<style>{css}</style>"})
    publish_display_data({"application/javascript": js, LOAD_MIME: js})
    bokeh.io.notebook.curstate().output_notebook()
    manager = "\n".join([PYVIZ_PROXY, _JupyterCommManager.js_manager, nb_mime_js])
    publish_display_data(data={LOAD_MIME: manager, "application/javascript": manager})


def serve_resources_locally(base: str | None = None) -> None:
    """Panel's stylesheets (theme, loading.css, dataframe.css, ...) of every pane and
    HoloViews plot shown in the notebook from now on come from the Jupyter server."""
    import holoviews.plotting.renderer as hv_renderer
    import panel.viewable as viewable
    from bokeh.settings import settings
    from panel.io.notebook import render_mimebundle, render_model
    from panel.io.state import state
    from panel.util import edit_readonly

    _STATE["base"] = base or jupyter_base_url()
    # Stylesheets Panel adds to models made later (an update, a new pane) use the same
    # path: "server" resources below the extension's route.
    settings.resources.set_value("server")
    with edit_readonly(state):
        state._rel_path = f"{_STATE['base']}panel-preview"
    if _STATE["render"] is None:
        _STATE["render"] = render_mimebundle

        @functools.wraps(render_mimebundle)
        def local(model, doc, comm, manager=None, location=None, resources="cdn"):
            from panel.io.resources import patch_model_css

            patch_model_css(model, dist_url=f"{_STATE['base']}panel-preview/static/extensions/panel/")
            return render_mimebundle(model, doc, comm, manager, location, resources="cdn")

        @functools.wraps(render_model)
        def local_model(model, comm=None, resources="cdn"):  # a static (embedded) plot
            from panel.io.resources import patch_model_css

            patch_model_css(model, dist_url=f"{_STATE['base']}panel-preview/static/extensions/panel/")
            return render_model(model, comm, resources="cdn")

        viewable.render_mimebundle = local
        hv_renderer.render_mimebundle = local
        hv_renderer.render_model = local_model


def use_local_loader() -> None:
    """From now on ``pn.extension()``, ``hv.extension()`` (and hvplot's import, which calls
    it) load Panel's notebook JavaScript from the Jupyter server."""
    import holoviews.plotting.renderer as hv_renderer
    import panel.io.notebook as pn_notebook

    for module in (hv_renderer, pn_notebook):
        module.load_notebook = load_notebook_locally


# -- updates to a page that has not connected yet, in order ---------------------------------
_PUSH_USERS = ("panel.io.notebook", "panel.reactive", "panel.pane.plot", "panel.pane.base",
               "panel.io.datamodel", "panel.widgets.misc", "holoviews.plotting.plot")
_WAITING: dict = {}  # comm id -> (comm, deque of messages not sent yet)


def ordered_push(doc, comm, binary: bool = True, msg=None) -> None:
    """Stands in for ``panel.io.notebook.push``: the document's pending events go to the
    page now, or, while its comm is not open (or older ones still wait), after the older
    ones, in order."""
    from collections import deque

    from panel.io.notebook import diff, send

    if msg is None:
        msg = diff(doc, binary=binary)
    if msg is None:
        return
    waiting = _WAITING.get(comm.id)
    if comm._comm and waiting is None:
        send(comm, msg)
        return
    if waiting is None:
        waiting = _WAITING[comm.id] = (comm, deque())
        _send_later(comm.id)
    waiting[1].append(msg)


def _send_later(comm_id) -> None:
    from tornado.ioloop import IOLoop

    IOLoop.current().call_later(0.1, _send_waiting, comm_id)


def _send_waiting(comm_id) -> None:
    from panel.io.notebook import send

    comm, queue = _WAITING[comm_id]
    if not comm._comm:
        _send_later(comm_id)
        return
    try:
        while queue:
            send(comm, queue.popleft())
    finally:
        _WAITING.pop(comm_id, None)


def use_ordered_push() -> None:
    """From now on every Panel/HoloViews update to a notebook page goes through
    ``ordered_push``."""
    import importlib

    for name in _PUSH_USERS:
        importlib.import_module(name).push = ordered_push


def skip_slow_imports() -> bool:
    """Mark rfc3987_syntax absent unless jsonschema was already imported (True if done)."""
    import sys

    if "jsonschema" in sys.modules or "rfc3987_syntax" in sys.modules:
        return False
    sys.modules["rfc3987_syntax"] = None  # an import of it raises ImportError, as if absent
    return True


def in_document(doc, fn) -> None:
    """Call ``fn()`` with ``doc`` as Panel's current document (a served session's)."""
    from panel.io.state import set_curdoc

    with set_curdoc(doc):
        fn()
