"""The HTTP server: the REST API over the domain services, health checks and metrics."""

from loopline.server._app import create_app
from loopline.server._errors import STATUS_CODES

__all__ = ["create_app", "STATUS_CODES"]
