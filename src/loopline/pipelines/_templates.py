"""Published templates: code snapshots, publishing, launching without the author's source tree.

A template version freezes what a run needs: the DAG spec (whose ``params`` are the launch
form), a zip of the pipeline's module and the local modules it imports (a blob), and the
distributions those modules import (requirements). Launching creates the pipeline run in the
store, then a *driver* process runs it: a fresh interpreter whose import path starts at the
unpacked snapshot, so the author's files are never needed, and two versions of one module never
meet in one process. The driver adopts the run created for it and runs the steps through the
local executor, as ``p.run()`` does.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import subprocess
import sys
import threading
import types
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopline.errors import InvalidInput, NotFound
from loopline.pipelines._dag import DAG
from loopline.pipelines._types import DONE_STATUSES, Notify, PipelineRunRecord, TemplateRecord

if TYPE_CHECKING:
    from loopline.config import Settings
    from loopline.pipelines._sdk import Pipeline
    from loopline.pipelines._service import PipelineService

__all__ = [
    "snapshot",
    "spec_pipeline",
    "start_driver",
    "export_template",
    "import_template",
    "EXPORT_FORMAT",
    "retry_plan",
    "launch",
    "launch_here",
    "create_launched_run",
    "retry_run",
    "copy_run",
    "settings_env",
    "unpack",
]

EXPORT_FORMAT = "loopline-pipeline-template/1"
TEMPLATE_TAG = "loopline.template"
RETRY_TAG = "loopline.retry_of"


# -- snapshots ----------------------------------------------------------------------------------


def _local_module(module: types.ModuleType) -> bool:
    from loopline.pipelines._cache import _installed_roots

    name = module.__name__
    file = getattr(module, "__file__", None)
    if name == "__main__" or not file or name.partition(".")[0] == "loopline":
        return False
    return not str(Path(file).resolve()).startswith(_installed_roots())


def _root_of(module: types.ModuleType) -> Path:
    """The import-path folder ``module`` was found under (``a.b.c`` in ``root/a/b/c.py``)."""
    file = Path(str(module.__file__)).resolve()
    depth = module.__name__.count(".") + (1 if file.name == "__init__.py" else 0)
    root = file.parent
    for _ in range(depth):
        root = root.parent
    return root


def snapshot(pipeline: Pipeline) -> tuple[bytes, tuple[str, ...]]:
    """A zip of the pipeline's module, its steps' modules and the local modules they import
    (paths relative to their import root), and the distributions they import.

    Raises:
        InvalidInput: a step or the pipeline lives in ``__main__`` or a notebook, where no
            module can be imported again; move it to a ``.py`` module to publish it.
    """
    from importlib.metadata import packages_distributions, version

    seeds = [pipeline.func.__module__, *(s.func.__module__ for s in pipeline.steps.values())]
    for name in seeds:
        module = sys.modules.get(name)
        if module is None or not _local_module(module):
            raise InvalidInput(
                f"Pipeline {pipeline.name!r} has code in {name!r}, which cannot be imported "
                "again (a script's __main__, a notebook, or an installed package). Put the "
                "pipeline and its steps in a .py module of your project to publish it."
            )
    files: dict[str, bytes] = {}
    third_party: set[str] = set()
    todo = list(dict.fromkeys(seeds))
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        module = sys.modules[name]
        root = _root_of(module)
        file = Path(str(module.__file__)).resolve()
        files[file.relative_to(root).as_posix()] = file.read_bytes()
        # Packages on the way need their __init__ so the name imports the same way.
        parent = file.parent
        while parent != root:
            init = parent / "__init__.py"
            if init.exists():
                files.setdefault(init.relative_to(root).as_posix(), init.read_bytes())
            parent = parent.parent
        for value in list(vars(module).values()):
            used = value if isinstance(value, types.ModuleType) else None
            if used is None:
                owner = getattr(value, "__module__", None)
                used = sys.modules.get(owner) if isinstance(owner, str) else None
            if used is None or used is module:
                continue
            if _local_module(used):
                todo.append(used.__name__)
            else:
                top = used.__name__.partition(".")[0]
                if top not in sys.stdlib_module_names and top != "loopline":
                    third_party.add(top)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))  # same code, same blob
            archive.writestr(info, files[path])
    dists = packages_distributions()
    requirements = set()
    for top in third_party:
        for dist in dists.get(top, ()):
            with contextlib.suppress(Exception):
                requirements.add(f"{dist}=={version(dist)}")
    return out.getvalue(), tuple(sorted(requirements))


def unpack(data: bytes, digest: str, home: Path) -> Path:
    """The snapshot unpacked under ``home/templates/<digest>`` (once; then reused)."""
    target = home / "templates" / digest
    if (target / ".complete").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            path = (target / info.filename).resolve()
            if not path.is_relative_to(target.resolve()):
                raise InvalidInput(f"A template snapshot holds a path outside it: {info.filename}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(archive.read(info))
    (target / ".complete").touch()
    return target


# -- pipelines from a spec ----------------------------------------------------------------------


def spec_pipeline(name: str, spec: Mapping[str, Any], project: str | None = None) -> Pipeline:
    """A pipeline rebuilt from a DAG spec, its steps imported by module and name (the modules
    must be on the import path: an unpacked snapshot, or the project folder)."""
    from loopline.pipelines._sdk import Pipeline, _import_step

    dag = DAG.from_spec(spec)
    steps: dict[str, Any] = {}
    for node in dag.nodes:
        module, _, qualname = node.step.partition(":")
        try:
            steps[node.name] = _import_step(module, qualname)
        except (ImportError, AttributeError) as exc:
            raise NotFound(
                f"Step {node.name!r} of pipeline {name!r} is {node.step!r}, which cannot be "
                f"imported here ({exc}). Run this from the project folder, or publish the "
                "pipeline and launch the template."
            ) from exc

    def _unused() -> None:  # pragma: no cover - the DAG is given, never built
        raise AssertionError

    made = Pipeline(_unused, name=name, project=project)
    made.params = dag.params
    made.__dict__["_built"] = (dag, steps)
    return made


def retry_plan(record: PipelineRunRecord) -> list[str]:
    """The steps a retry of ``record`` runs: those that did not finish (failed, stopped,
    never started); the others' outputs are reused.

    Raises:
        Conflict: the run is still running, or nothing is left to retry.
    """
    from loopline.errors import Conflict

    if record.status == "running":
        raise Conflict(f"Pipeline run {record.id} is still running; stop it before a retry.")
    todo = [s.name for s in record.steps if s.status not in DONE_STATUSES]
    if not todo:
        raise Conflict(f"Pipeline run {record.id} {record.status}: every step finished.")
    return todo


# -- the driver process -------------------------------------------------------------------------


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``LOOPLINE_*`` variables that make a child process reach the same store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    values = {
        "LOOPLINE_HOME": str(settings.home),
        "LOOPLINE_URI": settings.server_url or settings.db_url or "",
        "LOOPLINE_ARTIFACTS": settings.artifacts,
        "LOOPLINE_TOKEN": settings.token or "",
        "LOOPLINE_PROJECT": settings.project,
        "LOOPLINE_AUTO_UPGRADE": "1" if settings.auto_upgrade else "0",
        "LOOPLINE_S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
        "LOOPLINE_S3_KEY": settings.s3_key or "",
        "LOOPLINE_S3_SECRET": settings.s3_secret or "",
        "LOOPLINE_S3_REGION": settings.s3_region or "",
        "LOOPLINE_QUIET": "1",
    }
    env.update({k: v for k, v in values.items() if v})
    return env


_drivers: list[subprocess.Popen[bytes]] = []


def start_driver(
    settings: Settings,
    run_id: str,
    *,
    only: list[str] | None = None,
    reuse: str | None = None,
    on_exit: Any = None,
) -> subprocess.Popen[bytes]:
    """Start the process that runs pipeline run ``run_id`` (created already, tagged with its
    template); ``on_exit(returncode)`` is called from a thread when it ends."""
    job = json.dumps({"run": run_id, "only": only, "reuse": reuse})
    log = settings.home / "templates" / "logs"
    log.mkdir(parents=True, exist_ok=True)
    with (log / f"{run_id}.log").open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "loopline.pipelines._templates", job],
            env=settings_env(settings),
            cwd=settings.home,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the server's terminal is not the run's
        )
    _drivers.append(process)

    def reap() -> None:
        code = process.wait()
        with contextlib.suppress(ValueError):
            _drivers.remove(process)
        if on_exit is not None:
            on_exit(code)

    threading.Thread(target=reap, name=f"loopline-driver-{run_id[:8]}", daemon=True).start()
    return process


def _drive(job: dict[str, Any]) -> None:
    """The driver's main: unpack the template of the run, import its steps, run it."""
    from loopline.pipelines._context import make_client
    from loopline.pipelines._runner import ExecutorRunner

    client = make_client()
    store = client._backend
    record: PipelineRunRecord = store.get_pipeline_run(job["run"])
    try:
        tag = client.get_run(record.id).tags[TEMPLATE_TAG]
        name, _, version = tag.rpartition(":")
        template: TemplateRecord = store.get_pipeline_template(record.project, name, version)
        folder = unpack(store.get_blob(template.code), template.code, client.settings.home)
        sys.path.insert(0, str(folder))
        pipeline = spec_pipeline(record.pipeline, template.dag, record.project)
        runner = ExecutorRunner(
            pipeline,
            dict(record.params),
            client=client,
            project=record.project,
            only=job.get("only"),
            reuse=job.get("reuse"),
            run_id=record.id,
            executor=job.get("executor") or "local",  # "queue" when an agent drives the run
        )
    except BaseException as exc:
        import traceback

        traceback.print_exc()
        with contextlib.suppress(Exception):
            store.finish_pipeline_run(record.id, "failed")
        raise SystemExit(f"Could not start pipeline run {record.id}: {exc}") from exc
    runner.run(raise_on_failure=False)
    client.close()


# -- launching ----------------------------------------------------------------------------------


def launch_here(
    service: PipelineService,
    settings: Settings,
    project: str,
    name: str,
    params: Mapping[str, Any],
    version: int | str = "latest",
    retry_of: str | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    notify: Sequence[Notify] = (),
) -> PipelineRunRecord:
    """Launch a template where the store is (the local backend, or a server over it): check
    the parameters, create the run, attach its notifications, start its driver process."""
    record, only = create_launched_run(
        service, project, name, params, version, retry_of, tags=tags, notify=notify
    )

    def ended(code: int) -> None:
        # A driver that died before ending its run (killed, or broken beyond reporting)
        # leaves it running forever otherwise.
        if code != 0:
            with contextlib.suppress(Exception):
                service.finish_run(record.id, "failed")

    start_driver(settings, record.id, only=only, reuse=retry_of, on_exit=ended)
    return record


def create_launched_run(
    service: PipelineService,
    project: str,
    name: str,
    params: Mapping[str, Any],
    version: int | str = "latest",
    retry_of: str | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    notify: Sequence[Notify] = (),
) -> tuple[PipelineRunRecord, list[str] | None]:
    """Check the parameters, create the run of a launched template (tagged with it) and
    attach its notifications; answer the run and the steps to run (``None``: all). Whoever
    calls this drives the run: a driver process here, or an agent (``executor="queue"``)."""
    from loopline.pipelines._notify import check_notify

    specs = [check_notify(s) for s in notify]
    template = service.get_template(project, name, version)
    dag = DAG.from_spec(template.dag)
    only: list[str] | None = None
    if retry_of is not None:
        earlier = service.get_run(retry_of)
        if earlier.pipeline != template.name:
            raise InvalidInput(f"Run {retry_of} is a run of {earlier.pipeline!r}, not {name!r}.")
        only = retry_plan(earlier)
        params = {**earlier.params, **params}
    bound = dag.bind(params)
    run_tags = {
        **(tags or {}),
        TEMPLATE_TAG: f"{template.name}:{template.version}",
        "loopline.mode": "run",
    }
    if retry_of is not None:
        run_tags[RETRY_TAG] = retry_of
    record = service.create_run(project, template.name, bound, template.dag, tags=run_tags)
    for spec in specs:  # before the driver starts, so that no ending can come first
        service.notifications.attach(project, spec, run=record.id)
    return record, only


def launch(
    name: str,
    params: Mapping[str, Any] | None = None,
    version: int | str = "latest",
    *,
    project: str | None = None,
    client: Any = None,
    wait: bool = True,
    timeout: float | None = None,
    notify: Sequence[Notify] = (),
    executor: str = "local",
    queue: str | None = None,
) -> PipelineRunRecord:
    """Run a published template with ``params`` (checked against its parameter schema),
    anywhere the platform runs: no source tree needed.

    Args:
        version: a version number, or ``"latest"``.
        notify: told when this run ends (``ll.pipelines.webhook(url)``, ...).
        wait: wait for the run to end (else answer the running run at once).
        timeout: seconds to wait at most (then answer the run as it is).
        executor: ``"local"`` drives the run where the store is (a process on this machine,
            or on the server); ``"queue"`` puts it on ``queue`` for an agent to drive, and
            its steps go to the queues too (a step asking for ``{"gpu": 1}`` to a queue
            tagged ``gpu``), exactly as ``ll.agents.launch(..., steps="queue")``.
        queue: the queue of the run's task with ``executor="queue"`` (``"default"``).

    Raises:
        InvalidInput: a parameter is unknown, missing or of the wrong type, or the executor
            or queue is unknown (``details["field"]`` names it).

    Example:
        >>> run = ll.launch("digits-training", params={"lr": 0.1})
        >>> run.status
        'succeeded'
        >>> ll.launch("digits-training", executor="queue", queue="gpu").status  # agents run it
        'succeeded'
    """
    import time

    from loopline.pipelines._context import default_client

    client = client if client is not None else default_client()
    store = client._backend
    record: PipelineRunRecord = store.launch_pipeline_template(
        project or client.settings.project,
        name,
        dict(params or {}),
        version,
        notify=list(notify) or None,
        executor=executor,
        queue=queue,
    )
    deadline = None if timeout is None else time.monotonic() + timeout
    while wait and record.status == "running":
        if deadline is not None and time.monotonic() > deadline:
            break
        time.sleep(0.2)
        record = store.get_pipeline_run(record.id)
    return record


def _wait(store: Any, record: PipelineRunRecord) -> PipelineRunRecord:
    import time

    while record.status == "running":
        time.sleep(0.2)
        record = store.get_pipeline_run(record.id)
    return record


def _template_of(client: Any, record: PipelineRunRecord) -> tuple[str, str] | None:
    tag = client.get_run(record.id).tags.get(TEMPLATE_TAG)
    if not tag:
        return None
    name, _, version = str(tag).rpartition(":")
    return name, version


def retry_run(run_id: str, *, client: Any = None, wait: bool = True) -> PipelineRunRecord:
    """Retry a pipeline run without its Pipeline object: a template's run through its
    template; another run by importing its steps from the current folder.

    Example:
        >>> ll.pipelines.retry_run(failed_id).status
        'succeeded'
    """
    from loopline.pipelines._context import default_client

    client = client if client is not None else default_client()
    store = client._backend
    earlier: PipelineRunRecord = store.get_pipeline_run(run_id)
    template = _template_of(client, earlier)
    if template is not None:
        record = store.launch_pipeline_template(
            earlier.project, template[0], {}, template[1], earlier.id
        )
        return _wait(store, record) if wait else record
    pipeline = _importable(earlier)
    return pipeline.retry(run_id, client=client, raise_on_failure=False).record


def copy_run(
    run_id: str, params: Mapping[str, Any] | None = None, *, client: Any = None, wait: bool = True
) -> PipelineRunRecord:
    """A new run with the parameters of ``run_id`` changed by ``params`` (the same template
    version for a template's run)."""
    from loopline.pipelines._context import default_client

    client = client if client is not None else default_client()
    store = client._backend
    earlier: PipelineRunRecord = store.get_pipeline_run(run_id)
    merged = {**earlier.params, **(params or {})}
    template = _template_of(client, earlier)
    if template is not None:
        record = store.launch_pipeline_template(earlier.project, template[0], merged, template[1])
        return _wait(store, record) if wait else record
    pipeline = _importable(earlier)
    result = pipeline.run(
        client=client, project=earlier.project, raise_on_failure=False, **pipeline.dag.bind(merged)
    )
    return result.record


def _importable(record: PipelineRunRecord) -> Pipeline:
    here = str(Path.cwd())
    if "" not in sys.path and here not in sys.path:
        sys.path.insert(0, here)
    return spec_pipeline(record.pipeline, record.dag, record.project)


# -- export and import --------------------------------------------------------------------------


def export_template(template: TemplateRecord, code: bytes) -> dict[str, Any]:
    """One template version as a JSON document (the code snapshot inside, base64)."""
    return {
        "format": EXPORT_FORMAT,
        "name": template.name,
        "version": template.version,
        "description": template.description,
        "dag": template.dag,
        "entry": template.entry,
        "requirements": list(template.requirements),
        "code": base64.b64encode(code).decode(),
    }


def import_template(document: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
    """Check an exported template; answer its fields and its code snapshot.

    Raises:
        InvalidInput: not an exported template (or a newer format than this Loopline reads).
    """
    if not isinstance(document, Mapping) or document.get("format") != EXPORT_FORMAT:
        raise InvalidInput(
            f"Not an exported pipeline template (expected format {EXPORT_FORMAT!r}); make it "
            "with `loopline pipelines export`."
        )
    try:
        code = base64.b64decode(str(document["code"]), validate=True)
        zipfile.ZipFile(io.BytesIO(code)).testzip()
        fields = {
            "name": str(document["name"]),
            "description": str(document.get("description", "")),
            "dag": dict(document["dag"]),
            "entry": str(document["entry"]),
            "requirements": [str(r) for r in document.get("requirements", [])],
        }
        DAG.from_spec(dict(document["dag"]))
    except (KeyError, TypeError, ValueError, zipfile.BadZipFile) as exc:
        raise InvalidInput(f"The exported template is damaged: {exc!r}.") from exc
    return fields, code


if __name__ == "__main__":
    _drive(json.loads(sys.argv[1]))
