"""DatasetService: datasets, versions, aliases and lineage in the metadata database.

Files and manifests live in the blob store; this service keeps the rows that name them and
checks, at commit, that everything a version refers to is stored. Both backends call it: the
local backend in-process, the server behind its routes.
"""

from __future__ import annotations

import builtins
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loopline.blobs import BlobStore, validate_digest
from loopline.datasets._hashing import parallel_map
from loopline.datasets._manifest import Manifest, diff_manifests
from loopline.datasets._tables import AliasRow, DatasetRow, LineageRow, VersionRow
from loopline.datasets._types import (
    MAX_MESSAGE,
    DatasetDiff,
    DatasetInfo,
    Direction,
    FileEntry,
    FilePage,
    Lineage,
    LineageEdge,
    LineageNode,
    VersionInfo,
    validate_alias,
    validate_dataset_name,
    validate_version_ref,
)
from loopline.db import Database
from loopline.errors import Conflict, CorruptBlob, InvalidInput, NotFound, did_you_mean
from loopline.projects import Project, ProjectService
from loopline.tracking import TrackingService, validate_run_id

__all__ = ["DatasetService", "COMMIT_ATTEMPTS"]

COMMIT_ATTEMPTS = 8
"""Tries to number a version when concurrent committers collide on PostgreSQL."""
MAX_LINEAGE_DEPTH = 50
MANIFEST_CACHE = 16
"""Decoded manifests the service keeps (the most recently used)."""
_DIRECTIONS = ("consumed", "produced")


class DatasetService:
    """Everything datasets store, behind one service that both backends (and the UI) call.

    Args:
        db: the metadata database.
        projects: the project service (datasets live in projects, created on first use).
        tracking: the tracking service (lineage names runs).
        blobs: returns the blob store (opened lazily by the backend).

    Example:
        >>> svc = DatasetService(db, projects, tracking, lambda: store)
        >>> svc.create("vision", "digits").name
        'digits'
        >>> svc.commit("vision", "digits", manifest_digest, message="first").number
        1
    """

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        tracking: TrackingService,
        blobs: Callable[[], BlobStore],
    ) -> None:
        self._db = db
        self._projects = projects
        self._tracking = tracking
        self._blobs = blobs
        self._manifests: OrderedDict[str, Manifest] = OrderedDict()
        self._cache_lock = threading.Lock()

    # -- datasets ------------------------------------------------------------------------------

    def create(self, project: str, name: str, description: str = "") -> DatasetInfo:
        """The dataset ``name`` in ``project``, created (with the project) if it does not exist.

        Creating is idempotent: a dataset is a name to commit versions under, and two scripts
        starting the same dataset at once both get it.
        """
        validate_dataset_name(name)
        if not isinstance(description, str) or len(description) > MAX_MESSAGE:
            raise InvalidInput(
                f"A dataset description is text of at most {MAX_MESSAGE} characters."
            )
        project_row = self._projects.ensure(project)
        try:
            with self._db.transaction() as session:
                found = self._find(session, project_row.id, name)
                if found is None:
                    session.add(
                        DatasetRow(project_id=project_row.id, name=name, description=description)
                    )
        except IntegrityError:
            pass  # created by another writer meanwhile: theirs is ours
        return self.get(project, name)

    def get(self, project: str, name: str) -> DatasetInfo:
        """A dataset with its latest version. NotFound (with the closest name) when absent."""
        project_row = self._projects.get(project)
        with self._db.session() as session:
            row = self._dataset_row(session, project_row, name)
            return self._infos(session, project_row, [row])[0]

    def list(self, project: str) -> list[DatasetInfo]:
        """Every dataset of ``project``, by name, each with its latest version."""
        project_row = self._projects.get(project)
        with self._db.session() as session:
            rows = session.scalars(
                select(DatasetRow).where(DatasetRow.project_id == project_row.id)
            ).all()
            infos = self._infos(session, project_row, list(rows))
        return sorted(infos, key=lambda d: d.name)

    # -- versions ------------------------------------------------------------------------------

    def versions(self, project: str, name: str) -> builtins.list[VersionInfo]:
        """Every version of a dataset, newest first."""
        project_row = self._projects.get(project)
        with self._db.session() as session:
            dataset = self._dataset_row(session, project_row, name)
            rows = session.scalars(
                select(VersionRow)
                .where(VersionRow.dataset_id == dataset.id)
                .order_by(VersionRow.number.desc())
            ).all()
            return self._version_infos(session, list(rows))

    def version(self, project: str, name: str, ref: int | str = "latest") -> VersionInfo:
        """One version: by number, ``"latest"``, or an alias.

        Raises:
            NotFound: no such dataset, number or alias (the message lists what exists).
        """
        ref = validate_version_ref(ref)
        project_row = self._projects.get(project)
        with self._db.session() as session:
            dataset = self._dataset_row(session, project_row, name)
            row = self._version_row(session, dataset, ref)
            return self._version_infos(session, [row])[0]

    def version_by_id(self, version_id: str) -> VersionInfo:
        """A version by its id (as lineage records name it)."""
        validate_run_id(version_id)  # the same 32-hex form
        with self._db.session() as session:
            row = session.get(VersionRow, version_id)
            if row is None:
                raise NotFound(f"No dataset version with id {version_id}.")
            return self._version_infos(session, [row])[0]

    def manifest(self, project: str, name: str, ref: int | str = "latest") -> Manifest:
        """The files of a version (read from its manifest blob, verified)."""
        return self._read_manifest(self.version(project, name, ref).digest)

    def files(
        self,
        project: str,
        name: str,
        ref: int | str = "latest",
        *,
        prefix: str = "",
        offset: int = 0,
        limit: int = 100,
    ) -> FilePage:
        """A page of a version's files, sorted by path, optionally under a folder ``prefix``."""
        if offset < 0 or not 1 <= limit <= 10_000:
            raise InvalidInput("offset must be 0 or more and limit from 1 to 10,000.")
        entries: Iterable[FileEntry] = self.manifest(project, name, ref)
        if prefix:
            entries = (e for e in entries if e.path.startswith(prefix))
        matching = list(entries)
        return FilePage(len(matching), matching[offset : offset + limit])

    def diff(self, project: str, name: str, a: int | str, b: int | str) -> DatasetDiff:
        """What changed from version ``a`` to version ``b`` of one dataset."""
        va, vb = self.version(project, name, a), self.version(project, name, b)
        return diff_manifests(
            self._read_manifest(va.digest),
            self._read_manifest(vb.digest),
            a_name=f"{name}:{va.number}",
            b_name=f"{name}:{vb.number}",
        )

    def profile(self, project: str, name: str, ref: int | str = "latest") -> dict[str, Any] | None:
        """The profiles of a version's tabular files (see ``datasets._profile``), or ``None``."""
        version = self.version(project, name, ref)
        if version.profile_digest is None:
            return None
        data: dict[str, Any] = json.loads(self._blobs().get_bytes(version.profile_digest))
        return data

    def commit(
        self,
        project: str,
        name: str,
        manifest_digest: str,
        *,
        parent: int | None = None,
        message: str = "",
        run_id: str | None = None,
        profile_digest: str | None = None,
    ) -> VersionInfo:
        """Make the stored manifest ``manifest_digest`` the dataset's next version.

        Everything is checked before anything is written: the manifest is readable, every file
        it adds or changes against ``parent`` is stored with its size, the profile is stored.
        Then one transaction numbers the version (``max + 1``, under a lock on the dataset row,
        retried if two PostgreSQL committers still collide) and records the producing run.
        So a commit whose uploads did not finish leaves no version, and two committers at once
        both get a version, numbered in the order their transactions commit.

        Raises:
            InvalidInput: an empty version, a version equal to its parent, a missing blob.
            NotFound: no such dataset, parent version or run.
        """
        validate_dataset_name(name)
        validate_digest(manifest_digest)
        if profile_digest is not None:
            validate_digest(profile_digest)
        if run_id is not None:
            validate_run_id(run_id)
        if not isinstance(message, str) or len(message) > MAX_MESSAGE:
            raise InvalidInput(f"A commit message is text of at most {MAX_MESSAGE} characters.")
        if parent is not None:
            number = validate_version_ref(parent)
            if not isinstance(number, int):
                raise InvalidInput(
                    f"A commit's parent is a version number, not {parent!r}: resolve "
                    f"'latest' or an alias to its number first."
                )
            parent = number
        store = self._blobs()
        if not store.exists(manifest_digest):
            raise InvalidInput(
                f"Manifest blob {manifest_digest} is not stored: upload it before committing."
            )
        try:
            manifest = self._read_manifest(manifest_digest)
        except CorruptBlob as exc:
            # Bytes the caller uploaded as a manifest: bad input, not a damaged store.
            if exc.details.get("digest") == manifest_digest:
                raise
            raise InvalidInput(
                f"Blob {manifest_digest} is not a dataset manifest: {exc.message}"
            ) from exc
        if not len(manifest):
            raise InvalidInput(
                "Nothing to commit: the version would hold no files. Add files first "
                "(add_files, add_frame)."
            )
        base = Manifest.empty()
        dataset_id = self._dataset_id(project, name)
        parent_info: VersionInfo | None = None
        if parent is not None:
            parent_info = self.version(project, name, parent)
            if parent_info.digest == manifest_digest:
                raise InvalidInput(
                    f"Nothing to commit: the files are exactly those of {name}:{parent}."
                )
            base = self._read_manifest(parent_info.digest)
        changes = diff_manifests(base, manifest)
        self._check_stored(store, manifest, base)
        if profile_digest is not None:
            self._check_profile(store, profile_digest)
        if run_id is not None:
            self._tracking.get_run(run_id)  # NotFound for an unknown run
        row = self._insert_version(
            dataset_id,
            manifest_digest=manifest_digest,
            parent_id=None if parent_info is None else parent_info.id,
            message=message,
            file_count=len(manifest),
            total_bytes=manifest.total_bytes,
            stored_bytes=_new_bytes(base, manifest),
            added=len(changes.added),
            removed=len(changes.removed),
            modified=len(changes.modified),
            profile_digest=profile_digest,
            run_id=run_id,
        )
        return self.version_by_id(row)

    def quota_usage(self, project: str) -> dict[str, int]:
        """Bytes the project's dataset versions stored: what each added to its parent
        (accounts' usage counter)."""
        project_id = self._projects.get(project).id
        with self._db.session() as session:
            total = session.scalar(
                select(
                    func.coalesce(
                        func.sum(func.coalesce(VersionRow.stored_bytes, VersionRow.total_bytes)), 0
                    )
                )
                .join(DatasetRow, DatasetRow.id == VersionRow.dataset_id)
                .where(DatasetRow.project_id == project_id)
            )
        return {"storage_bytes": int(total or 0)}

    def set_alias(self, project: str, name: str, alias: str, ref: int | str) -> VersionInfo:
        """Point ``alias`` at a version (moving it if it named another); return that version."""
        validate_alias(alias)
        target = self.version(project, name, ref)
        dataset = self.get(project, name)
        for _ in range(2):
            try:
                with self._db.transaction() as session:
                    row = session.get(AliasRow, (dataset.id, alias))
                    if row is None:
                        session.add(
                            AliasRow(dataset_id=dataset.id, alias=alias, version_id=target.id)
                        )
                    else:
                        row.version_id = target.id
                break
            except IntegrityError:
                continue  # set by another writer at the same moment: set it again, over theirs
        return self.version_by_id(target.id)

    def remove_alias(self, project: str, name: str, alias: str) -> None:
        """Remove an alias. NotFound when the dataset has no such alias."""
        validate_alias(alias)
        dataset = self.get(project, name)
        with self._db.transaction() as session:
            row = session.get(AliasRow, (dataset.id, alias))
            if row is None:
                raise NotFound(f"Dataset {name!r} has no alias {alias!r}.")
            session.delete(row)

    # -- lineage -------------------------------------------------------------------------------

    def record_lineage(self, run_id: str, version_id: str, direction: Direction) -> None:
        """Record that a run consumed or produced a version (recording it again changes nothing)."""
        validate_run_id(run_id)
        validate_run_id(version_id)
        if direction not in _DIRECTIONS:
            raise InvalidInput(f"direction must be 'consumed' or 'produced', not {direction!r}.")
        self._tracking.get_run(run_id)
        self.version_by_id(version_id)
        try:
            with self._db.transaction() as session:
                if session.get(LineageRow, (run_id, version_id, direction)) is None:
                    session.add(
                        LineageRow(run_id=run_id, version_id=version_id, direction=direction)
                    )
        except IntegrityError:
            pass  # the same fact, recorded by another writer at the same moment

    def lineage(
        self, *, run_id: str | None = None, version_id: str | None = None, depth: int = 10
    ) -> Lineage:
        """The lineage around a run or a version, walked ``depth`` steps upstream and downstream.

        Upstream of a version are the runs that produced it, then the versions those runs
        consumed, and so on; downstream, the runs that consumed it and what they produced.

        Example:
            >>> g = svc.lineage(version_id=v.id)
            >>> [g.nodes[k].label for k in g.downstream]
            ['train-rf', 'digits-clean:1']
        """
        if (run_id is None) == (version_id is None):
            raise InvalidInput("Give exactly one of run_id and version_id.")
        if not 1 <= depth <= MAX_LINEAGE_DEPTH:
            raise InvalidInput(f"depth must be from 1 to {MAX_LINEAGE_DEPTH}.")
        if run_id is not None:
            validate_run_id(run_id)
            self._tracking.get_run(run_id)
            root = f"run:{run_id}"
        else:
            assert version_id is not None
            self.version_by_id(version_id)
            root = f"version:{version_id}"
        edges: dict[tuple[str, str], LineageEdge] = {}
        with self._db.session() as session:
            upstream = self._walk(session, root, depth, edges, downstream=False)
            downstream = self._walk(session, root, depth, edges, downstream=True)
        keys = [root, *upstream, *downstream]
        nodes = self._describe(keys)
        return Lineage(root, nodes, list(edges.values()), upstream, downstream)

    def _walk(
        self,
        session: Session,
        root: str,
        depth: int,
        edges: dict[tuple[str, str], LineageEdge],
        *,
        downstream: bool,
    ) -> builtins.list[str]:
        seen = {root}
        order: builtins.list[str] = []
        frontier = [root]
        for _ in range(depth):
            runs = [k.split(":", 1)[1] for k in frontier if k.startswith("run:")]
            versions = [k.split(":", 1)[1] for k in frontier if k.startswith("version:")]
            found: builtins.list[str] = []
            # Downstream: a run's products and a version's consumers; upstream the reverse.
            run_dir, version_dir = (
                ("produced", "consumed") if downstream else ("consumed", "produced")
            )
            if runs:
                for r in session.execute(
                    select(LineageRow.run_id, LineageRow.version_id).where(
                        LineageRow.run_id.in_(runs), LineageRow.direction == run_dir
                    )
                ):
                    src, dst = f"run:{r.run_id}", f"version:{r.version_id}"
                    edge = (src, dst) if run_dir == "produced" else (dst, src)
                    edges[edge] = LineageEdge(*edge, run_dir)  # type: ignore[arg-type]
                    found.append(dst)
            if versions:
                for r in session.execute(
                    select(LineageRow.run_id, LineageRow.version_id).where(
                        LineageRow.version_id.in_(versions), LineageRow.direction == version_dir
                    )
                ):
                    src, dst = f"version:{r.version_id}", f"run:{r.run_id}"
                    edge = (src, dst) if version_dir == "consumed" else (dst, src)
                    edges[edge] = LineageEdge(*edge, version_dir)  # type: ignore[arg-type]
                    found.append(dst)
            frontier = [k for k in dict.fromkeys(found) if k not in seen]
            seen.update(frontier)
            order.extend(frontier)
            if not frontier:
                break
        return order

    def _describe(self, keys: Sequence[str]) -> dict[str, LineageNode]:
        nodes: dict[str, LineageNode] = {}
        for key in keys:
            kind, _, ident = key.partition(":")
            if key in nodes:
                continue
            if kind == "run":
                run = self._tracking.get_run(ident)
                nodes[key] = LineageNode(key, "run", ident, run.name, run.project, run.status)
            else:
                v = self.version_by_id(ident)
                nodes[key] = LineageNode(
                    key, "version", ident, f"{v.dataset}:{v.number}", v.project
                )
        return nodes

    # -- internals -----------------------------------------------------------------------------

    def _read_manifest(self, digest: str) -> Manifest:
        # Manifests are immutable and content-addressed: a few recent ones are kept decoded
        # (a commit reads its parent's, which the previous commit just wrote).
        with self._cache_lock:
            found = self._manifests.get(digest)
            if found is not None:
                self._manifests.move_to_end(digest)
                return found
        manifest = Manifest.decode(self._blobs().get_bytes(digest), where=f"manifest blob {digest}")
        with self._cache_lock:
            self._manifests[digest] = manifest
            while len(self._manifests) > MANIFEST_CACHE:
                self._manifests.popitem(last=False)
        return manifest

    def _check_profile(self, store: BlobStore, digest: str) -> None:
        try:
            doc = json.loads(store.get_bytes(digest))
        except NotFound as exc:
            raise InvalidInput(f"Profile blob {digest} is not stored: upload it first.") from exc
        except ValueError as exc:
            raise InvalidInput(f"Profile blob {digest} is not JSON: {exc}.") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("schema"), int):
            raise InvalidInput(f"Profile blob {digest} is not a dataset profile (no schema).")

    def _check_stored(self, store: BlobStore, manifest: Manifest, base: Manifest) -> None:
        # Files unchanged from the parent were checked when the parent was committed.
        new = {d: s for p, (d, s) in manifest.entries.items() if base.entries.get(p) != (d, s)}
        items = sorted(new.items())

        def problem(item: tuple[str, int]) -> str | None:
            digest, size = item
            try:
                found = store.size(digest)
            except NotFound:
                return "missing"
            return None if found == size else f"holds {found} bytes, not {size}"

        problems = parallel_map(problem, items, workers=8 if len(items) > 16 else 1)
        bad = [(d, p) for (d, _), p in zip(items, problems, strict=True) if p is not None]
        if bad:
            by_digest = {d: p for p, (d, _) in manifest.entries.items()}
            digest, why = bad[0]
            raise InvalidInput(
                f"{len(bad)} file(s) of this version are not stored (first: "
                f"{by_digest[digest]!r}, blob {digest} {why}). Upload them, then commit again.",
                details={"missing": [d for d, _ in bad[:100]]},
            )

    def _insert_version(self, dataset_id: str, *, run_id: str | None, **values: Any) -> str:
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                with self._db.transaction() as session:
                    # The row lock queues committers of one dataset on PostgreSQL (SQLite
                    # writers are queued by BEGIN IMMEDIATE already), so max + 1 is free.
                    session.execute(
                        select(DatasetRow.id).where(DatasetRow.id == dataset_id).with_for_update()
                    )
                    latest = session.scalar(
                        select(func.max(VersionRow.number)).where(
                            VersionRow.dataset_id == dataset_id
                        )
                    )
                    row = VersionRow(dataset_id=dataset_id, number=(latest or 0) + 1, **values)
                    session.add(row)
                    session.flush()
                    if run_id is not None:
                        session.add(
                            LineageRow(run_id=run_id, version_id=row.id, direction="produced")
                        )
                    return row.id
            except IntegrityError as exc:
                if attempt == COMMIT_ATTEMPTS - 1:
                    raise Conflict(
                        "Could not number the new version: other commits to this dataset kept "
                        "taking the next number. Retry the commit."
                    ) from exc
        raise AssertionError("unreachable")

    def _dataset_id(self, project: str, name: str) -> str:
        project_row = self._projects.get(project)
        with self._db.session() as session:
            return self._dataset_row(session, project_row, name).id

    def _find(self, session: Session, project_id: str, name: str) -> DatasetRow | None:
        return session.scalars(
            select(DatasetRow).where(DatasetRow.project_id == project_id, DatasetRow.name == name)
        ).one_or_none()

    def _dataset_row(self, session: Session, project: Project, name: str) -> DatasetRow:
        validate_dataset_name(name)
        row = self._find(session, project.id, name)
        if row is not None:
            return row
        names = session.scalars(
            select(DatasetRow.name).where(DatasetRow.project_id == project.id)
        ).all()
        raise NotFound(
            f"Dataset {name!r} not found in project {project.name!r}.{did_you_mean(name, names)}"
        )

    def _version_row(self, session: Session, dataset: DatasetRow, ref: int | str) -> VersionRow:
        query = select(VersionRow).where(VersionRow.dataset_id == dataset.id)
        if ref == "latest":
            row = session.scalars(query.order_by(VersionRow.number.desc()).limit(1)).first()
            if row is None:
                raise NotFound(f"Dataset {dataset.name!r} has no versions yet: commit one first.")
            return row
        if isinstance(ref, int):
            row = session.scalars(query.where(VersionRow.number == ref)).one_or_none()
            if row is None:
                latest = session.scalar(
                    select(func.max(VersionRow.number)).where(VersionRow.dataset_id == dataset.id)
                )
                has = f"its versions are 1 to {latest}" if latest else "it has no versions yet"
                raise NotFound(f"Dataset {dataset.name!r} has no version {ref} ({has}).")
            return row
        alias = session.get(AliasRow, (dataset.id, ref))
        if alias is None:
            aliases = session.scalars(
                select(AliasRow.alias).where(AliasRow.dataset_id == dataset.id)
            ).all()
            raise NotFound(
                f"Dataset {dataset.name!r} has no version or alias {ref!r}."
                f"{did_you_mean(ref, [*aliases, 'latest'])}"
            )
        found = session.get(VersionRow, alias.version_id)
        assert found is not None  # the foreign key keeps it
        return found

    def _infos(
        self, session: Session, project: Project, rows: Sequence[DatasetRow]
    ) -> builtins.list[DatasetInfo]:
        ids = [r.id for r in rows]
        counts: dict[str, tuple[int, int]] = {}
        if ids:
            for dataset_id, count, newest in session.execute(
                select(VersionRow.dataset_id, func.count(), func.max(VersionRow.number))
                .where(VersionRow.dataset_id.in_(ids))
                .group_by(VersionRow.dataset_id)
            ):
                counts[dataset_id] = (int(count), int(newest))
        latest_rows: builtins.list[VersionRow] = []
        if counts:
            pairs = [(d, n) for d, (_, n) in counts.items()]
            latest_rows = list(
                session.scalars(
                    select(VersionRow).where(
                        tuple_(VersionRow.dataset_id, VersionRow.number).in_(pairs)
                    )
                ).all()
            )
        # Names are unique within the project, so they key the latest versions.
        latest = {v.dataset: v for v in self._version_infos(session, latest_rows, rows)}
        return [
            DatasetInfo(
                id=r.id,
                project=project.name,
                name=r.name,
                description=r.description,
                created_at=r.created_at,
                version_count=counts.get(r.id, (0, 0))[0],
                latest=latest.get(r.name),
            )
            for r in rows
        ]

    def _version_infos(
        self,
        session: Session,
        rows: Sequence[VersionRow],
        datasets: Sequence[DatasetRow] = (),
    ) -> builtins.list[VersionInfo]:
        if not rows:
            return []
        known = {d.id: d for d in datasets}
        missing = {r.dataset_id for r in rows} - known.keys()
        if missing:
            for d in session.scalars(select(DatasetRow).where(DatasetRow.id.in_(missing))):
                known[d.id] = d
        project_names = {
            p.id: p.name
            for p in self._projects.list()
            if p.id in {d.project_id for d in known.values()}
        }
        ids = [r.id for r in rows]
        parent_ids = {r.parent_id for r in rows if r.parent_id is not None}
        parents: dict[str, int] = {}
        if parent_ids:
            # Rows unpacked by hand: a Result has keys() and would pass for a mapping in dict().
            rows_found = session.execute(
                select(VersionRow.id, VersionRow.number).where(VersionRow.id.in_(parent_ids))
            ).all()
            parents = {str(version_id): int(number) for version_id, number in rows_found}
        aliases: dict[str, builtins.list[str]] = {}
        runs: dict[str, str] = {}
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start : chunk_start + 500]
            for version_id, alias in session.execute(
                select(AliasRow.version_id, AliasRow.alias).where(AliasRow.version_id.in_(chunk))
            ):
                aliases.setdefault(version_id, []).append(alias)
            for version_id, run_id in session.execute(
                select(LineageRow.version_id, LineageRow.run_id).where(
                    LineageRow.version_id.in_(chunk), LineageRow.direction == "produced"
                )
            ):
                runs[version_id] = run_id
        out = []
        for r in rows:
            dataset = known[r.dataset_id]
            out.append(
                VersionInfo(
                    id=r.id,
                    project=project_names[dataset.project_id],
                    dataset=dataset.name,
                    number=r.number,
                    digest=r.manifest_digest,
                    message=r.message,
                    created_at=r.created_at,
                    file_count=r.file_count,
                    total_bytes=r.total_bytes,
                    parent=parents.get(r.parent_id) if r.parent_id else None,
                    added=r.added,
                    removed=r.removed,
                    modified=r.modified,
                    profile_digest=r.profile_digest,
                    run_id=runs.get(r.id),
                    aliases=sorted(aliases.get(r.id, [])),
                )
            )
        return out


def _new_bytes(base: Manifest, manifest: Manifest) -> int:
    """Bytes of the contents in ``manifest`` that ``base`` does not hold (each blob once)."""
    held = {digest for digest, _ in base.entries.values()}
    new = {digest: size for digest, size in manifest.entries.values() if digest not in held}
    return sum(new.values())
