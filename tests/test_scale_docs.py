"""docs/scale.md: its docker-compose file and Kubernetes Job parse, and say what they claim."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

DOC = Path(__file__).resolve().parent.parent / "docs" / "scale.md"


def _yaml_blocks() -> list[dict]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return [yaml.safe_load(block) for block in blocks]


def test_the_compose_file_runs_workers_postgresql_and_a_dashboard() -> None:
    compose = next(b for b in _yaml_blocks() if "services" in b)
    services = compose["services"]
    assert services["db"]["image"].startswith("postgres")
    assert "max_connections=210" in services["db"]["command"]
    worker = services["worker"]
    assert worker["command"][:2] == ["tuner", "worker"]
    assert worker["deploy"]["replicas"] > 1
    assert worker["environment"]["TUNER_STORAGE"].startswith("postgresql://")
    assert services["run"]["command"][:2] == ["tuner", "run"]
    assert services["dashboard"]["command"][:2] == ["tuner", "dashboard"]
    for service in services.values():
        for needed in service.get("depends_on", {}):
            assert needed in services


def test_the_kubernetes_job_runs_parallel_workers() -> None:
    job = next(b for b in _yaml_blocks() if b.get("kind") == "Job")
    assert job["apiVersion"] == "batch/v1"
    spec = job["spec"]
    assert spec["parallelism"] > 1 and "completions" not in spec
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"][:2] == ["tuner", "worker"]
    env = {e["name"] for e in container["env"]}
    assert {"TUNER_STORAGE", "TUNER_HEARTBEAT_INTERVAL", "TUNER_GRACE_PERIOD"} <= env
