"""Offline validation of the Databricks bundle, without a workspace or the Databricks CLI.

For every target of ``databricks.yml`` and every job file under ``resources/`` (included or not), it
substitutes the bundle's ``${...}`` references, builds the ``databricks.bundles.jobs.Job`` model (which
rejects unknown fields, wrong types and bad enum values), and checks what the model does not: task and
environment/cluster references, wheel paths, and that the wheel task's package and entry point exist in
``wheel/pyproject.toml``.

Usage: python validate_bundle.py [path/to/databricks.yml]
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml
from databricks.bundles.jobs import Job

REF = re.compile(r"\$\{([a-z_]+(?:\.[A-Za-z0-9_]+)+)\}")


def substitute(node: Any, values: dict[str, str], errors: list[str], where: str) -> Any:
    """``node`` with every ``${name}`` replaced from ``values``; unknown names are recorded."""
    if isinstance(node, dict):
        return {k: substitute(v, values, errors, where) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, values, errors, where) for v in node]
    if not isinstance(node, str):
        return node

    def one(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            errors.append(f"{where}: unknown reference ${{{m.group(1)}}}")
            return m.group(0)
        return values[m.group(1)]

    text = REF.sub(one, node)
    return int(text) if REF.fullmatch(node) and text.isdigit() else text


def references(bundle: dict[str, Any], target: str, errors: list[str]) -> dict[str, str]:
    """The values ``${...}`` resolve to in ``target`` (workspace paths are placeholders)."""
    values = {
        "bundle.name": bundle["bundle"]["name"],
        "bundle.target": target,
        "workspace.file_path": f"/Workspace/Users/someone/.bundle/{bundle['bundle']['name']}/{target}/files",
        "workspace.artifact_path": f"/Workspace/Users/someone/.bundle/{bundle['bundle']['name']}/{target}/artifacts",
    }
    overrides = (bundle.get("targets", {}).get(target) or {}).get("variables", {})
    for name, spec in bundle.get("variables", {}).items():
        value = overrides.get(name, spec.get("default"))
        if value is None:
            errors.append(f"target {target}: variable {name} has no default and no value")
            continue
        values[f"var.{name}"] = str(value)
    return values


def check_job(key: str, spec: dict[str, Any], file: Path, wheel: dict[str, Any], errors: list[str]) -> None:
    """Builds the Job model and checks the cross references of ``spec``."""
    where = f"{file.name}: job {key}"
    try:
        Job.from_dict(spec)
    except Exception as e:  # noqa: BLE001 - the models raise several exception types
        errors.append(f"{where}: {e}")
        return
    tasks = {t["task_key"]: t for t in spec.get("tasks", [])}
    envs = {e["environment_key"] for e in spec.get("environments", [])}
    clusters = {c["job_cluster_key"] for c in spec.get("job_clusters", [])}
    params = {p["name"] for p in spec.get("parameters", [])}
    scripts = wheel["project"].get("scripts", {})
    for tk, task in tasks.items():
        here = f"{where} task {tk}"
        for dep in task.get("depends_on", []):
            if dep["task_key"] not in tasks:
                errors.append(f"{here}: depends on unknown task {dep['task_key']}")
        if "environment_key" in task and task["environment_key"] not in envs:
            errors.append(f"{here}: unknown environment {task['environment_key']}")
        if "job_cluster_key" in task and task["job_cluster_key"] not in clusters:
            errors.append(f"{here}: unknown job cluster {task['job_cluster_key']}")
        if ("environment_key" in task) == ("job_cluster_key" in task):
            errors.append(f"{here}: needs exactly one of environment_key (serverless) and job_cluster_key")
        wheel_task = task.get("python_wheel_task")
        if wheel_task:
            if wheel_task["package_name"] != "notion_sync" or wheel_task["entry_point"] not in scripts:
                errors.append(f"{here}: package/entry point not in wheel/pyproject.toml")
            for p in wheel_task.get("parameters", []):
                for name in re.findall(r"\{\{job\.parameters\.([A-Za-z0-9_]+)\}\}", p):
                    if name not in params:
                        errors.append(f"{here}: unknown job parameter {name}")
        whls = [lib["whl"] for lib in task.get("libraries", []) if "whl" in lib]
        check_wheel_paths(whls, file, here, errors)
    for env in spec.get("environments", []):
        check_wheel_paths(env["spec"].get("dependencies", []), file, f"{where} environment", errors)


def check_wheel_paths(paths: list[str], file: Path, where: str, errors: list[str]) -> None:
    """Local wheel globs must point into the wheel project's dist/ folder."""
    for p in paths:
        if p.endswith(".whl") and not (file.parent / p).parent.parent.joinpath("pyproject.toml").is_file():
            errors.append(f"{where}: {p} is not <wheel project>/dist/*.whl")


def validate(bundle_file: Path) -> list[str]:
    """All problems found in the bundle rooted at ``bundle_file``."""
    root = bundle_file.parent
    bundle = yaml.safe_load(bundle_file.read_text())
    wheel = tomllib.loads((root / "wheel" / "pyproject.toml").read_text())
    errors: list[str] = []
    included = {p for pattern in bundle.get("include", []) for p in root.glob(pattern)}
    if not included:
        errors.append("include matches no file")
    for artifact in bundle.get("artifacts", {}).values():
        if not (root / artifact["path"] / "pyproject.toml").is_file():
            errors.append(f"artifact path {artifact['path']} has no pyproject.toml")
    files = sorted(root.glob("resources/**/*.yml"))
    for target in bundle.get("targets", {}):
        values = references(bundle, target, errors)
        for file in files:
            doc = substitute(yaml.safe_load(file.read_text()), values, errors, f"{file.name} ({target})")
            for key, spec in doc.get("resources", {}).get("jobs", {}).items():
                check_job(key, spec, file, wheel, errors)
    return sorted(set(errors))


def main() -> int:
    """Prints the problems and returns 1 when there are any."""
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("databricks.yml"))
    errors = validate(path)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if not errors:
        print(f"{path}: bundle valid (jobs built with databricks-bundles models)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
