"""Only exit 75 is left to Airflow's retries; any other non-zero exit fails the task at once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from notion_sync_airflow.compat import AirflowFailException
from notion_sync_airflow.operators import NotionSyncBashOperator


def run(code: int) -> None:
    NotionSyncBashOperator(task_id=f"exit_{code}", bash_command=f"exit {code}", retries=3).execute({})


def test_exit_0_succeeds():
    run(0)


def test_exit_75_is_retried():
    with pytest.raises(Exception) as failure:
        run(75)
    assert not isinstance(failure.value, AirflowFailException)


@pytest.mark.parametrize("code", [1, 2, 3, 70, 99])
def test_other_exit_codes_are_not_retried(code):
    with pytest.raises(AirflowFailException, match=f"exited with {code}"):
        run(code)


@pytest.mark.parametrize("code, retried", [(75, True), (3, False), (None, True)])
def test_pod_exit_code_decides(monkeypatch, code, retried):
    pod_module = pytest.importorskip("airflow.providers.cncf.kubernetes.operators.pod")
    from notion_sync_airflow.pod import NotionSyncPodOperator

    def failing_execute(self, context):
        self._exit_code = code
        raise RuntimeError("pod failed")

    monkeypatch.setattr(pod_module.KubernetesPodOperator, "execute", failing_execute)
    op = NotionSyncPodOperator(task_id="pod", image="notion-sync:latest", arguments=["sync"])
    with pytest.raises(Exception) as failure:
        op.execute({})
    assert isinstance(failure.value, AirflowFailException) is not retried


@pytest.mark.parametrize("state, code", [("terminated", 75), ("terminated", 3), (None, None)])
def test_pod_exit_code_is_read_from_the_base_container(monkeypatch, state, code):
    pod_module = pytest.importorskip("airflow.providers.cncf.kubernetes.operators.pod")
    from notion_sync_airflow.pod import NotionSyncPodOperator

    monkeypatch.setattr(pod_module.KubernetesPodOperator, "cleanup", lambda self, *args, **kwargs: None)
    op = NotionSyncPodOperator(task_id="pod", image="notion-sync:latest", arguments=["sync"])
    terminated = SimpleNamespace(exit_code=code) if state else None
    sidecar = SimpleNamespace(name="sidecar", state=SimpleNamespace(terminated=SimpleNamespace(exit_code=0)))
    base = SimpleNamespace(name=op.base_container_name, state=SimpleNamespace(terminated=terminated))
    remote_pod = SimpleNamespace(status=SimpleNamespace(container_statuses=[sidecar, base]))
    op.cleanup(None, remote_pod)
    assert op.last_exit_code() == code
