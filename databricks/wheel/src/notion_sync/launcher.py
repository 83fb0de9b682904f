"""Entry point of the ``python_wheel_task``: maps job parameters to notion-sync arguments and runs it.

Job parameters arrive as strings (``{{job.parameters.full_refresh}}`` is ``"true"`` or ``"false"``), so the
launcher turns them into the binary's flags. Secrets are read from a Databricks secret scope (through
``dbutils.secrets`` when the job runs on Databricks, else from variables already in the environment) and
handed to the binary in its environment, never on its command line. The binary's exit code becomes the
task's: 0 succeeds, anything else fails the task (and triggers its retries).

Usage (everything after ``--`` goes to notion-sync unchanged)::

    notion-sync [--command sync] [--database NAME]... [--databases a,b] [--full-refresh true|false]
                [--secret-scope SCOPE] [--secret ENV=KEY]... [--env NAME=VALUE]... [-- ARGS...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Mapping, Sequence

#: Exit code for a launcher usage or configuration error (the binary uses the same for its own).
USAGE = 2

#: Secrets read when no ``--secret`` is given: environment variable -> key in the scope.
DEFAULT_SECRETS = {"NOTION_API_KEY": "notion-api-key"}

#: ``--databases`` values that select every database.
ALL = {"", "*", "all"}

SecretReader = Callable[[str, str], str]


class LauncherError(Exception):
    """A problem with the launcher's own parameters or secrets; reported with exit code 2."""


def parse_bool(value: str) -> bool:
    """Parses a job-parameter boolean (``true``/``false``, ``1``/``0``, ``yes``/``no``, empty = false)."""
    v = value.strip().lower()
    if v in {"true", "1", "yes"}:
        return True
    if v in {"false", "0", "no", ""}:
        return False
    raise LauncherError(f"not a boolean: {value!r}")


def parse_pair(value: str, what: str) -> tuple[str, str]:
    """Splits ``NAME=VALUE``."""
    name, sep, rest = value.partition("=")
    if not sep or not name:
        raise LauncherError(f"{what} must look like NAME=VALUE, got {value!r}")
    return name, rest


def parser() -> argparse.ArgumentParser:
    """The launcher's own options."""
    p = argparse.ArgumentParser(prog="notion-sync", description=__doc__.split("\n\n")[0])
    p.add_argument("--command", default="sync", help="notion-sync subcommand (default: sync)")
    p.add_argument("--database", action="append", default=[], help="database this task syncs (repeatable)")
    p.add_argument("--databases", default="", help="job-wide selection, comma-separated; empty = all")
    p.add_argument("--full-refresh", default="false", help="true adds --full-refresh to sync")
    p.add_argument("--secret-scope", default="", help="Databricks secret scope to read secrets from")
    p.add_argument("--secret", action="append", default=[], help="ENV=KEY: scope key into variable ENV")
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE: non-secret setting")
    return p


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separates the launcher's options from the pass-through arguments after ``--``."""
    argv = list(argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def selected(task_databases: Sequence[str], selection: str) -> list[str] | None:
    """The task's databases the job-wide selection keeps; ``None`` when it keeps none of them."""
    wanted = {d.strip() for d in selection.split(",") if d.strip()}
    if selection.strip().lower() in ALL:
        return list(task_databases)
    if not task_databases:
        return sorted(wanted)
    kept = [d for d in task_databases if d in wanted]
    return kept or None


def binary_args(opts: argparse.Namespace, databases: Sequence[str], passthrough: Sequence[str]) -> list[str]:
    """notion-sync's command line: global pass-through options first, then the subcommand and its flags."""
    args = [*passthrough, opts.command]
    if opts.command == "sync":
        for name in databases:
            args += ["--database", name]
        if parse_bool(opts.full_refresh):
            args.append("--full-refresh")
    return args


def dbutils_secret_reader(env: Mapping[str, str]) -> SecretReader | None:
    """``dbutils.secrets.get`` when running on Databricks (which sets ``DATABRICKS_RUNTIME_VERSION``, on
    classic and serverless compute alike), else ``None``."""
    if not env.get("DATABRICKS_RUNTIME_VERSION"):
        return None
    try:
        from databricks.sdk.runtime import dbutils  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001 - any failure means: not on a Databricks runtime
        return None
    return lambda scope, key: dbutils.secrets.get(scope=scope, key=key)


def child_env(
    opts: argparse.Namespace, base: Mapping[str, str], read_secret: SecretReader | None
) -> dict[str, str]:
    """The binary's environment: ``base``, then ``--env`` settings, then the secrets."""
    env = dict(base)
    for item in opts.env:
        name, value = parse_pair(item, "--env")
        env[name] = value
    secrets = dict(parse_pair(s, "--secret") for s in opts.secret) or DEFAULT_SECRETS
    for var, key in secrets.items():
        if opts.secret_scope and read_secret is not None:
            try:
                env[var] = read_secret(opts.secret_scope, key)
            except Exception as e:  # noqa: BLE001 - the SDK raises several types; the message is enough
                raise LauncherError(f"cannot read secret {key!r} from scope {opts.secret_scope!r}: {e}") from e
        elif not env.get(var):
            raise LauncherError(f"{var} is not set and no secret scope is readable (key {key!r})")
    return env


def locate_binary(env: Mapping[str, str]) -> Path:
    """The binary: ``$NOTION_SYNC_BIN``, else the one in this package (copied to an executable place
    when the installed file lost its execute bit or sits on a ``noexec`` mount)."""
    if env.get("NOTION_SYNC_BIN"):
        return Path(env["NOTION_SYNC_BIN"])
    packaged = Path(__file__).with_name("bin") / "notion-sync"
    if not packaged.is_file():
        raise LauncherError(f"the wheel carries no binary at {packaged}")
    if os.access(packaged, os.X_OK):
        return packaged
    target = Path(tempfile.mkdtemp(prefix="notion-sync-")) / "notion-sync"
    shutil.copyfile(packaged, target)
    target.chmod(target.stat().st_mode | stat.S_IXUSR)
    return target


def exit_code(returncode: int) -> int:
    """The process exit code for a child's return code (a signal ``n`` becomes ``128 + n``)."""
    return 128 - returncode if returncode < 0 else returncode


def run(argv: Sequence[str], base_env: Mapping[str, str], read_secret: SecretReader | None) -> int:
    """Runs notion-sync for ``argv`` (the task's parameters) and returns the exit code."""
    own, passthrough = split_argv(argv)
    try:
        opts = parser().parse_args(own)
        databases = selected(opts.database, opts.databases)
        if databases is None:
            print(f"notion-sync: {', '.join(opts.database)} not selected by --databases; nothing to do")
            return 0
        args = binary_args(opts, databases, passthrough)
        env = child_env(opts, base_env, read_secret)
        binary = locate_binary(env)
    except LauncherError as e:
        print(f"error: {e}", file=sys.stderr)
        return USAGE
    sys.stdout.flush()
    return exit_code(subprocess.run([str(binary), *args], env=env, check=False).returncode)


def main() -> None:
    """Console-script entry point: returns on success, raises ``SystemExit`` with the failing exit code
    (Databricks marks the task failed)."""
    code = run(sys.argv[1:], os.environ, dbutils_secret_reader(os.environ))
    if code:
        sys.exit(code)
