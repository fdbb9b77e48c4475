"""The metadata database: engines, sessions, the declarative base and migrations."""

from loopline.db._base import Base, CreatedAt, IdColumn, UTCDateTime, new_id, utcnow
from loopline.db._database import Database
from loopline.db._engine import display_url
from loopline.db._migrations import HEAD_REVISION, UpgradeResult

__all__ = [
    "Base",
    "Database",
    "UpgradeResult",
    "HEAD_REVISION",
    "UTCDateTime",
    "IdColumn",
    "CreatedAt",
    "new_id",
    "utcnow",
    "display_url",
]
