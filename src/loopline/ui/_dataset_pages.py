"""The datasets pages of a project: the list, a dataset's versions, one version's files, the diff
between two versions, and the profile of a tabular file; and the datasets a run read and wrote.

Every selection is in the query string (``v``, ``a``, ``b``, ``file``, ``prefix``, ``page``), so
a link shows what its sender saw. An unknown project, dataset, version or file is the friendly
404 page; a reference that cannot name a version at all (``?v=-1``) is shown inline, where it
was typed, with a way to pick another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from loopline.datasets import DatasetInfo, FileChange, VersionInfo, validate_dataset_name
from loopline.errors import InvalidInput, NotFound
from loopline.ui._dataset_views import (
    file_profile_view,
    folder_crumbs,
    folder_listing,
    profiled_files,
    read_ref,
)
from loopline.ui._pages import _page_links, sections_of
from loopline.ui._render import base_url, render

if TYPE_CHECKING:
    from loopline.backends import Backend
    from loopline.datasets import DatasetService

__all__ = ["add_dataset_routes", "run_datasets"]

VERSIONS_PER_PAGE = 100
FILES_PER_PAGE = 100
MAX_CHANGES_SHOWN = 1000
"""Rows of each kind (added, removed, modified) a diff page lists; the counts are always exact."""
MAX_PAGE = 1_000_000
MAX_PREFIX = 1024
TABS = (
    ("versions", "Versions", ""),
    ("files", "Files", "/version"),
    ("diff", "Diff", "/diff"),
    ("profile", "Profile", "/profile"),
)


@dataclass(frozen=True, slots=True)
class DatasetLink:
    """A dataset version as a run page links it: ``name:number`` in a project."""

    project: str
    dataset: str
    number: int
    url: str

    @property
    def label(self) -> str:
        return f"{self.dataset}:{self.number}"


def _service(backend: Backend) -> DatasetService:
    """The datasets service behind ``backend`` (the server's backend is always a local one)."""
    service: DatasetService | None = getattr(backend, "datasets", None)
    if service is None:  # pragma: no cover - the server only serves over a LocalBackend
        raise NotFound("This server does not store datasets.")
    return service


def run_datasets(backend: Backend, run_id: str, ui: str) -> dict[str, list[DatasetLink]]:
    """The dataset versions a run consumed and produced, as links for its lineage panel."""
    graph = backend.lineage(run_id=run_id, depth=1)
    links: dict[str, list[DatasetLink]] = {"consumed": [], "produced": []}
    for edge in graph.edges:
        key = edge.source if edge.direction == "consumed" else edge.target
        node = graph.nodes.get(key)
        if node is None or node.kind != "version":
            continue
        dataset, _, number = node.label.rpartition(":")  # names hold no ':'
        links[edge.direction].append(
            DatasetLink(
                node.project,
                dataset,
                int(number),
                f"{ui}/projects/{node.project}/datasets/{dataset}/version?v={number}",
            )
        )
    for found in links.values():
        found.sort(key=lambda link: (link.project, link.dataset, link.number))
    return links


def add_dataset_routes(router: APIRouter, backend: Backend) -> None:
    """The datasets list of a project and each dataset's versions, files, diff and profile."""

    def dataset_or_404(project: str, name: str) -> DatasetInfo:
        backend.get_project(project)  # NotFound, saying which project
        try:
            validate_dataset_name(name)
        except InvalidInput:
            raise NotFound(
                f"Dataset {_shown(name, 40)!r} not found in project {project!r}."
            ) from None
        return _service(backend).get(project, name)

    def page(
        request: Request, dataset: DatasetInfo, tab: str, template: str, **context: Any
    ) -> Response:
        ui = base_url(request)
        base = f"{ui}/projects/{dataset.project}/datasets/{dataset.name}"
        return render(
            request,
            template,
            title=f"{dataset.name} · {dataset.project}",
            project_name=dataset.project,
            dataset=dataset,
            base=base,
            tab=tab,
            tabs=[(key, label, base + suffix) for key, label, suffix in TABS],
            sections=sections_of(dataset.project, ui),
            section="datasets",
            **context,
        )

    @router.get("/projects/{project}/datasets", include_in_schema=False)
    def datasets(request: Request, project: str) -> Response:
        info = backend.get_project(project)
        ui = base_url(request)
        return render(
            request,
            "datasets.html",
            title=f"{project} · datasets",
            project=info,
            project_name=info.name,
            datasets=_service(backend).list(project),
            sections=sections_of(project, ui),
            section="datasets",
        )

    @router.get("/projects/{project}/datasets/{name}", include_in_schema=False)
    def versions(request: Request, project: str, name: str) -> Response:
        dataset = dataset_or_404(project, name)
        every = _service(backend).versions(project, name)
        number = _page_number(request.query_params.get("page"))
        pages = max(1, -(-len(every) // VERSIONS_PER_PAGE))
        shown = every[(number - 1) * VERSIONS_PER_PAGE : number * VERSIONS_PER_PAGE]
        return page(
            request,
            dataset,
            "versions",
            "dataset_versions.html",
            versions=shown,
            total=len(every),
            page=number,
            pages=pages,
            page_links=_page_links(number, pages),
            run_names=_run_names(backend, project, shown),
        )

    @router.get("/projects/{project}/datasets/{name}/version", include_in_schema=False)
    def version(request: Request, project: str, name: str) -> Response:
        dataset = dataset_or_404(project, name)
        service = _service(backend)
        params = request.query_params
        ref_error: str | None = None
        try:
            ref = read_ref(params.get("v"))
        except InvalidInput as exc:
            ref_error, ref = exc.message, "latest"
        if ref_error is not None or dataset.latest is None:
            return page(
                request,
                dataset,
                "files",
                "dataset_version.html",
                version=None,
                ref_error=ref_error,
                ref_text=params.get("v", ""),
                choices=service.versions(project, name),
            )
        chosen = service.version(project, name, ref)
        manifest = service.manifest(project, name, chosen.number)
        prefix = params.get("prefix", "")[:MAX_PREFIX]
        entries = folder_listing(manifest, prefix)
        if prefix.endswith("/") and not entries:
            raise NotFound(f"{chosen.dataset}:{chosen.number} has no folder {_shown(prefix)!r}.")
        selected = None
        wanted = params.get("file")
        if wanted:
            selected = manifest.get(wanted)
            if selected is None:
                raise NotFound(f"{chosen.dataset}:{chosen.number} has no file {_shown(wanted)!r}.")
        number = _page_number(params.get("page"))
        pages = max(1, -(-len(entries) // FILES_PER_PAGE))
        graph = service.lineage(version_id=chosen.id, depth=1)
        root = graph.root
        producers = [graph.nodes[k] for k in graph.parents(root) if k in graph.nodes]
        consumers = [graph.nodes[k] for k in graph.children(root) if k in graph.nodes]
        profiled = set(profiled_files(service.profile(project, name, chosen.number)))
        return page(
            request,
            dataset,
            "files",
            "dataset_version.html",
            version=chosen,
            ref_error=None,
            ref_text=params.get("v", ""),
            choices=[],
            entries=entries[(number - 1) * FILES_PER_PAGE : number * FILES_PER_PAGE],
            entry_count=len(entries),
            prefix=prefix,
            crumbs=folder_crumbs(prefix),
            selected=selected,
            selected_tabular=selected is not None and selected.path in profiled,
            profiled=profiled,
            page=number,
            pages=pages,
            page_links=_page_links(number, pages),
            here=lambda **change: _query(
                {"v": chosen.number, "prefix": prefix, "page": number, "file": wanted}, change
            ),
            producers=sorted(producers, key=lambda n: n.label),
            consumers=sorted(consumers, key=lambda n: n.label),
        )

    @router.get("/projects/{project}/datasets/{name}/diff", include_in_schema=False)
    def diff(request: Request, project: str, name: str) -> Response:
        dataset = dataset_or_404(project, name)
        service = _service(backend)
        choices = service.versions(project, name)
        params = request.query_params
        errors: dict[str, str] = {}
        refs: dict[str, int | str] = {}
        for side in ("a", "b"):
            try:
                refs[side] = read_ref(params.get(side), default="")
            except InvalidInput as exc:
                errors[side] = exc.message
        result = None
        a = b = None
        if not errors and choices:
            b = service.version(project, name, refs["b"] or "latest")
            if refs["a"]:
                a = service.version(project, name, refs["a"])
            else:  # what b changed: against its parent, else the version before it
                a = service.version(project, name, b.parent or max(1, b.number - 1))
            result = service.diff(project, name, a.number, b.number)
        return page(
            request,
            dataset,
            "diff",
            "dataset_diff.html",
            choices=choices,
            errors=errors,
            texts={side: params.get(side, "") for side in ("a", "b")},
            a=a,
            b=b,
            diff=result,
            changes=_change_rows(result) if result is not None else [],
            limit=MAX_CHANGES_SHOWN,
        )

    @router.get("/projects/{project}/datasets/{name}/profile", include_in_schema=False)
    def profile(request: Request, project: str, name: str) -> Response:
        dataset = dataset_or_404(project, name)
        service = _service(backend)
        params = request.query_params
        ref_error: str | None = None
        try:
            ref = read_ref(params.get("v"))
        except InvalidInput as exc:
            ref_error, ref = exc.message, "latest"
        context: dict[str, Any] = {
            "version": None,
            "ref_error": ref_error,
            "ref_text": params.get("v", ""),
            "choices": service.versions(project, name),
            "files": [],
            "view": None,
            "not_tabular": None,
        }
        if ref_error is None and dataset.latest is not None:
            chosen = service.version(project, name, ref)
            doc = service.profile(project, name, chosen.number)
            files = profiled_files(doc)
            wanted = params.get("file") or (files[0] if files else "")
            context.update(version=chosen, files=files)
            if wanted and wanted not in files:
                if service.manifest(project, name, chosen.number).get(wanted) is None:
                    raise NotFound(
                        f"{chosen.dataset}:{chosen.number} has no file {_shown(wanted)!r}."
                    )
                context["not_tabular"] = wanted  # there, but not a table Loopline profiled
            elif wanted and doc is not None:
                context["view"] = file_profile_view(wanted, doc["files"][wanted])
        return page(request, dataset, "profile", "dataset_profile.html", **context)


def _change_rows(diff: Any) -> list[tuple[str, str, list[FileChange], int]]:
    """(kind, heading, the first rows, how many in all) for added, removed and modified."""
    return [
        (kind, heading, changes[:MAX_CHANGES_SHOWN], len(changes))
        for kind, heading, changes in (
            ("added", "Added", diff.added),
            ("removed", "Removed", diff.removed),
            ("modified", "Modified", diff.modified),
        )
    ]


def _run_names(backend: Backend, project: str, versions: list[VersionInfo]) -> dict[str, str]:
    """Names of the runs that produced ``versions``, in one search (ids not found stay out)."""
    ids = sorted({v.run_id for v in versions if v.run_id is not None})
    if not ids:
        return {}
    quoted = ", ".join(f"'{i}'" for i in ids)  # run ids are 32 hex characters: nothing to escape
    found = backend.search_runs(project, f"run_id in ({quoted})", limit=len(ids))
    return {r.id: r.name for r in found}


def _shown(text: str, limit: int = 80) -> str:
    """What the user typed, cut short enough to quote in a message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _page_number(text: str | None) -> int:
    try:
        return min(MAX_PAGE, max(1, int(text or "1")))
    except ValueError:
        return 1


def _query(current: dict[str, Any], change: dict[str, Any]) -> str:
    """The query string of ``current`` with ``change`` applied; empty and default values left
    out so the addresses stay short."""
    merged = {**current, **change}
    items = [
        (k, str(v))
        for k, v in merged.items()
        if v not in (None, "") and not (k == "page" and v == 1)
    ]
    return urlencode(items)
