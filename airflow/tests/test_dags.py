"""DagBag integrity and structure of the notion-sync DAGs, for every runner, without a metadata DB."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from conftest import DATABASES, SECRET
from notion_sync_airflow.config import BRONZE_TABLES, parse

DAG_IDS = ("notion_sync", "notion_sync_full_refresh")
TOKEN_FIELDS = ("env", "env_vars")


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(DAG_IDS) <= set(dagbag.dags)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_tasks_pools_and_schedule(dagbag, runner, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    expected = {"init_tables", *(f"sync_{name}" for name in DATABASES)}
    assert set(dag.task_ids) == expected
    for name, pool in DATABASES.items():
        task = dag.get_task(f"sync_{name}")
        assert task.upstream_task_ids == {"init_tables"}
        assert task.pool == pool
        assert task.retries == (0 if runner == "databricks" else 2)
        assert task.retry_delay == timedelta(seconds=7)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_sync_task_updates_every_bronze_asset(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    for name in DATABASES:
        uris = {asset.uri for asset in dag.get_task(f"sync_{name}").outlets}
        assert uris == {f"file:///tmp/lake/bronze/{table}" for table in BRONZE_TABLES}


def _argv(task) -> str:
    """The command line a task runs, whatever the operator."""
    for attr in ("bash_command", "arguments", "job_parameters"):
        if hasattr(task, attr):
            return str(getattr(task, attr))
    raise AssertionError(f"{task.task_id}: no command field")


def test_full_refresh_only_in_its_dag(dagbag):
    for dag_id in DAG_IDS:
        argv = _argv(dagbag.dags[dag_id].get_task("sync_projects"))
        assert "sync" in argv and "projects" in argv
        assert ("--full-refresh" in argv) == (dag_id == "notion_sync_full_refresh")


def _conn(password: str) -> SimpleNamespace:
    return SimpleNamespace(host="http://127.0.0.1:9", port=None, password=password)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_token_only_in_rendered_environment(dagbag, runner, dag_id):
    context = {
        "conn": SimpleNamespace(notion_default=_conn(SECRET), notion_sales=_conn(SECRET + "_sales")),
        "run_id": "manual__test",
        "params": {},
    }
    for task in dagbag.dags[dag_id].tasks:
        task.render_template_fields(context)
        assert SECRET not in _argv(task)
        if runner == "databricks" or task.task_id == "init_tables":
            assert not any(SECRET in str(getattr(task, f, "")) for f in TOKEN_FIELDS)
        else:
            assert any(SECRET in str(getattr(task, f, "")) for f in TOKEN_FIELDS), task.task_id
            assert "http://127.0.0.1:9" in str(getattr(task, "env", None) or task.env_vars)


@pytest.mark.parametrize(
    "doc, error",
    [
        ({"databases": {}}, "no databases"),
        ({"databases": {"Bad-Name": "x"}}, "names are"),
        ({"databases": {"a": {"connection": "c"}}}, "no id"),
        ({"runner": "docker", "databases": {"a": "x"}}, "expected one of"),
    ],
)
def test_invalid_settings_are_rejected(doc, error):
    with pytest.raises(ValueError, match=error):
        parse(doc)
