"""The labelling page: a hard-examples dataset version, one card per example (drawn as an image
when the version has an ``image_shape``, else its inputs as a row), where a person confirms or
corrects each label, then commits them as the next version.

Each label is saved on the server as it is given (``save_labels``), so a reload, or another
reviewer, sees the progress. The page works without its script (each card is a form posting
back); with it, a label saves in the background and the next card takes the focus, so a
reviewer goes through the page with the keyboard alone: type the label (or keep the one
shown), press Enter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from loopline.datasets import validate_dataset_name
from loopline.errors import InvalidInput, NotFound
from loopline.monitoring._labelling_types import LabellingPage
from loopline.ui._endpoint_pages import actor_of
from loopline.ui._label_images import image_bytes_url, png_data_url
from loopline.ui._pages import sections_of
from loopline.ui._render import base_url, render

if TYPE_CHECKING:
    from loopline.backends import Backend

__all__ = ["add_labelling_routes", "PAGE_SIZE"]

PAGE_SIZE = 48
_SHOWN_COLUMNS = 40
"""Input columns a tabular card shows (the rest are counted)."""


def _page_url(ui: str, project: str, name: str) -> str:
    return f"{ui}/projects/{quote(project, safe='')}/datasets/{quote(name, safe='')}/labelling"


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > 1_000_000:
        raise InvalidInput("The form is too large.")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def add_labelling_routes(router: APIRouter, backend: Backend) -> None:
    """The labelling page of a dataset, and the label and commit posts it makes."""

    def checked(name: str) -> str:
        try:
            return validate_dataset_name(name)
        except InvalidInput:
            raise NotFound(f"There is no dataset {name[:60]!r}.") from None

    @router.get("/projects/{project}/datasets/{name}/labelling", include_in_schema=False)
    def labelling(request: Request, project: str, name: str) -> Response:
        checked(name)
        query = request.query_params
        raw_version = query.get("v", "latest").strip() or "latest"
        ref: int | str = int(raw_version) if raw_version.isdigit() else raw_version
        raw_page = query.get("page", "1")
        number = int(raw_page) if raw_page.isdigit() and int(raw_page) >= 1 else 1
        page = backend.labelling_page(
            project, name, ref, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        latest = backend.get_version(project, name, "latest")
        ui = base_url(request)
        state = page.state
        pages = max(1, -(-state.total // PAGE_SIZE))
        committed = query.get("committed", "")
        return render(
            request,
            "labelling.html",
            title=f"Label {name} · {project}",
            project_name=project,
            sections=sections_of(project, ui),
            section="datasets",
            dataset=name,
            state=state,
            latest=latest.number,
            cards=_cards(page),
            page=number,
            pages=pages,
            page_url=_page_url(ui, project, name),
            dataset_url=f"{ui}/projects/{quote(project, safe='')}/datasets/{quote(name, safe='')}",
            version_param="" if ref == "latest" else f"v={state.version}&",
            notice=_notice(committed, query.get("nothing", "")),
        )

    @router.post("/projects/{project}/datasets/{name}/labelling/labels", include_in_schema=False)
    async def save(request: Request, project: str, name: str) -> Response:
        checked(name)
        form = await _form(request)
        request_id = form.get("request_id", "")
        if not request_id:
            raise InvalidInput("The form names no example (request_id).")
        label: Any = form.get("label", "")
        if form.get("clear"):
            label = None
        try:
            state = backend.save_labels(
                project, name, {request_id: label}, actor=actor_of(request, backend)
            )
        except InvalidInput as exc:
            if _wants_json(request):
                return JSONResponse(
                    {"error": {"type": "InvalidInput", "message": exc.message}}, 400
                )
            raise
        if _wants_json(request):
            decided = {d.request_id: d for d in state.decisions}.get(request_id)
            return JSONResponse(
                {
                    "request_id": request_id,
                    "status": "todo" if decided is None else decided.status,
                    "label": None if decided is None else decided.label,
                    "done": state.done,
                    "total": state.total,
                    "waiting": state.waiting,
                }
            )
        back = form.get("back", "")
        target = _page_url(base_url(request), project, name)
        if back.startswith("?") and "\n" not in back:
            target += back
        return RedirectResponse(f"{target}#item-{quote(request_id, safe='')}", 303)

    @router.post("/projects/{project}/datasets/{name}/labelling/commit", include_in_schema=False)
    def commit(request: Request, project: str, name: str) -> Response:
        checked(name)
        done = backend.commit_labels(project, name, actor=actor_of(request, backend))
        target = _page_url(base_url(request), project, name)
        flag = "&nothing=1" if done.nothing_new else f"&count={done.committed}"
        return RedirectResponse(f"{target}?committed={done.version}{flag}", 303)


def _notice(committed: str, nothing: str) -> str | None:
    if not committed.isdigit():
        return None
    if nothing:
        return f"Nothing new to commit: version {committed} already has every saved label."
    return f"Committed: version {committed} has the labels, and live quality counts them."


def _cards(page: LabellingPage) -> list[dict[str, Any]]:
    state = page.state
    decided = {d.request_id: d for d in state.decisions}
    shape = state.image_shape
    inputs = page.input_columns
    cards = []
    for row in page.rows:
        request_id = str(row["request_id"])
        decision = decided.get(request_id)
        if decision is not None and (
            decision.committed_version is None or decision.committed_version > state.version
        ):
            status, value = "waiting", decision.label
        elif row.get("reviewed"):
            status, value = "reviewed", row.get("label")
        else:
            status = "todo"
            value = row.get("label") if row.get("label") is not None else row.get("predicted")
        image = None
        if shape:
            pixels = row["input"] if inputs == ["input"] else [row.get(c) for c in inputs]
            image = png_data_url(pixels, shape)
        if image is None and len(inputs) == 1:
            image = image_bytes_url(row.get(inputs[0]))
        confidence = row.get("confidence")
        cards.append(
            {
                "request_id": request_id,
                "status": status,
                "kind": None if decision is None else decision.status,
                "value": "" if value is None else str(value),
                "predicted": row.get("predicted"),
                "label": row.get("label"),
                "confidence": None if confidence is None else f"{confidence:.2f}",
                "reason": str(row.get("reason") or "").replace(",", ", ").replace("_", " "),
                "endpoint": row.get("endpoint"),
                "model": f"{row.get('model')}/{row.get('model_version')}",
                "ts": row.get("ts"),
                "image": image,
                "columns": [] if image else [(c, row.get(c)) for c in inputs[:_SHOWN_COLUMNS]],
                "more": 0 if image else max(0, len(inputs) - _SHOWN_COLUMNS),
            }
        )
    return cards
