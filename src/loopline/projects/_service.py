"""Projects: the namespace every run, dataset, pipeline and model lives in."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from loopline.db import Database
from loopline.errors import Conflict, InvalidInput, NotFound, did_you_mean
from loopline.projects._table import ProjectRow
from loopline.projects._types import MAX_DESCRIPTION, Project, validate_project_name

__all__ = ["ProjectService"]


class ProjectService:
    """Create, find and list projects.

    Example:
        >>> svc = ProjectService(db)
        >>> svc.create("demo", description="the demo").name
        'demo'
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, name: str, description: str = "") -> Project:
        """Create a project. Raises :class:`Conflict` when the name is taken."""
        validate_project_name(name)
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise InvalidInput(
                f"A project description must be a string of at most {MAX_DESCRIPTION} characters."
            )
        try:
            with self._db.transaction() as session:
                row = ProjectRow(name=name, description=description)
                session.add(row)
                session.flush()
                return _to_project(row)
        except IntegrityError as exc:
            raise Conflict(
                f"Project {name!r} already exists. Use it, or choose another name."
            ) from exc

    def get(self, name: str) -> Project:
        """The project called ``name``. Raises :class:`NotFound` with the closest match."""
        validate_project_name(name)
        with self._db.session() as session:
            row = session.scalars(select(ProjectRow).where(ProjectRow.name == name)).one_or_none()
            if row is not None:
                return _to_project(row)
            names = session.scalars(select(ProjectRow.name)).all()
        raise NotFound(f"Project {name!r} not found.{did_you_mean(name, names)}")

    def get_by_id(self, project_id: str) -> Project:
        """The project with id ``project_id`` (how other domains' rows refer to it)."""
        with self._db.session() as session:
            row = session.get(ProjectRow, project_id)
            if row is None:
                raise NotFound(f"No project has the id {project_id!r}.")
            return _to_project(row)

    def ensure(self, name: str) -> Project:
        """The project called ``name``, created first if it does not exist (race-safe)."""
        try:
            return self.get(name)
        except NotFound:
            pass
        try:
            return self.create(name)
        except Conflict:
            return self.get(name)

    def list(self) -> list[Project]:
        """Every project, by name."""
        with self._db.session() as session:
            rows = session.scalars(select(ProjectRow)).all()
            # Sorted here, not by the database: SQLite and a PostgreSQL with a non-C locale
            # collate mixed-case names differently.
            return sorted((_to_project(r) for r in rows), key=lambda p: p.name)


def _to_project(row: ProjectRow) -> Project:
    return Project(id=row.id, name=row.name, description=row.description, created_at=row.created_at)
