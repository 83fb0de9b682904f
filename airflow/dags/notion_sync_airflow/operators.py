"""Operators that run notion-sync and apply its exit-code contract to Airflow's retries.

Exit 75 (transient: Notion kept failing or throttling, or a write conflict) fails the try and leaves the
retry to Airflow. Every other non-zero exit (1 partial, 2 usage/config, 3 auth, 70 internal) fails the task at
once: a rerun would fail the same way. A failure without an exit code (the process or pod never ran to
completion) is left to Airflow's retries as well.
"""

from __future__ import annotations

from typing import Any

from notion_sync_airflow.compat import AirflowFailException, AirflowSkipException, BashOperator

RETRYABLE_EXIT_CODES = frozenset({75})

EXIT_CODES = {
    1: "some databases failed",
    2: "usage or configuration error",
    3: "authentication or permission",
    70: "internal error",
    75: "transient",
}


class ExitCodeRetryMixin:
    """Turn a failure with a non-retryable exit code into `AirflowFailException` (no retry)."""

    def last_exit_code(self) -> int | None:
        """Exit code of the binary in the try that just ran, or None when it did not exit."""
        raise NotImplementedError

    def execute(self, context: Any) -> Any:
        try:
            return super().execute(context)
        except (AirflowFailException, AirflowSkipException):
            raise
        except Exception as exc:
            code = self.last_exit_code()
            if code is None or code in RETRYABLE_EXIT_CODES:
                raise
            meaning = EXIT_CODES.get(code, "unexpected exit code")
            raise AirflowFailException(f"notion-sync exited with {code} ({meaning}); not retried") from exc


class NotionSyncBashOperator(ExitCodeRetryMixin, BashOperator):
    """BashOperator running the notion-sync binary of the worker (`$NOTION_SYNC_BIN`, else `notion-sync`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("skip_on_exit_code", None)
        kwargs.setdefault("append_env", True)
        super().__init__(**kwargs)

    def last_exit_code(self) -> int | None:
        process = self.subprocess_hook.sub_process
        return process.returncode if process is not None else None
