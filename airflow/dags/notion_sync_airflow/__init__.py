"""Helpers of the notion-sync DAGs: settings, operators and the DAG factory."""
