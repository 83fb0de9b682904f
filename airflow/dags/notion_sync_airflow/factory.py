"""Builds a notion-sync DAG: `init_tables`, then one `sync_<database>` task per configured database."""

from __future__ import annotations

import shlex
from datetime import datetime, timedelta, timezone
from typing import Any

from notion_sync_airflow.compat import DAG, BaseOperator, bronze_asset
from notion_sync_airflow.config import BRONZE_TABLES, Database, Settings
from notion_sync_airflow.operators import NotionSyncBashOperator

START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)
NOTION_API = "https://api.notion.com"


def notion_base_url(conn: Any) -> str:
    """API root from a Connection's host (and port); Notion's own when the host is empty."""
    host = conn.host or NOTION_API
    if "://" not in host:
        host = f"https://{host}"
    return f"{host}:{conn.port}" if conn.port else host


def lake_env(settings: Settings) -> dict[str, str]:
    """Variables every command needs."""
    return {"LAKEHOUSE_URI": settings.lakehouse_uri, "BRONZE_SCHEMA": settings.bronze_schema}


def sync_env(settings: Settings, db: Database) -> dict[str, str]:
    """Variables of one database's sync; the token is rendered from its Connection at run time."""
    conn = f"conn.{db.connection}"
    return {
        **lake_env(settings),
        "NOTION_API_KEY": "{{ %s.password }}" % conn,
        "NOTION_API_BASE_URL": "{{ notion_base_url(%s) }}" % conn,
        "NOTION_SYNC_INTEGRATION_NAME": db.connection,
        db.id_variable: db.id,
    }


def sync_args(db: Database, full_refresh: bool) -> list[str]:
    """notion-sync arguments of one database's sync."""
    return ["--log-format", "json", "sync", "-d", db.name, *(["--full-refresh"] if full_refresh else [])]


def command_task(
    settings: Settings, task_id: str, args: list[str], env: dict[str, str], **kwargs: Any
) -> BaseOperator:
    """One notion-sync invocation with the configured runner."""
    if settings.runner == "bash":
        command = '"${NOTION_SYNC_BIN:-notion-sync}" ' + shlex.join(args)
        return NotionSyncBashOperator(task_id=task_id, bash_command=command, env=env, **kwargs)
    if settings.runner == "kubernetes":
        from notion_sync_airflow.pod import NotionSyncPodOperator

        pod = {"image": "notion-sync:latest", "get_logs": True, **settings.kubernetes}
        name = task_id.replace("_", "-")
        return NotionSyncPodOperator(
            task_id=task_id, name=name, arguments=args, env_vars=env, **pod, **kwargs
        )
    from airflow.providers.databricks.operators.databricks import DatabricksRunNowOperator

    # The job reads the token from its own secret scope, and its own retry settings apply.
    job = {"job_name": "notion-sync", **settings.databricks}
    return DatabricksRunNowOperator(
        task_id=task_id, job_parameters={"args": shlex.join(args)}, retries=0, **job, **kwargs
    )


def build_dag(dag_id: str, settings: Settings, full_refresh: bool) -> DAG:
    """The incremental DAG, or (full_refresh) the one that re-reads everything for formula/rollup freshness."""
    schedule = settings.full_refresh_schedule if full_refresh else settings.schedule
    outlets = [bronze_asset(table, settings.table_uri(table)) for table in BRONZE_TABLES]
    with DAG(
        dag_id=dag_id,
        description="Notion databases into Delta Lake bronze tables"
        + (" (full refresh)" if full_refresh else ""),
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args={
            "retries": settings.retries,
            "retry_delay": timedelta(seconds=settings.retry_delay_seconds),
        },
        user_defined_macros={"notion_base_url": notion_base_url},
        tags=["notion-sync"],
    ) as dag:
        init = command_task(
            settings, "init_tables", ["--log-format", "json", "init-tables"], lake_env(settings)
        )
        for db in settings.databases:
            init >> command_task(
                settings,
                f"sync_{db.name}",
                sync_args(db, full_refresh),
                sync_env(settings, db),
                pool=db.pool,
                outlets=outlets,
            )
    return dag
