"""The pages of one run: overview (metrics, charts, params, tags, lineage), artifacts, console
and environment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse

from loopline.errors import NotFound
from loopline.tracking import Artifact, Run
from loopline.ui._dataset_pages import run_datasets
from loopline.ui._pages import run_or_404, sections_of
from loopline.ui._previews import MAX_PREVIEW_BYTES, build_preview, inline_media_type
from loopline.ui._render import base_url, render

if TYPE_CHECKING:
    from loopline.backends import Backend

__all__ = ["add_run_routes"]

CONSOLE_CHUNK = 256 * 1024  # bytes a poll brings; a finished long log arrives in a few polls
CONSOLE_FIRST = 1_000_000  # bytes the page opens with
MAX_CHILDREN = 100
TABS = (
    ("overview", "Overview", ""),
    ("artifacts", "Artifacts", "/artifacts"),
    ("console", "Console", "/console"),
    ("environment", "Environment", "/environment"),
)


@dataclass(frozen=True, slots=True)
class Entry:
    """A row of the artifacts browser: a folder (with what it holds) or a file."""

    name: str
    path: str
    is_folder: bool
    size: int
    files: int


_VERIFY_FIRST = 8 << 20  # raw downloads up to this size are verified before they start


def add_run_routes(router: APIRouter, backend: Backend) -> None:
    """The run's tabs, the raw artifact download and the console's live-follow fragment."""

    def page(request: Request, run: Run, tab: str, template: str, **context: Any) -> Response:
        ui = base_url(request)
        base = f"{ui}/runs/{run.id}"
        return render(
            request,
            template,
            title=f"{run.name} · {run.project}",
            run=run,
            tab=tab,
            tabs=[(key, label, base + suffix) for key, label, suffix in TABS],
            sections=sections_of(run.project, ui),
            section="runs",
            **context,
        )

    @router.get("/runs/{run_id}", include_in_schema=False)
    def overview(request: Request, run_id: str) -> Response:
        run = run_or_404(backend, run_id)
        summaries = backend.metric_summaries(run.id)
        children = backend.search_runs(
            run.project, f"parent_id = '{run.id}'", ["start_time asc"], limit=MAX_CHILDREN
        )
        parent = _maybe_run(backend, run.parent_id)
        cloned_from = _maybe_run(backend, run.cloned_from)
        return page(
            request,
            run,
            "overview",
            "run.html",
            summaries=summaries,
            children=children,
            parent=parent,
            cloned_from=cloned_from,
            run_datasets=run_datasets(backend, run.id, base_url(request)),
        )

    @router.get("/runs/{run_id}/artifacts", include_in_schema=False)
    def artifacts(request: Request, run_id: str) -> Response:
        run = run_or_404(backend, run_id)
        everything = backend.list_artifacts(run.id)
        wanted = request.query_params.get("path", "").strip("/")
        selected = next((a for a in everything if a.path == wanted), None)
        folder = str(PurePosixPath(wanted).parent) if selected is not None else wanted
        folder = "" if folder == "." else folder
        entries = _entries(everything, folder)
        if folder and not entries:
            raise NotFound(f"Run {run.id} has no artifact or folder {wanted!r}.")
        preview = None
        too_large = False
        if selected is not None:
            if selected.size > MAX_PREVIEW_BYTES:
                too_large = True
            elif inline_media_type(selected.path) is None:
                preview = build_preview(selected.path, backend.get_blob(selected.digest))
        return page(
            request,
            run,
            "artifacts",
            "run_artifacts.html",
            entries=entries,
            folder=folder,
            crumbs=_crumbs(folder),
            selected=selected,
            preview=preview,
            too_large=too_large,
            is_image=selected is not None and inline_media_type(selected.path) is not None,
            count=len(everything),
            total_size=sum(a.size for a in everything),
        )

    @router.get("/runs/{run_id}/artifacts/raw", include_in_schema=False)
    def raw_artifact(request: Request, run_id: str) -> Response:
        run = run_or_404(backend, run_id)
        wanted = request.query_params.get("path", "")
        artifact = next((a for a in backend.list_artifacts(run.id) if a.path == wanted), None)
        if artifact is None:
            raise NotFound(f"Run {run.id} has no artifact {wanted!r}.")
        media = inline_media_type(artifact.path)
        name = PurePosixPath(artifact.path).name
        disposition = (
            "attachment" if media is None or "download" in request.query_params else "inline"
        )
        headers = {
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name)}",
            # A logged file is the run's data, not the UI's: it never runs script here
            # (an SVG or HTML artifact opened directly is sandboxed).
            "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        }
        kind = media or "application/octet-stream"
        if artifact.size <= _VERIFY_FIRST:
            # Verified before the answer starts: a damaged blob is an error page, not bad bytes.
            return Response(backend.get_blob(artifact.digest), media_type=kind, headers=headers)
        # Large files stream; the read that ends the blob verifies it, and a mismatch there
        # cuts the download short rather than completing it with damaged bytes.
        stream = backend.open_blob(artifact.digest)

        def chunks() -> Iterator[bytes]:
            with stream:
                while chunk := stream.read(1 << 20):
                    yield chunk

        return StreamingResponse(chunks(), media_type=kind, headers=headers)

    @router.get("/runs/{run_id}/console", include_in_schema=False)
    def console(request: Request, run_id: str) -> Response:
        run = run_or_404(backend, run_id)
        piece = backend.read_console(run.id, 0, CONSOLE_FIRST)
        return page(
            request,
            run,
            "console",
            "run_console.html",
            text=piece.text,
            next_offset=piece.next_offset,
            complete=piece.complete,
            full=len(piece.text.encode("utf-8")) >= CONSOLE_FIRST - 4,
        )

    @router.get("/runs/{run_id}/console/more", include_in_schema=False)
    def console_more(request: Request, run_id: str) -> Response:
        """What the console page appends: new text since ``offset``, and the next poller."""
        run = run_or_404(backend, run_id)
        offset = _offset(request.query_params.get("offset", "0"))
        piece = backend.read_console(run.id, offset, CONSOLE_CHUNK)
        full = piece.next_offset - offset >= CONSOLE_CHUNK - 4
        response = render(
            request,
            "_console_more.html",
            run=run,
            text=piece.text,
            next_offset=piece.next_offset,
            complete=piece.complete,
            full=full,
        )
        if piece.complete:
            # Tell the page the run ended, so it can say so without a reload.
            response.headers["HX-Trigger"] = "console-complete"
        return response

    @router.get("/runs/{run_id}/environment", include_in_schema=False)
    def environment(request: Request, run_id: str) -> Response:
        run = run_or_404(backend, run_id)
        data: dict[str, Any] | None = None
        raw = ""
        if run.environment_digest is not None:
            blob = backend.get_blob(run.environment_digest)
            try:
                loaded = json.loads(blob)
            except ValueError:
                loaded = None
            if isinstance(loaded, dict):
                data = loaded
            else:
                raw = blob[:200_000].decode("utf-8", "replace")
        packages = data.get("packages") if data is not None else None
        return page(
            request,
            run,
            "environment",
            "run_environment.html",
            env=data or {},
            raw=raw,
            packages=sorted(packages.items()) if isinstance(packages, dict) else [],
        )

    @router.get("/runs/{run_id}/status", include_in_schema=False)
    def status(request: Request, run_id: str) -> HTMLResponse:
        """The run's status badge, for a page that watches a running run."""
        run = run_or_404(backend, run_id)
        return render(request, "_status.html", run=run)


def _maybe_run(backend: Backend, run_id: str | None) -> Run | None:
    if run_id is None:
        return None
    try:
        return backend.get_run(run_id)
    except NotFound:
        return None  # deleted since: the page shows the id alone


def _offset(text: str) -> int:
    try:
        return max(0, int(text))
    except ValueError:
        return 0


def _entries(artifacts: list[Artifact], folder: str) -> list[Entry]:
    """The folders and files directly inside ``folder`` (``""`` is the run's root)."""
    prefix = f"{folder}/" if folder else ""
    folders: dict[str, list[Artifact]] = {}
    files: list[Entry] = []
    for a in artifacts:
        if not a.path.startswith(prefix):
            continue
        rest = a.path[len(prefix) :]
        head, slash, _ = rest.partition("/")
        if slash:
            folders.setdefault(head, []).append(a)
        else:
            files.append(Entry(rest, a.path, False, a.size, 1))
    out = [
        Entry(name, prefix + name, True, sum(a.size for a in held), len(held))
        for name, held in sorted(folders.items())
    ]
    return out + sorted(files, key=lambda e: e.name)


def _crumbs(folder: str) -> list[tuple[str, str]]:
    parts = folder.split("/") if folder else []
    return [(part, "/".join(parts[: i + 1])) for i, part in enumerate(parts)]
