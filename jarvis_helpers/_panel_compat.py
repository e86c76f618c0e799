"""Every use of Panel / Bokeh / HoloViews / ipykernel internals, in one place.

The rest of the package uses their public API only. What is here was checked against the
versions in ``CHECKED`` (``tests/test_dashboard.py`` fails when the installed ones differ,
so that each workaround is looked at again):

- ``page_echo``: Panel's notebook page sends every streamed/patched update back to the
  kernel; applied again, a streamed datetime column gets float milliseconds appended.
- ``comms_on_main_thread``: JupyterLab 4.4+ (``commsOverSubshells``, its default) hands a
  message from the page to a kernel *subshell*, a thread of its own, while a cell or a
  periodic callback updates the same Bokeh document on the main thread. Panel's
  ``MimeRenderMixin._on_msg`` is wrapped so that such a message is applied on the kernel's
  main event loop, in arrival order: every document change happens on one thread, whatever
  the JupyterLab setting.
- ``load_notebook_locally`` / local CSS: BokehJS, Panel's JS, es-module-shims and Panel's
  stylesheets (theme, loading.css, dataframe.css, ...) from the Jupyter server (the server
  extension Panel ships serves them under ``panel-preview/static/``), not from a CDN and
  not inlined (6 MB in every saved notebook).
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
CHECKED = {"panel": "1.9.4", "bokeh": "3.9.2", "holoviews": "1.23.2", "ipykernel": "7.4.0"}

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
def main_loop():
    """The kernel's main event loop, once ``comms_on_main_thread`` ran (else None)."""
    return _STATE["loop"]


def comms_on_main_thread() -> bool:
    """From now on, apply Panel messages from the page on this thread's running event loop
    (call it on the kernel's main thread, in a cell). Returns False (and changes nothing)
    when no event loop is running here, e.g. in a script.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    if threading.current_thread() is not threading.main_thread():
        return False
    from panel.viewable import MimeRenderMixin

    _STATE["loop"], _STATE["thread"] = loop, threading.current_thread()
    if _STATE["original"] is None:
        original = MimeRenderMixin._on_msg
        _STATE["original"] = original

        @functools.wraps(original)
        def _on_msg(self, ref, manager, msg):
            target = _STATE["loop"]
            if (target is None or threading.current_thread() is _STATE["thread"]
                    or target.is_closed()):
                return original(self, ref, manager, msg)
            target.call_soon_threadsafe(_apply_logged, original, self, ref, manager, msg)
            return None

        MimeRenderMixin._on_msg = _on_msg
    return True


def _apply_logged(original, self, ref, manager, msg) -> None:
    try:
        original(self, ref, manager, msg)
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
    """Panel's stylesheets (theme, loading.css, dataframe.css, ...) of every pane shown in
    the notebook from now on come from the Jupyter server at ``base``."""
    import panel.viewable as viewable
    from panel.io.notebook import render_mimebundle

    _STATE["base"] = base or jupyter_base_url()
    if _STATE["render"] is None:
        _STATE["render"] = render_mimebundle

        @functools.wraps(render_mimebundle)
        def local(model, doc, comm, manager=None, location=None, resources="cdn"):
            from panel.io.resources import patch_model_css

            bundle = render_mimebundle(model, doc, comm, manager, location, resources="cdn")
            patch_model_css(model, dist_url=f"{_STATE['base']}panel-preview/static/extensions/panel/")
            return bundle

        viewable.render_mimebundle = local


@functools.cache
def _loader_names():
    import holoviews.plotting.renderer as hv_renderer
    import panel.io.notebook as pn_notebook

    return hv_renderer, pn_notebook


def with_local_loader(fn, *args, **kwargs):
    """Call ``fn`` (``pn.extension`` or ``hv.extension``) with Panel's notebook loader
    replaced by ``load_notebook_locally``."""
    modules = _loader_names()
    saved = [m.load_notebook for m in modules]
    for m in modules:
        m.load_notebook = load_notebook_locally
    try:
        return fn(*args, **kwargs)
    finally:
        for m, original in zip(modules, saved):
            m.load_notebook = original


def in_document(doc, fn) -> None:
    """Call ``fn()`` with ``doc`` as Panel's current document (a served session's)."""
    from panel.io.state import set_curdoc

    with set_curdoc(doc):
        fn()
