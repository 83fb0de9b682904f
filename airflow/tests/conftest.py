"""Fixtures: an isolated AIRFLOW_HOME, the DAG folder on sys.path, and a DagBag per runner (no metadata DB)."""

from __future__ import annotations

import inspect
import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parent.parent / "dags"
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
sys.path.insert(0, str(DAGS))

SECRET = "ntn_test_secret_token_0123456789"

# Two databases on the default token, one on a second token with its own pool.
SETTINGS = {
    "lakehouse_uri": "/tmp/lake",
    "retries": 2,
    "retry_delay_seconds": 7,
    "databases": {
        "projects": "195de9221179449fab8075a27c979105",
        "tasks": {"id": "295de9221179449fab8075a27c979105"},
        "crm": {"id": "395de9221179449fab8075a27c979105", "connection": "notion_sales"},
    },
}
# Pool per database: the file names the default token's pool; the second one gets notion_api_<connection>.
DATABASES = {
    "projects": "notion_api_default",
    "tasks": "notion_api_default",
    "crm": "notion_api_notion_sales",
}


def load_dagbag(monkeypatch: pytest.MonkeyPatch, runner: str):
    """Parse the DAG folder with the given runner; the settings come from the Variable (as environment)."""
    monkeypatch.setenv("NOTION_SYNC_RUNNER", runner)
    monkeypatch.setenv("AIRFLOW_VAR_NOTION_SYNC_DATABASES", json.dumps(SETTINGS))
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.x
        from airflow.models import DagBag
    kwargs = {"dag_folder": str(DAGS)}
    if "include_examples" in inspect.signature(DagBag).parameters:
        kwargs["include_examples"] = False
    return DagBag(**kwargs)


@pytest.fixture(params=["bash", "kubernetes", "databricks"])
def runner(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def dagbag(monkeypatch: pytest.MonkeyPatch, runner: str):
    return load_dagbag(monkeypatch, runner)
