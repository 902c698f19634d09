"""optuna-dashboard on the study store, with the artifact store wired in (trial models).

Bound to 127.0.0.1 by default: the dashboard can rename and delete studies, so it should not
face a network unless asked (``host``). Each trial's user attributes (``n_params``,
``epochs_run``, ``train_seconds``, ``val_metrics``, ...) show on its page.
"""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from tuner import artifacts as art
from tuner.errors import TunerError
from tuner.storage import mask_url, open_existing_storage, resolve_storage_url
from tuner.studies import open_study

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No line per request on the terminal."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Dashboard:
    """A started (not yet serving) dashboard server: call :meth:`serve_forever` or :meth:`start`."""

    server: WSGIServer
    url: str
    storage: str  # masked
    artifacts: Path | None
    study_id: int | None = None
    _thread: threading.Thread | None = field(
        default=None, repr=False
    )  # set by start(); joined by shutdown()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (from another thread) or Ctrl-C."""
        try:
            self.server.serve_forever(poll_interval=0.2)
        finally:
            self.server.server_close()

    def start(self) -> Dashboard:
        """Serve from a background thread (for tests and notebooks)."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="tuner-dashboard", daemon=True
        )
        self._thread.start()
        return self

    def shutdown(self) -> None:
        self.server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)


def make_dashboard(
    storage: str | None = None,
    *,
    study: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    artifacts: str | os.PathLike[str] | None = None,
) -> Dashboard:
    """Bind optuna-dashboard to ``host:port`` (``port=0``: any free port) on the store.

    With ``study``, the study must exist and the URL opens its page.
    """
    import optuna_dashboard

    study_id = None
    if study is not None:  # it must exist: the URL opens its page
        opened = open_study(study, storage)
        rdb, url_text = opened.storage, opened.url
        study_id = rdb.get_study_id_from_name(opened.study.study_name)
    else:
        url_text = resolve_storage_url(storage)
        rdb = open_existing_storage(url_text)
    folder = art.resolve_artifacts_dir(url_text, artifacts)
    store = art.artifact_store(folder) if folder is not None and folder.is_dir() else None
    app = optuna_dashboard.wsgi(rdb, artifact_store=store)
    try:
        server = make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise TunerError(
                f"port {port} on {host} is already in use; choose another with --port (--port 0 "
                "picks a free one)"
            ) from None
        raise TunerError(
            f"cannot listen on {host}:{port}: {(exc.strerror or str(exc)).lower()}; check --host "
            "and --port"
        ) from None
    bound = int(server.server_address[1])
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/dashboard" + (
        f"/studies/{study_id}" if study_id is not None else ""
    )
    return Dashboard(
        server, url, mask_url(url_text), folder if store is not None else None, study_id
    )


def run_dashboard(
    storage: str | None = None,
    *,
    study: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    artifacts: str | os.PathLike[str] | None = None,
    announce: Any = print,
) -> None:
    """Start the dashboard and serve until Ctrl-C; ``announce`` receives the lines to show."""
    dashboard = make_dashboard(storage, study=study, host=host, port=port, artifacts=artifacts)
    announce(f"optuna-dashboard on {dashboard.storage} at {dashboard.url}")
    if dashboard.artifacts is not None:
        announce(
            f"Trial models from {dashboard.artifacts} are listed under each trial's artifacts."
        )
    if host not in LOOPBACK:
        announce(
            f"Warning: listening on {host}: anyone who can reach this machine can read, rename and "
            "delete the studies."
        )
    announce("Press Ctrl-C to stop.")
    try:
        dashboard.serve_forever()
    except KeyboardInterrupt:
        announce("Dashboard stopped.")
