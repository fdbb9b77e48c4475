"""FsspecBackend: blobs on S3 (through s3fs) or any other fsspec file system.

fsspec, s3fs and botocore are imported only when such a store is opened, never by
``import loopline.blobs``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

from loopline.blobs._store import BlobStore
from loopline.errors import ConfigError, InvalidInput, LooplineError, NotFound, StorageError

if TYPE_CHECKING:
    from loopline.config import Settings

__all__ = ["FsspecBackend", "open_fsspec_store", "open_s3_store", "s3_filesystem"]

S3_PART_SIZE = 8 << 20
"""Multipart upload part size: files of twice this size or more go up in parallel parts."""

# Object stores have no folders to create, and creating a "folder" at the top of the path
# would create a bucket: the backend must not do that behind the user's back.
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"})
_CONNECTION_ERRORS = frozenset(
    {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ClientConnectorError",
        "ServerDisconnectedError",
    }
)
_INSTALL_HINT = "Install the extra: pip install 'loopline[s3]'."


class FsspecBackend:
    """Blobs as objects of an fsspec file system, under a root path.

    On S3 a publish is one PUT (or one multipart upload) of the staged file, which the server
    makes visible all at once. Errors of the file system's library (a missing bucket, refused
    credentials, an unreachable endpoint) are translated into Loopline errors that name the
    store and say what to fix.

    Args:
        fs: an ``fsspec.AbstractFileSystem`` (``s3fs.S3FileSystem``, a memory file system, ...).
        root: the folder inside ``fs`` that holds the blobs, like ``"bucket/prefix"``.
        put_options: extra keyword arguments for ``fs.put_file`` (for s3fs: ``chunksize``).
        endpoint: where ``fs`` connects, for messages (an S3 endpoint URL).

    Example:
        >>> import fsspec
        >>> backend = FsspecBackend(fsspec.filesystem("memory"), "/doctest-blobs")
        >>> backend.url, backend.size("sha256/00/nothing")
        ('memory:///doctest-blobs', None)
    """

    def __init__(
        self,
        fs: Any,
        root: str,
        *,
        put_options: Mapping[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> None:
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self._fs = fs
        self._protocol: str = protocol
        self._root: str = str(fs._strip_protocol(root)).rstrip("/")
        self._put_options = dict(put_options or {})
        self._endpoint = endpoint
        self._is_object_store = protocol in _OBJECT_STORES
        self._errors = _library_errors()

    @property
    def url(self) -> str:
        """The root as a URL, like ``s3://bucket/prefix``."""
        return f"{self._protocol}://{self._root}"

    @property
    def fs(self) -> Any:
        """The fsspec file system underneath."""
        return self._fs

    def __repr__(self) -> str:
        at = f" at {self._endpoint}" if self._endpoint else ""
        return f"FsspecBackend({self.url!r}{at})"

    def size(self, key: str) -> int | None:
        """Return the size of the object at ``key``, or ``None`` when there is none."""
        path = self._path(key)
        try:
            info = self._fs.info(path)
        except FileNotFoundError:
            return None
        except self._errors as exc:
            raise self._translate(exc, "read", key) from exc
        if info.get("type") != "file":
            return None
        return int(info["size"])

    def open(self, key: str) -> BinaryIO:
        """Open the object at ``key`` for reading; raise NotFound when there is none."""
        path = self._path(key)
        try:
            return self._fs.open(path, "rb")  # type: ignore[no-any-return]
        except FileNotFoundError as exc:
            if _is_missing_bucket(exc):
                raise NotFound(self._missing_bucket_message()) from exc
            raise NotFound(f"No blob at {key!r} in {self.url}.", details={"key": key}) from exc
        except self._errors as exc:
            raise self._translate(exc, "open", key) from exc

    def publish(self, key: str, staged: Path) -> None:
        """Upload ``staged`` to ``key`` (one PUT or a multipart upload), then delete it."""
        path = self._path(key)
        try:
            if not self._is_object_store:
                self._fs.makedirs(path.rpartition("/")[0], exist_ok=True)
            self._fs.put_file(str(staged), path, **self._put_options)
        except self._errors as exc:
            raise self._translate(exc, "write", key) from exc
        staged.unlink(missing_ok=True)

    def delete(self, key: str) -> bool:
        """Delete the object at ``key``; return whether there was one."""
        # S3 answers a DELETE of a missing object with success, so ask first.
        if self.size(key) is None:
            return False
        path = self._path(key)
        try:
            self._fs.rm_file(path)
        except FileNotFoundError:
            return False
        except self._errors as exc:
            raise self._translate(exc, "delete", key) from exc
        return True

    def _path(self, key: str) -> str:
        parts = key.split("/")
        if not key or "\0" in key or any(p in ("", ".", "..") for p in parts):
            raise InvalidInput(f"Blob key {key!r} escapes the blob root {self.url}: refused.")
        return f"{self._root}/{key}"

    def _where(self) -> str:
        return f"{self.url} (endpoint {self._endpoint})" if self._endpoint else self.url

    def _missing_bucket_message(self) -> str:
        bucket = self._root.split("/", 1)[0]
        return (
            f"Bucket {bucket!r} does not exist at {self._endpoint or self._protocol}: create it, "
            f"or point LOOPLINE_ARTIFACTS at an existing bucket."
        )

    def _translate(self, exc: BaseException, action: str, key: str) -> LooplineError:
        """Turn an error of fsspec or its backend library into a one-line Loopline error."""
        if isinstance(exc, LooplineError):
            return exc
        said = " ".join(str(exc).split()) or type(exc).__name__
        s3 = self._protocol in ("s3", "s3a")
        names = {cls.__name__ for cls in type(exc).__mro__}
        if isinstance(exc, ConnectionError | TimeoutError) or names & _CONNECTION_ERRORS:
            fix = "Is the server running? Check LOOPLINE_S3_ENDPOINT_URL." if s3 else "Retry."
            # The library's text repeats the whole object URL; the exception's name says enough.
            return StorageError(
                f"Cannot reach the blob store {self._where()} ({type(exc).__name__}). {fix}",
                details={"store": self.url, "endpoint": self._endpoint},
            )
        if isinstance(exc, PermissionError):
            fix = (
                "Check LOOPLINE_S3_KEY and LOOPLINE_S3_SECRET and the bucket's policy."
                if s3
                else "Check the credentials for this store."
            )
            return StorageError(
                f"Access denied to the blob store {self._where()}: {said}. {fix}",
                details={"store": self.url, "endpoint": self._endpoint},
            )
        if isinstance(exc, FileNotFoundError) and _is_missing_bucket(exc):
            return StorageError(self._missing_bucket_message(), details={"store": self.url})
        return StorageError(
            f"Could not {action} {key!r} in the blob store {self._where()}: "
            f"{type(exc).__name__}: {said}.",
            details={"store": self.url, "endpoint": self._endpoint},
        )


def _library_errors() -> tuple[type[Exception], ...]:
    """The exceptions the file system's libraries raise for storage trouble (not for bugs).

    Called once a file system exists, so the libraries it uses are already imported.
    """
    errors: list[type[Exception]] = [OSError, ValueError]
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None:
        errors += [botocore.BotoCoreError, botocore.ClientError]
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None:
        errors.append(aiohttp.ClientError)
    return tuple(errors)


def _is_missing_bucket(exc: BaseException) -> bool:
    # s3fs turns botocore's ClientError into FileNotFoundError; the code stays on the cause.
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        return bool(response.get("Error", {}).get("Code") == "NoSuchBucket")
    return "bucket does not exist" in str(exc).lower()


def _import(module: str, url: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"LOOPLINE_ARTIFACTS={url!r} needs the {module!r} package. {_INSTALL_HINT}"
        ) from exc


def open_s3_store(url: str, settings: Settings) -> BlobStore:
    """Open the blob store at ``s3://bucket/prefix`` with the S3 settings (registry factory).

    A custom endpoint (``LOOPLINE_S3_ENDPOINT_URL``: MinIO, SeaweedFS, ...) is addressed
    path-style. Timeouts and attempts follow ``LOOPLINE_HTTP_TIMEOUT`` and
    ``LOOPLINE_HTTP_RETRIES``.
    """
    parts = urlsplit(url)
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if not bucket:
        raise ConfigError(
            f"LOOPLINE_ARTIFACTS={url!r}: an S3 location needs a bucket, like s3://bucket/prefix."
        )
    fs = s3_filesystem(settings, url=url)
    backend = FsspecBackend(
        fs,
        f"{bucket}/{prefix}".rstrip("/"),
        put_options={"chunksize": S3_PART_SIZE},
        endpoint=settings.s3_endpoint_url or "AWS S3",
    )
    return BlobStore(backend, settings.staging_dir)


def s3_filesystem(settings: Settings, *, url: str = "s3://") -> Any:
    """An ``s3fs.S3FileSystem`` set up from the S3 settings (endpoint, credentials, region,
    timeouts, attempts), shared by every S3 user (the blob store, the evaluation store).

    A custom endpoint (``LOOPLINE_S3_ENDPOINT_URL``) is addressed path-style; listings are not
    cached, so files written by other processes are seen at once. ``url`` names the location
    in the message shown when s3fs is missing.
    """
    s3fs = _import("s3fs", url)
    config: dict[str, Any] = {
        "connect_timeout": min(settings.http_timeout, 10.0),
        "read_timeout": settings.http_timeout,
        "retries": {"max_attempts": settings.http_retries, "mode": "standard"},
    }
    if settings.s3_endpoint_url:
        config["s3"] = {"addressing_style": "path"}
    fs = s3fs.S3FileSystem(
        endpoint_url=settings.s3_endpoint_url,
        key=settings.s3_key,
        secret=settings.s3_secret,
        client_kwargs={"region_name": settings.s3_region} if settings.s3_region else {},
        config_kwargs=config,
        # Listings cached by s3fs would hide blobs written by other processes.
        use_listings_cache=False,
        skip_instance_cache=True,
    )
    fs.retries = settings.http_retries  # s3fs's own retry loop, on top of botocore's
    return fs


def open_fsspec_store(url: str, settings: Settings) -> BlobStore:
    """Open a blob store on any protocol fsspec knows (``memory://``, ``gcs://``, ...)."""
    fsspec = _import("fsspec", url)
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except ImportError as exc:
        raise ConfigError(
            f"LOOPLINE_ARTIFACTS={url!r}: fsspec needs another package for this protocol: "
            f"{' '.join(str(exc).split())}"
        ) from exc
    except ValueError as exc:
        raise ConfigError(f"LOOPLINE_ARTIFACTS={url!r}: {' '.join(str(exc).split())}") from exc
    return BlobStore(FsspecBackend(fs, root), settings.staging_dir)
