"""The registry's pages: a project's models, a model's versions and history, and one version's
overview, model card and lineage graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from loopline.errors import NotFound
from loopline.registry import (
    ModelVersion,
    Schema,
    describe_event,
    validate_model_name,
    validate_model_ref,
)
from loopline.ui._endpoint_pages import endpoints_serving  # serving + features UI
from loopline.ui._nav import PROJECT_SECTIONS
from loopline.ui._pages import sections_of
from loopline.ui._render import base_url, page_headers, render

if TYPE_CHECKING:
    from loopline.backends import Backend

__all__ = ["add_model_routes", "lineage_graph"]

VERSION_TABS = (
    ("overview", "Overview", ""),
    ("card", "Model card", "/card"),
    ("lineage", "Lineage", "/lineage"),
)
MODEL_TABS = (("versions", "Versions", ""), ("history", "Alias & status history", "/history"))
LINEAGE_DEPTH = 4
# The lineage drawing: box size and the gaps between columns and rows, in SVG units (px).
BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 200, 44, 70, 18, 12


@dataclass(frozen=True, slots=True)
class GraphNode:
    key: str
    kind: str  # dataset | run | model
    label: str
    detail: str
    url: str
    x: int
    y: int
    current: bool = False


@dataclass(frozen=True, slots=True)
class GraphEdge:
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True, slots=True)
class Graph:
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    width: int
    height: int


def add_model_routes(router: APIRouter, backend: Backend) -> None:
    """The models list, a model's versions and history, a version's tabs and raw card."""

    def model_page(
        request: Request, project: str, name: str, tab: str, template: str, **context: Any
    ) -> Response:
        ui = base_url(request)
        base = f"{ui}/projects/{project}/models/{name}"
        return render(
            request,
            template,
            title=f"{name} · {project}",
            project_name=project,
            sections=sections_of(project, ui),
            section="models",
            model_url=base,
            tab=tab,
            tabs=[(key, label, base + suffix) for key, label, suffix in MODEL_TABS],
            **context,
        )

    def version_page(
        request: Request, version: ModelVersion, tab: str, template: str, **context: Any
    ) -> Response:
        ui = base_url(request)
        model_url = f"{ui}/projects/{version.project}/models/{version.model}"
        base = f"{model_url}/versions/{version.number}"
        return render(
            request,
            template,
            title=f"{version.model} v{version.number} · {version.project}",
            project_name=version.project,
            sections=sections_of(version.project, ui),
            section="models",
            version=version,
            model_url=model_url,
            tab=tab,
            tabs=[(key, label, base + suffix) for key, label, suffix in VERSION_TABS],
            **context,
        )

    def find(project: str, name: str, ref: str) -> ModelVersion:
        _page_name(name)
        return backend.get_model_version(project, name, _page_ref(ref))

    @router.get("/projects/{project}/models", include_in_schema=False)
    def models(request: Request, project: str) -> Response:
        info = backend.get_project(project)
        ui = base_url(request)
        return render(
            request,
            "models.html",
            title=f"{project} · models",
            project=info,
            project_name=project,
            sections=sections_of(project, ui),
            section="models",
            models=backend.list_registered_models(project),
        )

    @router.get("/projects/{project}/models/{name}", include_in_schema=False)
    def model(request: Request, project: str, name: str) -> Response:
        info = backend.get_registered_model(project, _page_name(name))
        versions = backend.list_model_versions(project, name)
        metric_keys = sorted({k for v in versions for k in v.metrics})[:6]
        return model_page(
            request,
            project,
            name,
            "versions",
            "model.html",
            model=info,
            versions=versions,
            metric_keys=metric_keys,
        )

    @router.get("/projects/{project}/models/{name}/history", include_in_schema=False)
    def history(request: Request, project: str, name: str) -> Response:
        info = backend.get_registered_model(project, _page_name(name))
        events = backend.model_events(project, name, limit=1000)
        return model_page(
            request,
            project,
            name,
            "history",
            "model_history.html",
            model=info,
            events=[(e, describe_event(e)) for e in events],
        )

    @router.get("/projects/{project}/models/{name}/versions/{ref}", include_in_schema=False)
    def version(request: Request, project: str, name: str, ref: str) -> Response:
        found = find(project, name, ref)
        inputs = outputs = None
        if found.signature is not None:
            inputs = Schema.from_dict(found.signature["inputs"])
            if found.signature.get("outputs"):
                outputs = Schema.from_dict(found.signature["outputs"])
        run = None
        if found.run_id is not None:
            try:
                run = backend.get_run(found.run_id)
            except NotFound:
                run = None
        return version_page(
            request,
            found,
            "overview",
            "model_version.html",
            inputs=inputs,
            outputs=outputs,
            run=run,
            serving=endpoints_serving(backend, found),  # serving + features UI
        )

    @router.get("/projects/{project}/models/{name}/versions/{ref}/card", include_in_schema=False)
    def card(request: Request, project: str, name: str, ref: str) -> Response:
        found = find(project, name, ref)
        markdown = backend.model_card(project, name, found.number)
        return version_page(
            request, found, "card", "model_card.html", card_html=_markdown_html(markdown)
        )

    @router.get("/projects/{project}/models/{name}/versions/{ref}/card.md", include_in_schema=False)
    def card_source(request: Request, project: str, name: str, ref: str) -> Response:
        found = find(project, name, ref)
        markdown = backend.model_card(project, name, found.number)
        headers = {
            **page_headers(),
            "Content-Disposition": f'attachment; filename="{name}-v{found.number}-card.md"',
        }
        return PlainTextResponse(markdown, media_type="text/markdown", headers=headers)

    @router.get("/projects/{project}/models/{name}/versions/{ref}/lineage", include_in_schema=False)
    def lineage(request: Request, project: str, name: str, ref: str) -> Response:
        found = find(project, name, ref)
        graph = lineage_graph(backend, found, base_url(request))
        return version_page(request, found, "lineage", "model_lineage.html", graph=graph)


def lineage_graph(backend: Backend, version: ModelVersion, ui: str) -> Graph:
    """The version, its source run and what the run read, upstream as far as lineage goes:
    laid out in columns, data on the left, the model on the right."""
    model_key = f"model:{version.id}"
    labels: dict[str, tuple[str, str, str, str]] = {
        model_key: (
            "model",
            f"{version.model} v{version.number}",
            ", ".join(version.aliases) or version.status,
            f"{ui}/projects/{version.project}/models/{version.model}/versions/{version.number}",
        )
    }
    edges: list[tuple[str, str]] = []
    if version.run_id is not None:
        run_key = f"run:{version.run_id}"
        edges.append((run_key, model_key))
        try:
            graph = backend.lineage(run_id=version.run_id, depth=LINEAGE_DEPTH)
        except NotFound:
            graph = None
        if graph is None:
            labels[run_key] = ("run", version.run_id[:12], "deleted", "")
        else:
            keep = {graph.root, *graph.upstream}
            for key in keep:
                node = graph.nodes[key]
                if node.kind == "run":
                    labels[key] = ("run", node.label, node.status or "", f"{ui}/runs/{node.id}")
                else:
                    dataset, _, number = node.label.rpartition(":")
                    url = (
                        f"{ui}/projects/{node.project}/datasets/{dataset}/version?v={number}"
                        if _datasets_pages()
                        else ""
                    )
                    labels[key] = ("dataset", node.label, node.project, url)
            edges += [
                (e.source, e.target) for e in graph.edges if e.source in keep and e.target in keep
            ]
    else:
        for t in version.training_data:
            key = f"version:{t.version_id}"
            labels[key] = ("dataset", f"{t.dataset}:{t.number}", t.project, "")
            edges.append((key, model_key))
    # Columns: distance from the model, following edges backwards (longest path wins).
    level = {model_key: 0}
    for _ in range(len(labels)):
        changed = False
        for source, target in edges:
            if target in level and level.get(source, -1) < level[target] + 1:
                level[source] = level[target] + 1
                changed = True
        if not changed:
            break
    columns = max(level.values()) + 1
    rows: dict[int, list[str]] = {}
    for key in sorted(labels, key=lambda k: (labels[k][1], k)):
        rows.setdefault(level.get(key, 1), []).append(key)
    height = max(len(r) for r in rows.values()) * (BOX_H + GAP_Y) - GAP_Y + 2 * PAD
    place: dict[str, tuple[int, int]] = {}
    nodes = []
    for lvl, keys in rows.items():
        x = PAD + (columns - 1 - lvl) * (BOX_W + GAP_X)
        top = (height - (len(keys) * (BOX_H + GAP_Y) - GAP_Y)) // 2
        for i, key in enumerate(keys):
            y = top + i * (BOX_H + GAP_Y)
            place[key] = (x, y)
            kind, label, detail, url = labels[key]
            nodes.append(GraphNode(key, kind, label, detail, url, x, y, key == model_key))
    lines = [
        GraphEdge(
            place[s][0] + BOX_W, place[s][1] + BOX_H // 2, place[t][0], place[t][1] + BOX_H // 2
        )
        for s, t in dict.fromkeys(edges)
        if s in place and t in place
    ]
    width = columns * (BOX_W + GAP_X) - GAP_X + 2 * PAD
    return Graph(nodes, lines, width, height)


def _datasets_pages() -> bool:
    return any(s.key == "datasets" and s.available for s in PROJECT_SECTIONS)


def _page_name(name: str) -> str:
    try:
        return validate_model_name(name)
    except Exception as exc:
        raise NotFound(f"There is no model {name[:60]!r}.") from exc


def _page_ref(ref: str) -> int | str:
    try:
        return validate_model_ref(ref)
    except Exception as exc:
        raise NotFound(f"There is no version {ref[:60]!r}.") from exc


def _markdown_html(text: str) -> str:
    """The card's Markdown as HTML. Raw HTML in it is escaped, never passed through."""
    from markdown_it import MarkdownIt

    html: str = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    return html
