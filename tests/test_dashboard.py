"""``tuner dashboard``: optuna-dashboard on our store, answering over HTTP on a free loopback
port."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from click.testing import CliRunner
from conftest import run_tiny_study

from tuner.artifacts import resolve_artifacts_dir
from tuner.cli import cli
from tuner.dashboard import make_dashboard
from tuner.errors import TunerError

ATTRS = ("n_params", "epochs_run", "train_seconds")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("dashboard")
    _, url = run_tiny_study(folder, "dash_study", dataset="iris", trials=2, epochs=1)
    study = optuna.load_study(study_name="dash_study", storage=url)
    return SimpleNamespace(folder=folder, url=url, name="dash_study", study=study)


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


def _json(url: str) -> dict:
    status, kind, body = _get(url)
    assert status == 200 and kind.startswith("application/json")
    return json.loads(body)


def test_dashboard_api_lists_the_study_its_trials_and_their_models(tiny: SimpleNamespace) -> None:
    dash = make_dashboard(tiny.url, study=tiny.name, port=0).start()
    try:
        base = f"http://127.0.0.1:{dash.port}"
        study_id = tiny.study._study_id
        assert dash.url == f"{base}/dashboard/studies/{study_id}"
        status, kind, page = _get(dash.url)
        assert status == 200 and kind.startswith("text/html") and b"<html" in page.lower()

        listed = _json(f"{base}/api/studies")["study_summaries"]
        assert [(s["study_id"], s["study_name"], s["directions"]) for s in listed] == [
            (study_id, tiny.name, ["maximize"])
        ]

        detail = _json(f"{base}/api/studies/{study_id}")
        assert detail["name"] == tiny.name
        stored = {t.number: t for t in tiny.study.trials}
        assert sorted(t["number"] for t in detail["trials"]) == sorted(stored)
        for trial in detail["trials"]:
            attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
            original = stored[trial["number"]]
            for key in ATTRS:
                assert attrs[key] == str(original.user_attrs[key])
            assert trial["state"] == "Complete"
            names = {a["filename"]: a for a in trial["artifacts"]}
            assert set(names) == {"model.keras", "model.json"}
            model = names["model.keras"]
            _, _, body = _get(
                f"{base}/artifacts/{study_id}/{trial['trial_id']}/{model['artifact_id']}"
            )
            assert body == (resolve_artifacts_dir(tiny.url) / model["artifact_id"]).read_bytes()
        assert _json(f"{base}/api/meta")["artifact_is_available"] is True
    finally:
        dash.shutdown()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", dash.port), timeout=2).close()


def _read_line(proc: subprocess.Popen, deadline: float) -> str:
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            return proc.stdout.readline()
        if proc.poll() is not None:
            break
    raise AssertionError(f"no output from tuner dashboard (exit code {proc.poll()})")


def test_cli_prints_the_url_serves_and_stops_on_ctrl_c(
    tiny: SimpleNamespace, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TUNER_OFFLINE": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuner",
            "dashboard",
            "--storage",
            tiny.url,
            "--study",
            tiny.name,
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        first = _read_line(proc, time.monotonic() + 300)  # a busy machine starts slowly
        assert first.startswith(
            f"optuna-dashboard on {tiny.url} at http://127.0.0.1:"
        ) and first.rstrip().endswith(f"/dashboard/studies/{tiny.study._study_id}")
        url = first.split(" at ", 1)[1].strip()
        base = url.split("/dashboard", 1)[0]
        names = [s["study_name"] for s in _json(f"{base}/api/studies")["study_summaries"]]
        assert names == [tiny.name]
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        rest = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "Press Ctrl-C to stop." in rest and rest.rstrip().endswith("Dashboard stopped.")
    assert "Traceback" not in rest


def test_unknown_study_is_refused_before_listening(tiny: SimpleNamespace) -> None:
    result = CliRunner().invoke(cli, ["dashboard", "--storage", tiny.url, "--study", "nope"])
    assert result.exit_code == 1
    assert result.output == "Error: no study 'nope' in the store; stored studies: dash_study\n"


def test_port_in_use(tiny: SimpleNamespace) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(TunerError) as info:
            make_dashboard(tiny.url, port=port)
        assert str(info.value) == (
            f"port {port} on 127.0.0.1 is already in use; choose another with --port (--port "
            "0 picks a free one)"
        )
        result = CliRunner().invoke(cli, ["dashboard", "--storage", tiny.url, "--port", str(port)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: port {port} on 127.0.0.1 is already in use; choose another with --port "
        "(--port 0 picks a free one)\n"
    )
