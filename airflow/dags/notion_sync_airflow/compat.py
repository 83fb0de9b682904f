"""Airflow 3 (`airflow.sdk`) imports, with the Airflow 2.x names as fallbacks."""

from __future__ import annotations

try:
    from airflow.sdk import DAG, Asset, BaseOperator, Variable
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    AIRFLOW_3 = True
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.datasets import Dataset as Asset
    from airflow.exceptions import AirflowFailException, AirflowSkipException
    from airflow.models import BaseOperator, Variable

    AIRFLOW_3 = False

try:
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2.x without the standard provider
    from airflow.operators.bash import BashOperator


def bronze_asset(table: str, uri: str) -> Asset:
    """The Asset (Airflow 2: Dataset) of one bronze table."""
    if AIRFLOW_3:
        return Asset(name=table, uri=uri)
    return Asset(uri)


__all__ = [
    "AIRFLOW_3",
    "DAG",
    "AirflowFailException",
    "AirflowSkipException",
    "Asset",
    "BaseOperator",
    "BashOperator",
    "Variable",
    "bronze_asset",
]
