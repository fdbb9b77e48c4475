"""/api/v1/projects"""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from pydantic import BaseModel

from loopline.errors import PermissionDenied
from loopline.projects import Project
from loopline.server._auth import accounts_of, user_of
from loopline.server._state import backend_of

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


class ProjectCreate(BaseModel):
    # Shapes only: the rules on names and lengths live in the projects domain, once.
    name: str
    description: str = ""


@router.get("")
def list_projects(request: Request) -> list[Project]:
    """Every project, by name."""
    return backend_of(request).list_projects()


@router.post("", status_code=status.HTTP_201_CREATED)
def create_project(request: Request, body: ProjectCreate) -> Project:
    """Create a project; 409 when the name is taken.

    With authentication on, any signed-in user may create one and becomes its admin, unless
    the server says otherwise (``LOOPLINE_OPEN_PROJECTS=off``: global admins only).
    """
    user = user_of(request)
    if user is not None:
        accounts = accounts_of(request)
        if not user.is_admin and not accounts.open_projects:
            raise PermissionDenied(
                "On this server only global admins create projects (LOOPLINE_OPEN_PROJECTS "
                "is off): ask one to create it and add you."
            )
        project = backend_of(request).create_project(body.name, body.description)
        accounts.set_role(project.name, user.name, "admin")
        return project
    return backend_of(request).create_project(body.name, body.description)


@router.get("/{name}")
def get_project(request: Request, name: str) -> Project:
    """One project by name; 404 (with the closest name) when there is none."""
    return backend_of(request).get_project(name)
