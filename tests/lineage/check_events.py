"""Validates the OpenLineage events of real `notion-sync sync` runs against the official OpenLineage JSON
schemas (scripts/check-lineage.sh installs them and runs this).

A receiver on 127.0.0.1 collects what the binary POSTs while it syncs a notion-sim workspace: a successful
run with parent and root runs (START, COMPLETE) and a run of a database that is not shared (START, FAIL).
Every event must be valid against the spec's RunEvent schema, and every facet against the schema of that
facet. Then deliberately broken copies of those events must be rejected, so the check is known to fail.

    python check_events.py SCHEMA_DIR NOTION_SYNC_BIN NOTION_SIM_BIN
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

CORE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
RUN_EVENT = f"{CORE_ID}#/$defs/RunEvent"
FACETS = "https://openlineage.io/spec/facets"
# The one facet the connector sends whose schema no registry package ships: its `_producer` and
# `_schemaURL` are checked by the core schema (DatasetFacet), its own field here.
UNSHIPPED = {
    "documentation": (
        f"{FACETS}/1-1-0/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet",
        lambda facet: isinstance(facet.get("description"), str),
    ),
}
# The connector claims ParentRunFacet 1-2-0, as openlineage-python 1.54 does; the package ships 1-1-0. The
# two differ only in the optional `facets` members 1-2-0 adds to `run`, `job`, `root.run` and `root.job`,
# so a parent facet without them that is valid against 1-1-0 is valid against 1-2-0.
NEWER_CLAIMS = {"parent": ("1-1-0", "1-2-0")}
API_KEY = "ol_key_check_lineage"
PARENT = "airflow/notion_dag.sync_task/0191b4c2-9d7e-7a3b-8c4d-5e6f7a8b9c0d"
ROOT = "airflow/notion_dag/0191b4c2-0000-7a3b-8c4d-5e6f7a8b9c0e"


class Schemas:
    """The core schema and the facet schemas of SCHEMA_DIR, resolving each other offline by `$id`."""

    def __init__(self, directory: Path):
        documents = [json.loads(p.read_text()) for p in sorted(directory.glob("**/*.json"))]
        by_id = {d["$id"]: d for d in documents}
        if CORE_ID not in by_id:
            sys.exit(f"check-lineage: no {CORE_ID} in {directory}")
        self.registry = Registry().with_resources((i, Resource.from_contents(d)) for i, d in by_id.items())
        self.checker = Draft202012Validator.FORMAT_CHECKER
        missing = {"date-time", "uri", "uuid"} - set(self.checker.checkers)
        if missing:
            sys.exit(f"check-lineage: jsonschema cannot check the formats {sorted(missing)}")
        self.event = self.validator({"$ref": RUN_EVENT})
        # Facet name → (the facet schema's `$id`, its definition's name, a validator of {name: facet}).
        self.facets = {}
        for doc in documents:
            for name, prop in doc.get("properties", {}).items():
                definition = prop["$ref"].rsplit("/", 1)[1]
                self.facets[name] = (doc["$id"], definition, self.validator(doc))
        print(f"schemas: {CORE_ID} and {len(self.facets)} facets ({', '.join(sorted(self.facets))})")

    def validator(self, schema: dict) -> Draft202012Validator:
        return Draft202012Validator(schema, registry=self.registry, format_checker=self.checker)

    def errors(self, event: dict) -> list[str]:
        """Every way `event` breaks the RunEvent schema or a facet's schema; empty when it is valid."""
        errors = [f"{at(e.absolute_path)}: {e.message}" for e in self.event.iter_errors(event)]
        if event.get("schemaURL") != RUN_EVENT:
            errors.append(f"schemaURL: {event.get('schemaURL')!r} is not {RUN_EVENT}")
        for path, suffix, facets in facet_sets(event):
            for name, facet in facets.items():
                errors += [f"{path}.{name}: {e}" for e in self.facet_errors(name, suffix, facet)]
        return errors

    def facet_errors(self, name: str, suffix: str, facet: dict) -> list[str]:
        if name in UNSHIPPED:
            url, check = UNSHIPPED[name]
            expected = url
            errors = [] if check(facet) else ["its own fields are mistyped or missing"]
        elif name in self.facets:
            schema_id, definition, validator = self.facets[name]
            if name in NEWER_CLAIMS:
                schema_id = schema_id.replace(*NEWER_CLAIMS[name])
            expected = f"{schema_id}#/$defs/{definition}"
            errors = [f"{at(e.absolute_path)}: {e.message}" for e in validator.iter_errors({name: facet})]
            if name == "parent":
                errors += [f"{p} has facets" for p in forwarded_facets(facet)]
        else:
            return ["no schema for this facet"]
        if not expected.rsplit("/", 1)[1].endswith(suffix):
            errors.append(f"a {expected.rsplit('/', 1)[1]} cannot stand among {suffix}s")
        if facet.get("_schemaURL") != expected:
            errors.append(f"_schemaURL {facet.get('_schemaURL')!r} is not {expected}")
        return errors


def at(path) -> str:
    return "/".join(str(p) for p in path) or "(event)"


def facet_sets(event: dict):
    """(path, kind of facet, facets) of every facets object in the event."""
    yield "run.facets", "RunFacet", event.get("run", {}).get("facets", {})
    yield "job.facets", "JobFacet", event.get("job", {}).get("facets", {})
    for side, own in (("inputs", "InputDatasetFacet"), ("outputs", "OutputDatasetFacet")):
        for i, dataset in enumerate(event.get(side, [])):
            yield f"{side}[{i}].facets", "DatasetFacet", dataset.get("facets", {})
            yield f"{side}[{i}].{side[:-1]}Facets", own, dataset.get(f"{side[:-1]}Facets", {})


def forwarded_facets(parent: dict):
    for path in ("run", "job", "root.run", "root.job"):
        node = parent
        for key in path.split("."):
            node = node.get(key, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict) and "facets" in node:
            yield f"parent.{path}"


class Receiver(ThreadingHTTPServer):
    """Answers 200 to every POST on 127.0.0.1 and keeps (path, authorization, body)."""

    def __init__(self):
        self.received: list[tuple[str, str, str]] = []
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["content-length"])).decode()
        self.server.received.append((self.path, self.headers.get("authorization", ""), body))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_sim(sim_bin: str, work: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    """notion-sim on a free loopback port, and the environment it prints (base URL, token, database ids)."""
    out = work / "sim.env"
    with out.open("w") as f:
        sim = subprocess.Popen(
            [sim_bin, "--port", "0", "--workspace", "demo", "--requests-per-minute", "0"], stdout=f
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "_DB_ID=" not in out.read_text():
        time.sleep(0.1)
    env = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    if "NOTION_API_BASE_URL" not in env:
        sim.terminate()
        sys.exit("check-lineage: notion-sim printed no base URL")
    return sim, env


def run_sync(sync_bin: str, work: Path, env: dict[str, str], args: list[str], code: int, name: str) -> None:
    """Runs the binary in a clean environment (PATH, HOME and `env`) and expects exit `code`."""
    home = work / name
    home.mkdir()
    full = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "LAKEHOUSE_URI": str(home / "lake"), **env}
    done = subprocess.run([sync_bin, *args], env=full, cwd=home, capture_output=True, text=True, timeout=300)
    if done.returncode != code:
        sys.exit(f"check-lineage: {name}: exit {done.returncode}, not {code}\n{done.stderr[-4000:]}")
    if API_KEY in done.stdout + done.stderr:
        sys.exit(f"check-lineage: {name}: the OpenLineage API key was printed")


def collect(receiver: Receiver, n: int, name: str) -> list[dict]:
    """The `n` events received since the last call, after checking each request's path and header."""
    deadline = time.monotonic() + 5
    while len(receiver.received) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    received, receiver.received = receiver.received, []
    if len(received) != n:
        sys.exit(f"check-lineage: {name}: {len(received)} events received, not {n}")
    for path, authorization, _ in received:
        if path != "/api/v1/lineage" or authorization != f"Bearer {API_KEY}":
            sys.exit(f"check-lineage: {name}: POST {path} with authorization {authorization!r}")
    return [json.loads(body) for _, _, body in received]


def documentation(event: dict) -> dict:
    return event["inputs"][0]["facets"]["documentation"]


def parent(event: dict) -> dict:
    return event["run"]["facets"]["parent"]


def error_message(event: dict) -> dict:
    return event["run"]["facets"]["errorMessage"]


def statistics(event: dict) -> dict:
    return next(o for o in event["outputs"] if "outputFacets" in o)["outputFacets"]["outputStatistics"]


# Broken copies of the COMPLETE and FAIL events, each of which the schemas must reject.
BREAKAGES: list[tuple[str, str, Callable[[dict], object]]] = [
    ("COMPLETE", "no eventTime", lambda e: e.pop("eventTime")),
    ("COMPLETE", "eventTime not a date-time", lambda e: e.update(eventTime="yesterday")),
    ("COMPLETE", "eventType not in the enum", lambda e: e.update(eventType="DONE")),
    ("COMPLETE", "producer not a URI", lambda e: e.update(producer="notion sync")),
    ("COMPLETE", "run.runId not a UUID", lambda e: e["run"].update(runId="run-1")),
    ("COMPLETE", "no job.namespace", lambda e: e["job"].pop("namespace")),
    ("COMPLETE", "an input without a name", lambda e: e["inputs"][0].pop("name")),
    ("COMPLETE", "a facet without _producer", lambda e: documentation(e).pop("_producer")),
    ("COMPLETE", "documentation.description a number", lambda e: documentation(e).update(description=1)),
    ("COMPLETE", "parent without a job", lambda e: parent(e).pop("job")),
    ("COMPLETE", "parent.root.run.runId not a UUID", lambda e: parent(e)["root"]["run"].update(runId="x")),
    ("COMPLETE", "parent.run with forwarded facets", lambda e: parent(e)["run"].update(facets={})),
    ("COMPLETE", "parent claiming another schema", lambda e: parent(e).update(_schemaURL=RUN_EVENT)),
    ("COMPLETE", "outputStatistics.rowCount a string", lambda e: statistics(e).update(rowCount="12")),
    (
        "COMPLETE",
        "a run facet among output facets",
        lambda e: e["outputs"][0].update(outputFacets=e["run"]["facets"]),
    ),
    (
        "COMPLETE",
        "an unknown facet",
        lambda e: e["run"]["facets"].update(x={"_producer": "a:b", "_schemaURL": "a:b"}),
    ),
    (
        "FAIL",
        "errorMessage without programmingLanguage",
        lambda e: error_message(e).pop("programmingLanguage"),
    ),
    ("FAIL", "errorMessage.message a list", lambda e: error_message(e).update(message=["x"])),
]


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops notion-sim
    schema_dir, sync_bin, sim_bin = sys.argv[1:4]
    schemas = Schemas(Path(schema_dir))
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="check-lineage.") as tmp:
        work = Path(tmp)
        sim, sim_env = start_sim(sim_bin, work)
        try:
            env = {
                **sim_env,
                "NOTION_REQUESTS_PER_MINUTE": "6000",
                "OPENLINEAGE_URL": receiver.url,
                "OPENLINEAGE_API_KEY": API_KEY,
            }
            run_sync(
                sync_bin,
                work,
                {**env, "OPENLINEAGE_PARENT_ID": PARENT, "OPENLINEAGE_ROOT_PARENT_ID": ROOT},
                ["sync"],
                0,
                "sync",
            )
            ok = collect(receiver, 2, "sync")
            run_sync(
                sync_bin,
                work,
                {**env, "NOTION_SECRET_DB_ID": "0123456789abcdef0123456789abcdef"},
                ["sync", "-d", "secret"],
                3,
                "failing sync",
            )
            failed = collect(receiver, 2, "failing sync")
        finally:
            sim.terminate()
            sim.wait(timeout=10)
            receiver.shutdown()

    events = ok + failed
    kinds = [e.get("eventType") for e in events]
    if kinds != ["START", "COMPLETE", "START", "FAIL"]:
        sys.exit(f"check-lineage: events {kinds}, not START, COMPLETE, START, FAIL")
    bad = 0
    for event in events:
        errors = schemas.errors(event)
        facets = sorted({name for _, _, facets in facet_sets(event) for name in facets})
        print(f"{event['eventType']:8} {'valid' if not errors else 'INVALID'}; facets {', '.join(facets)}")
        for error in errors:
            print(f"    {error}")
        bad += bool(errors)
    if bad:
        sys.exit(f"check-lineage: {bad} of {len(events)} events are not valid OpenLineage")

    accepted = []
    for kind, what, breakage in BREAKAGES:
        broken = copy.deepcopy(next(e for e in events if e["eventType"] == kind))
        breakage(broken)
        errors = schemas.errors(broken)
        print(f"broken {kind} ({what}): {'rejected: ' + errors[0] if errors else 'ACCEPTED'}")
        if not errors:
            accepted.append(what)
    if accepted:
        sys.exit(f"check-lineage: broken events were accepted: {', '.join(accepted)}")
    print(f"{len(events)} events valid against OpenLineage 2-0-2; {len(BREAKAGES)} broken events rejected")


if __name__ == "__main__":
    main()
