"""Reviewing hard examples: people confirm or correct labels; a commit makes the next version.

Labels are saved one by one as a person gives them (rows in the metadata database, so a
reload or another reviewer sees them), and wait there until a commit. A commit takes every
waiting label, writes the dataset's next version with ``label`` filled and ``reviewed`` set
for those rows, and logs the labels into the evaluation store under their request ids (so live
quality counts them). Committing again with nothing new waiting writes nothing; two commits at
once are kept apart by a lock on the review, and the labels batch of a version has a name
derived from the version, so a retried log rewrites the same file instead of adding one.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from loopline.db import new_id, utcnow
from loopline.errors import Conflict, InvalidInput, did_you_mean
from loopline.monitoring._hard_examples import (
    META_COLUMNS,
    HardExamples,
    RegistryScorer,
    coerce_label,
    collect_hard_examples,
    latest_examples,
    read_examples,
    write_examples_version,
)
from loopline.monitoring._labelling_tables import LabelDecisionRow, LabelReviewRow
from loopline.monitoring._labelling_types import (
    LabelDecision,
    LabellingCommit,
    LabellingPage,
    LabellingState,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import pyarrow as pa

    from loopline.blobs import BlobStore
    from loopline.datasets import DatasetService, VersionInfo
    from loopline.db import Database
    from loopline.monitoring._evaluation import EvaluationStore
    from loopline.projects import ProjectService
    from loopline.registry import RegistryService

__all__ = [
    "LabellingService",
    "LabelDecision",
    "LabellingState",
    "LabellingPage",
    "LabellingCommit",
    "MAX_LABELS",
    "MAX_PAGE",
]

MAX_LABELS = 10_000
"""Labels accepted in one save."""
MAX_PAGE = 500
LOCK_TIMEOUT = timedelta(minutes=10)
"""A commit lock older than this is taken to belong to a commit that died."""


class LabellingService:
    """Collections of hard examples and their review, for both backends (and the UI).

    Example:
        >>> svc = LabellingService(db, projects, datasets, get_blobs, get_store, registry, cache)
        >>> svc.collect("vision", "digits-api", "digits-review").version
        1
        >>> svc.save("vision", "digits-review", {"req-1": 7}, actor="ana").waiting
        1
        >>> svc.commit("vision", "digits-review", actor="ana").version
        2
    """

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        datasets: DatasetService,
        blobs: Callable[[], BlobStore],
        evaluations: Callable[[], EvaluationStore],
        registry: RegistryService | None = None,
        model_cache: Path | None = None,
    ) -> None:
        self._db = db
        self._projects = projects
        self._datasets = datasets
        self._blobs = blobs
        self._evaluations = evaluations
        self._registry = registry
        self._model_cache = model_cache

    # -- collecting -------------------------------------------------------------------------------

    def collect(
        self,
        project: str,
        endpoint: str,
        dataset: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        confidence_below: float | None = 0.6,
        misclassified: bool = True,
        limit: int = 500,
        image_shape: list[int] | None = None,
        use_model: bool = True,
        actor: str = "",
    ) -> HardExamples:
        """See :func:`loopline.collect_hard_examples`."""
        self._projects.ensure(project)  # a dataset is made in it
        scorer = None
        if use_model and self._registry is not None and self._model_cache is not None:
            scorer = RegistryScorer(self._registry, self._blobs(), self._model_cache, project)
        return collect_hard_examples(
            self._evaluations(),
            self._datasets,
            self._blobs(),
            project,
            endpoint,
            dataset,
            since=since,
            until=until,
            confidence_below=confidence_below,
            misclassified=misclassified,
            limit=limit,
            image_shape=image_shape,
            scorer=scorer,
            actor=actor,
        )

    # -- reading ----------------------------------------------------------------------------------

    def state(self, project: str, dataset: str, ref: int | str = "latest") -> LabellingState:
        info = self._datasets.version(project, dataset, ref)
        table, doc = read_examples(self._blobs(), self._datasets, info)
        return self._state(info, table, doc, self._decisions(project, dataset))

    def page(
        self, project: str, dataset: str, ref: int | str = "latest", *, offset: int = 0,
        limit: int = 50,
    ) -> LabellingPage:  # fmt: skip
        """Rows ``offset`` to ``offset + limit`` of a version, with the labels saved for them."""
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidInput(f"offset must be a whole number from 0, not {offset!r}.")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be a whole number from 1 to {MAX_PAGE}, not {limit!r}.")
        info = self._datasets.version(project, dataset, ref)
        table, doc = read_examples(self._blobs(), self._datasets, info)
        state = self._state(info, table, doc, self._decisions(project, dataset))
        part = table.slice(offset, limit)
        rows = [_jsonable_row(row) for row in part.to_pylist()]
        inputs = [c for c in table.column_names if c not in META_COLUMNS]
        return LabellingPage(state=state, offset=offset, input_columns=inputs, rows=rows)

    def _state(
        self,
        info: VersionInfo,
        table: pa.Table,
        doc: dict[str, Any],
        decisions: list[LabelDecision],
    ) -> LabellingState:
        ids = table.column("request_id").to_pylist()
        reviewed_flags = table.column("reviewed").to_pylist()
        reviewed = {i for i, r in zip(ids, reviewed_flags, strict=True) if r}
        in_version = set(ids)
        waiting = {
            d.request_id
            for d in decisions
            if d.request_id in in_version
            and (d.committed_version is None or d.committed_version > info.number)
        }
        return LabellingState(
            project=info.project,
            dataset=info.dataset,
            version=info.number,
            total=len(ids),
            reviewed=len(reviewed),
            waiting=len(waiting),
            done=len(reviewed | waiting),
            image_shape=doc.get("image_shape"),
            decisions=[d for d in decisions if d.request_id in in_version],
        )

    def _decisions(self, project: str, dataset: str) -> list[LabelDecision]:
        project_row = self._projects.get(project)
        with self._db.session() as session:
            review = session.scalar(
                select(LabelReviewRow).where(
                    LabelReviewRow.project_id == project_row.id, LabelReviewRow.dataset == dataset
                )
            )
            if review is None:
                return []
            rows = session.scalars(
                select(LabelDecisionRow)
                .where(LabelDecisionRow.review_id == review.id)
                .order_by(LabelDecisionRow.decided_at, LabelDecisionRow.request_id)
            ).all()
            return [_decision(r) for r in rows]

    # -- labelling --------------------------------------------------------------------------------

    def save(
        self, project: str, dataset: str, labels: Mapping[str, Any], *, actor: str
    ) -> LabellingState:
        """Save labels ``{request_id: label}`` for the latest version's rows (None takes a
        waiting label back). A label equal to the prediction is *confirmed*, another one
        *corrected*. Labels wait for :meth:`commit`."""
        if not isinstance(labels, Mapping):
            raise InvalidInput(
                f"labels must be a mapping {{request_id: label}}, not {type(labels).__name__}."
            )
        if len(labels) > MAX_LABELS:
            raise InvalidInput(f"At most {MAX_LABELS:,} labels in one save; send them in parts.")
        info, table, doc = latest_examples(self._blobs(), self._datasets, project, dataset)
        if info is None or table is None or doc is None:
            self._datasets.version(project, dataset, "latest")  # NotFound, with the reason
            raise AssertionError("unreachable")  # pragma: no cover
        ids = table.column("request_id").to_pylist()
        predicted = dict(zip(ids, table.column("predicted").to_pylist(), strict=True))
        kind = table.schema.field("label").type
        checked: dict[str, tuple[str, str] | None] = {}
        for request_id, value in labels.items():
            if not isinstance(request_id, str) or request_id not in predicted:
                shown = str(request_id)[:100]
                raise InvalidInput(
                    f"Request {shown!r} is not among the {len(ids)} examples of {info.ref}."
                    f"{did_you_mean(shown, ids)}"
                )
            if value is None:
                checked[request_id] = None
                continue
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidInput(f"The label of {request_id!r} is not a finite number.")
            label = coerce_label(value, kind)
            same = (
                predicted[request_id] is not None
                and coerce_label(predicted[request_id], kind) == label
            )
            checked[request_id] = (json.dumps(label), "confirmed" if same else "corrected")
        actor = (actor or "unknown")[:200]
        review_id = self._review_id(project, dataset)
        now = utcnow()
        with self._db.transaction() as session:
            existing = {
                r.request_id: r
                for r in session.scalars(
                    select(LabelDecisionRow).where(
                        LabelDecisionRow.review_id == review_id,
                        LabelDecisionRow.request_id.in_(list(checked)),
                    )
                )
            }
            for request_id, given in checked.items():
                row = existing.get(request_id)
                if given is None:
                    if row is not None and row.committed_version is None:
                        session.delete(row)
                    continue
                text, status = given
                if row is None:
                    session.add(
                        LabelDecisionRow(
                            id=new_id(), review_id=review_id, request_id=request_id,
                            label=text, status=status, decided_by=actor, decided_at=now,
                        )
                    )  # fmt: skip
                elif row.label != text or row.status != status:
                    row.label, row.status, row.decided_by, row.decided_at = text, status, actor, now
                    row.committed_version = None
        return self._state(info, table, doc, self._decisions(project, dataset))

    def _review_id(self, project: str, dataset: str) -> str:
        project_row = self._projects.get(project)
        for _ in range(2):
            with self._db.session() as session:
                found = session.scalar(
                    select(LabelReviewRow.id).where(
                        LabelReviewRow.project_id == project_row.id,
                        LabelReviewRow.dataset == dataset,
                    )
                )
            if found is not None:
                return found
            try:
                with self._db.transaction() as session:
                    session.add(LabelReviewRow(project_id=project_row.id, dataset=dataset))
            except (IntegrityError, Conflict):
                continue  # another writer made it meanwhile
        raise Conflict(f"Could not start the review of {project}/{dataset}; try again.")

    # -- committing -------------------------------------------------------------------------------

    def commit(self, project: str, dataset: str, *, actor: str) -> LabellingCommit:
        """Write the labels waiting as the dataset's next version and log them for live
        quality (see the module doc). Nothing waiting: the latest version, ``nothing_new``.

        Raises:
            Conflict: another commit of this dataset is under way.
        """
        review_id = self._review_id(project, dataset)
        token = new_id()
        now = utcnow()
        with self._db.transaction() as session:
            claimed = session.execute(
                update(LabelReviewRow)
                .where(
                    LabelReviewRow.id == review_id,
                    (LabelReviewRow.commit_lock.is_(None))
                    | (LabelReviewRow.locked_at < now - LOCK_TIMEOUT),
                )
                .values(commit_lock=token, locked_at=now)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                raise Conflict(
                    f"Another commit of {project}/{dataset} is under way: wait for it, then "
                    f"reload the page."
                )
        try:
            return self._commit(project, dataset, review_id, actor)
        finally:
            with self._db.transaction() as session:
                session.execute(
                    update(LabelReviewRow)
                    .where(LabelReviewRow.id == review_id, LabelReviewRow.commit_lock == token)
                    .values(commit_lock=None, locked_at=None)
                )

    def _commit(self, project: str, dataset: str, review_id: str, actor: str) -> LabellingCommit:
        import pyarrow as pa

        blobs = self._blobs()
        info, table, doc = latest_examples(blobs, self._datasets, project, dataset)
        if info is None or table is None or doc is None:
            self._datasets.version(project, dataset, "latest")
            raise AssertionError("unreachable")  # pragma: no cover
        with self._db.session() as session:
            waiting = list(
                session.scalars(
                    select(LabelDecisionRow).where(
                        LabelDecisionRow.review_id == review_id,
                        LabelDecisionRow.committed_version.is_(None),
                    )
                )
            )
            pending = {r.request_id: (r.id, json.loads(r.label), r.status) for r in waiting}
        ids = table.column("request_id").to_pylist()
        usable = {i: pending[i] for i in ids if i in pending}
        if not usable:
            return LabellingCommit(project, dataset, info.number, 0, 0, 0, 0, nothing_new=True)
        kind = table.schema.field("label").type
        labels = table.column("label").to_pylist()
        reviewed = table.column("reviewed").to_pylist()
        for position, request_id in enumerate(ids):
            if request_id in usable:
                labels[position] = coerce_label(usable[request_id][1], kind)
                reviewed[position] = True
        names = table.column_names
        table = table.set_column(names.index("label"), "label", pa.array(labels, kind))
        table = table.set_column(
            names.index("reviewed"), "reviewed", pa.array(reviewed, pa.bool_())
        )
        corrected = sum(1 for v in usable.values() if v[2] == "corrected")
        now = datetime.now(UTC)
        doc = dict(doc)
        doc["reviews"] = [
            *doc.get("reviews", []),
            {
                "at": now.isoformat(),
                "by": actor,
                "count": len(usable),
                "corrected": corrected,
                "request_ids": sorted(usable),
            },
        ]
        message = (
            f"Reviewed {len(usable)} hard examples ({corrected} corrected, "
            f"{len(usable) - corrected} confirmed)"
        )
        new = write_examples_version(
            blobs, self._datasets, project, dataset, info, table, doc, message
        )
        logged = self._log_labels(project, new, table, set(usable))
        with self._db.transaction() as session:
            for decision_id, value, status in usable.values():
                session.execute(
                    update(LabelDecisionRow)
                    .where(
                        LabelDecisionRow.id == decision_id,
                        LabelDecisionRow.label == json.dumps(value),
                        LabelDecisionRow.status == status,
                        LabelDecisionRow.committed_version.is_(None),
                    )
                    .values(committed_version=new.number)
                )
        return LabellingCommit(
            project=project,
            dataset=dataset,
            version=new.number,
            committed=len(usable),
            confirmed=len(usable) - corrected,
            corrected=corrected,
            labels_logged=logged,
        )

    def _log_labels(
        self, project: str, version: VersionInfo, table: pa.Table, request_ids: set[str]
    ) -> int:
        """The committed labels into the evaluation store, one batch per endpoint, named after
        the version (a retry rewrites the same files)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        chosen = table.filter(pc.is_in(table.column("request_id"), pa.array(sorted(request_ids))))
        store = self._evaluations()
        millis = int(version.created_at.timestamp() * 1000)
        logged = 0
        for endpoint in sorted(set(chosen.column("endpoint").to_pylist())):
            part = chosen.filter(pc.equal(chosen.column("endpoint"), endpoint))
            digest = hashlib.sha256(f"{version.id}/{endpoint}".encode()).hexdigest()
            batch = pa.table(
                {
                    "request_id": part.column("request_id"),
                    "ts": pa.array(
                        [version.created_at] * part.num_rows, pa.timestamp("us", tz="UTC")
                    ),
                    "label": part.column("label"),
                }
            )
            store.append_labels(project, endpoint, batch, batch_id=f"{millis:012x}{digest[:20]}")
            logged += part.num_rows
        return logged


def _decision(row: LabelDecisionRow) -> LabelDecision:
    return LabelDecision(
        request_id=row.request_id,
        label=json.loads(row.label),
        status=row.status,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        committed_version=row.committed_version,
    )


def _jsonable_row(row: dict[str, Any]) -> dict[str, Any]:
    import base64

    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, bytes | bytearray):
            value = base64.b64encode(bytes(value)).decode("ascii")
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out
