"""Nothing is exported from `loopline` by accident."""

from __future__ import annotations

import loopline


def test_the_facade_exports_exactly_these() -> None:
    assert loopline.__all__ == [
        "__version__",
        "Client",
        "Settings",
        "Project",
        "LooplineError",
        "InvalidInput",
        "NotFound",
        "Conflict",
        "PermissionDenied",
        "QuotaExceeded",
        "StorageError",
        "SchemaOutOfDate",
        "CorruptBlob",
        "ServerUnreachable",
    ]
    for name in loopline.__all__:
        assert hasattr(loopline, name), name
