"""KubernetesPodOperator running the notion-sync image (its entrypoint is the binary)."""

from __future__ import annotations

from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

from notion_sync_airflow.operators import ExitCodeRetryMixin


class NotionSyncPodOperator(ExitCodeRetryMixin, KubernetesPodOperator):
    """Runs notion-sync in a pod; remembers the container's exit code for the retry rule."""

    _exit_code: int | None = None

    def cleanup(self, pod: Any, remote_pod: Any, *args: Any, **kwargs: Any) -> None:
        statuses = (remote_pod.status.container_statuses if remote_pod and remote_pod.status else None) or []
        base = next((s for s in statuses if s.name == self.base_container_name), None)
        terminated = base.state.terminated if base and base.state else None
        self._exit_code = terminated.exit_code if terminated else None
        super().cleanup(pod, remote_pod, *args, **kwargs)

    def last_exit_code(self) -> int | None:
        return self._exit_code
