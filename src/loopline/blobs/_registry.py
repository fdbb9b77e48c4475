"""open_blob_store: choose a backend from the scheme of ``LOOPLINE_ARTIFACTS``, import it lazily.

A backend is registered as a *store factory*: a callable ``(url, settings) -> BlobStore`` named
by a dotted path ``"module:attribute"``, imported only when a store with its scheme is opened,
so ``import loopline`` never imports fsspec, s3fs or boto. A factory rather than a backend class,
because the factory also decides where files are staged (inside the root for a local folder, so
publishing is a rename; in the Loopline home for a remote store).

Third-party packages add schemes through the entry point group ``loopline.blob_backends``::

    # the plugin's pyproject.toml
    [project.entry-points."loopline.blob_backends"]
    webdav = "loopline_webdav:open_store"   # def open_store(url, settings) -> BlobStore

Built-in schemes cannot be overridden by a plugin. A scheme neither built in nor provided by a
plugin goes to fsspec when fsspec knows the protocol (``memory://``, ``gcs://`` with gcsfs, ...).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, cast

from loopline.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from loopline.blobs._store import BlobStore
    from loopline.config import Settings

__all__ = ["open_blob_store", "ENTRY_POINT_GROUP", "StoreFactory"]

ENTRY_POINT_GROUP = "loopline.blob_backends"

StoreFactory = Callable[[str, "Settings"], "BlobStore"]
"""Builds the store for one ``LOOPLINE_ARTIFACTS`` value: ``factory(url, settings)``."""

# scheme -> "module:attribute" of a StoreFactory; "" is a plain folder path.
_BUILTIN: dict[str, str] = {
    "": "loopline.blobs._local:open_local_store",
    "file": "loopline.blobs._local:open_local_store",
    "s3": "loopline.blobs._fsspec:open_s3_store",
    "s3a": "loopline.blobs._fsspec:open_s3_store",
}
_FSSPEC_FALLBACK = "loopline.blobs._fsspec:open_fsspec_store"
_FORMS = (
    "a folder (/data/blobs), s3://bucket/prefix, or a URL of another fsspec protocol "
    "with its package installed (gcs://bucket/prefix needs gcsfs)"
)


def open_blob_store(settings: Settings) -> BlobStore:
    """Open the blob store that ``settings.artifacts`` (``LOOPLINE_ARTIFACTS``) names.

    Args:
        settings: resolved settings; ``artifacts``, ``blob_fsync``, ``staging_dir`` and the
            ``s3_*`` fields are used.

    Raises:
        ConfigError: the scheme is unknown, or the package it needs is not installed.

    Example:
        >>> import tempfile
        >>> from loopline.config import Settings
        >>> settings = Settings.from_env({"LOOPLINE_HOME": tempfile.mkdtemp()})
        >>> store = open_blob_store(settings)
        >>> store.get_bytes(store.put_bytes(b"hi").digest)
        b'hi'
    """
    url = settings.artifacts
    scheme = _scheme(url)
    target = _BUILTIN.get(scheme) or _plugin(scheme)
    if target is None:
        fsspec_protocols = _fsspec_protocols()
        if scheme not in fsspec_protocols:
            known = sorted({*(_BUILTIN.keys() - {""}), *_plugin_names(), *fsspec_protocols})
            hint = did_you_mean(scheme, known)
            raise ConfigError(
                f"LOOPLINE_ARTIFACTS={url!r}: unknown scheme {scheme!r}.{hint} Expected {_FORMS}."
            )
        target = _FSSPEC_FALLBACK
    return _load(target, url)(url, settings)


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep else ""


def _load(target: str, url: str) -> StoreFactory:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        return cast("StoreFactory", getattr(module, attribute))
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"LOOPLINE_ARTIFACTS={url!r}: cannot load its blob backend {target!r} ({exc}). "
            f"Reinstall the package that provides it."
        ) from exc


def _plugin(scheme: str) -> str | None:
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name.lower() == scheme:
            return str(entry.value)
    return None


def _plugin_names() -> list[str]:
    return [entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)]


def _fsspec_protocols() -> set[str]:
    """The protocols fsspec has an implementation for (its package may still be missing)."""
    try:
        registry = importlib.import_module("fsspec.registry")
    except ImportError:
        return set()
    return {*registry.known_implementations, *registry.registry}
