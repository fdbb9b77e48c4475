"""Settings: every knob Loopline has, resolved once into one immutable object.

Nothing else in Loopline reads the environment. Callers resolve settings once with
:meth:`Settings.from_env` (or build them directly) and pass them down.

Sources, later ones winning: built-in defaults, then a TOML config file, then ``LOOPLINE_*``
environment variables. The config file is ``$LOOPLINE_CONFIG`` when set, otherwise
``<home>/config.toml`` when it exists; its keys are the variable names without the prefix, in lower
case (``uri = "postgresql://..."``).

Example:
    >>> s = Settings.from_env({"LOOPLINE_HOME": "/tmp/ll"})
    >>> s.mode, s.db_url
    ('local', 'sqlite:////tmp/ll/loopline.db')
"""

from __future__ import annotations

import os
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from loopline.errors import ConfigError, ConfigWarning, did_you_mean

__all__ = ["Settings", "Mode", "VARIABLES", "mask_password"]

Mode = Literal["local", "remote"]
_N = TypeVar("_N", int, float)

_PREFIX = "LOOPLINE_"
_URI_FORMS = (
    "unset (the embedded store in ~/.loopline), sqlite:///path/to/loopline.db, "
    "postgresql://user@host:5432/dbname, or http(s)://host:port of a Loopline server"
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# Every variable Settings understands, with a one-line meaning (shown by `loopline config`).
VARIABLES: dict[str, str] = {
    "LOOPLINE_URI": "where metadata lives: " + _URI_FORMS,
    "LOOPLINE_HOME": ("the local folder for the embedded store, caches and staging (~/.loopline)"),
    "LOOPLINE_ARTIFACTS": (
        "where blobs live: a folder, or s3://bucket/prefix (default <home>/blobs)"
    ),
    "LOOPLINE_TOKEN": "API token sent to a remote server",
    "LOOPLINE_PROJECT": "the project used when none is named (default 'default')",
    "LOOPLINE_CONFIG": "path of a TOML config file (default <home>/config.toml when present)",
    "LOOPLINE_AUTO_UPGRADE": "apply database migrations on first use (default: on for SQLite only)",
    "LOOPLINE_S3_ENDPOINT_URL": "endpoint of an S3-compatible server (MinIO, SeaweedFS, ...)",
    "LOOPLINE_S3_KEY": "S3 access key id (default: the usual AWS credential chain)",
    "LOOPLINE_S3_SECRET": "S3 secret access key",
    "LOOPLINE_S3_REGION": "S3 region",
    "LOOPLINE_BLOB_FSYNC": "fsync every blob before it becomes visible (default off)",
    "LOOPLINE_HTTP_TIMEOUT": (
        "seconds to wait for a Loopline server or S3 endpoint to answer (default 30)"
    ),
    "LOOPLINE_RERUN_OF": "set by `loopline runs rerun`: the run the next started run clones",
    "LOOPLINE_PARAMS": (
        "set by `loopline runs rerun`: a JSON object of params that override the script's"
    ),
    "LOOPLINE_HTTP_RETRIES": (
        "attempts on connection errors, to a server or S3, before giving up (default 3)"
    ),
    "LOOPLINE_QUIET": (
        "no progress bars (default off; bars only ever show on a terminal, after a second)"
    ),
    "LOOPLINE_USER": (
        "who registry changes (aliases, statuses, registrations) are recorded as "
        "(default: the login name)"
    ),
    "LOOPLINE_ONLINE_STORE": (
        "where online features live: sqlite:///path or redis://host:6379/0 "
        "(default <home>/online.db)"
    ),
    # -- monitoring --
    "LOOPLINE_EVALUATION_URI": (
        "where prediction and label logs (Parquet) live: a folder, or s3://bucket/prefix "
        "(default <home>/evaluations)"
    ),
    # -- accounts (server side) --
    "LOOPLINE_AUTH": (
        "server authentication: on or off (default: off, and on for `loopline server` bound "
        "to anything but loopback)"
    ),
    "LOOPLINE_ADMIN_USER": "a global admin the server creates at start (optional)",
    "LOOPLINE_ADMIN_PASSWORD": "the bootstrap admin's first password (12+ characters)",
    "LOOPLINE_OPEN_PROJECTS": (
        "whether any signed-in user may create a project and become its admin (default on; "
        "off: global admins only)"
    ),
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved configuration. Immutable: use :func:`dataclasses.replace` to derive a variant.

    Attributes:
        mode: ``"local"`` (this process talks to the database and blob store itself) or
            ``"remote"`` (it talks to a Loopline server over HTTP).
        home: local folder for the embedded store, caches and staging files.
        db_url: SQLAlchemy URL of the metadata database (local mode only).
        server_url: base URL of the server (remote mode only).
        artifacts: root of the blob store: a local folder or an ``s3://`` style URL.
    """

    mode: Mode
    home: Path
    db_url: str | None
    server_url: str | None
    artifacts: str
    token: str | None = field(default=None, repr=False)
    project: str = "default"
    auto_upgrade: bool = True
    s3_endpoint_url: str | None = None
    s3_key: str | None = field(default=None, repr=False)
    s3_secret: str | None = field(default=None, repr=False)
    s3_region: str | None = None
    blob_fsync: bool = False
    http_timeout: float = 30.0
    http_retries: int = 3
    rerun_of: str | None = None
    param_overrides: dict[str, str] = field(default_factory=dict, hash=False)
    quiet: bool = False
    online_store: str = ""
    user: str = ""
    evaluation_uri: str = ""  # "" means <home>/evaluations (see evaluation_root)
    # -- accounts: None means "not said" (`loopline server` then decides by the address) --
    auth: bool | None = None
    admin_user: str = ""
    admin_password: str | None = field(default=None, repr=False)
    open_projects: bool = True  # accounts: any signed-in user may create a project

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        overrides: Mapping[str, str | None] | None = None,
        cwd: Path | None = None,
        user_home: Path | None = None,
    ) -> Settings:
        """Resolve settings from a config file and ``LOOPLINE_*`` variables.

        Args:
            environ: the variables to read (default: ``os.environ``).
            overrides: variables that win over ``environ`` (a ``None`` value is ignored), as a
                command line's options or ``Client(uri=...)`` set them.
            cwd: the folder a relative path is taken from, and where ``./.loopline`` is looked for.
            user_home: the user's home folder (default: ``Path.home()``).

        Raises:
            ConfigError: a variable or config-file key is malformed; the message names it.
        """
        env = dict(os.environ if environ is None else environ)
        env.update({k: v for k, v in (overrides or {}).items() if v is not None})
        unknown = sorted(k for k in env if k.startswith(_PREFIX) and k not in VARIABLES)
        for name in unknown:
            # A warning, not an error: a variable that a newer Loopline reads may be set in a
            # shared environment, and must not stop this version from working.
            warnings.warn(
                f"{name} is not a Loopline setting and is ignored.{did_you_mean(name, VARIABLES)}",
                ConfigWarning,
                stacklevel=2,
            )
        cwd = Path.cwd() if cwd is None else cwd
        user_home = Path.home() if user_home is None else user_home

        home = _resolve_home(env.get("LOOPLINE_HOME"), cwd, user_home)
        values = _read_config_file(env.get("LOOPLINE_CONFIG"), home, cwd)
        values.update({k: v for k, v in env.items() if k in VARIABLES and k != "LOOPLINE_CONFIG"})
        return cls.from_values(values, home=home, cwd=cwd)

    @classmethod
    def from_values(cls, values: Mapping[str, str], *, home: Path, cwd: Path) -> Settings:
        """Build settings from already-merged ``LOOPLINE_*`` values (see :meth:`from_env`)."""
        mode, db_url, server_url = _parse_uri(values.get("LOOPLINE_URI", ""), home, cwd)
        artifacts = _parse_artifacts(values.get("LOOPLINE_ARTIFACTS", ""), home, cwd)
        is_sqlite = db_url is not None and db_url.startswith("sqlite")
        auto_default = "1" if is_sqlite else "0"
        return cls(
            mode=mode,
            home=home,
            db_url=db_url,
            server_url=server_url,
            artifacts=artifacts,
            token=values.get("LOOPLINE_TOKEN") or None,
            project=_parse_name("LOOPLINE_PROJECT", values.get("LOOPLINE_PROJECT", "default")),
            auto_upgrade=_parse_bool(
                "LOOPLINE_AUTO_UPGRADE", values.get("LOOPLINE_AUTO_UPGRADE", auto_default)
            ),
            s3_endpoint_url=_parse_http_url(
                "LOOPLINE_S3_ENDPOINT_URL", values.get("LOOPLINE_S3_ENDPOINT_URL", "")
            ),
            s3_key=values.get("LOOPLINE_S3_KEY") or None,
            s3_secret=values.get("LOOPLINE_S3_SECRET") or None,
            s3_region=values.get("LOOPLINE_S3_REGION") or None,
            blob_fsync=_parse_bool("LOOPLINE_BLOB_FSYNC", values.get("LOOPLINE_BLOB_FSYNC", "0")),
            http_timeout=_parse_number(
                "LOOPLINE_HTTP_TIMEOUT", values.get("LOOPLINE_HTTP_TIMEOUT", "30"), float, 0.1
            ),
            http_retries=_parse_number(
                "LOOPLINE_HTTP_RETRIES", values.get("LOOPLINE_HTTP_RETRIES", "3"), int, 1
            ),
            rerun_of=values.get("LOOPLINE_RERUN_OF") or None,
            param_overrides=_parse_params(values.get("LOOPLINE_PARAMS", "")),
            quiet=_parse_bool("LOOPLINE_QUIET", values.get("LOOPLINE_QUIET", "0")),
            online_store=_parse_online_store(values.get("LOOPLINE_ONLINE_STORE", "")),
            user=values.get("LOOPLINE_USER", "").strip(),
            evaluation_uri=_parse_location(
                "LOOPLINE_EVALUATION_URI", values.get("LOOPLINE_EVALUATION_URI", ""), cwd
            ),
            # -- accounts --
            auth=(
                _parse_bool("LOOPLINE_AUTH", values["LOOPLINE_AUTH"])
                if values.get("LOOPLINE_AUTH", "").strip()
                else None
            ),
            admin_user=values.get("LOOPLINE_ADMIN_USER", "").strip(),
            admin_password=values.get("LOOPLINE_ADMIN_PASSWORD") or None,
            open_projects=_parse_bool(
                "LOOPLINE_OPEN_PROJECTS", values.get("LOOPLINE_OPEN_PROJECTS", "1")
            ),
        )

    def __repr__(self) -> str:
        # Secrets never reach logs or tracebacks: no token, no S3 secret, no database password.
        db_url = None if self.db_url is None else mask_password(self.db_url)
        return (
            f"Settings(mode={self.mode!r}, home={str(self.home)!r}, db_url={db_url!r}, "
            f"server_url={self.server_url!r}, artifacts={self.artifacts!r}, "
            f"project={self.project!r})"
        )

    def with_(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed (a thin, typed-looking :func:`replace`)."""
        return replace(self, **changes)

    @property
    def actor(self) -> str:
        """Who this process acts as in audit records: ``LOOPLINE_USER``, else the login name."""
        if self.user:
            return self.user
        import getpass

        try:
            return getpass.getuser()
        except (OSError, KeyError):  # no login name (a container without a passwd entry)
            return "unknown"

    @property
    def evaluation_root(self) -> str:
        """Root of the evaluation store: ``LOOPLINE_EVALUATION_URI`` or ``<home>/evaluations``."""
        return self.evaluation_uri or str(self.home / "evaluations")

    @property
    def staging_dir(self) -> Path:
        """Where half-written files wait before they become visible (same disk as the home)."""
        return self.home / "staging"


def mask_password(url: str) -> str:
    """``url`` with the password of its user part, if any, replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def _resolve_home(raw: str | None, cwd: Path, user_home: Path) -> Path:
    if raw:
        path = Path(raw).expanduser()
        return path if path.is_absolute() else (cwd / path)
    project_local = cwd / ".loopline"
    if project_local.is_dir():
        return project_local
    return user_home / ".loopline"


def _read_config_file(raw: str | None, home: Path, cwd: Path) -> dict[str, str]:
    if raw:
        path = Path(raw).expanduser()
        path = path if path.is_absolute() else cwd / path
        if not path.is_file():
            raise ConfigError(
                f"LOOPLINE_CONFIG={raw!r}: no such file. Point it at a TOML file, or unset it."
            )
    else:
        path = home / "config.toml"
        if not path.is_file():
            return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Config file {path} is not valid TOML: {exc}. Fix or remove it."
        ) from exc
    values: dict[str, str] = {}
    for key, value in data.items():
        name = _PREFIX + key.upper()
        if name in ("LOOPLINE_HOME", "LOOPLINE_CONFIG"):
            raise ConfigError(
                f"Config file {path}: {key!r} cannot be set in a config file, which is itself "
                f"found through it. Set LOOPLINE_{key.upper()} in the environment instead."
            )
        if name not in VARIABLES:
            known = [k.removeprefix(_PREFIX).lower() for k in VARIABLES]
            raise ConfigError(
                f"Config file {path}: {key!r} is not a Loopline setting.{did_you_mean(key, known)}"
            )
        if isinstance(value, bool):
            values[name] = "1" if value else "0"
        elif isinstance(value, str | int | float):
            values[name] = str(value)
        else:
            raise ConfigError(
                f"Config file {path}: {key!r} must be a string, number or boolean, "
                f"not {type(value).__name__}."
            )
    return values


def _parse_uri(raw: str, home: Path, cwd: Path) -> tuple[Mode, str | None, str | None]:
    raw = raw.strip()
    if not raw:
        return "local", f"sqlite:///{home / 'loopline.db'}", None
    scheme, sep, rest = raw.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ConfigError(f"LOOPLINE_URI={raw!r} has no scheme. Expected {_URI_FORMS}.")
    if scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy spells them.
        if not rest.startswith("/") or rest in ("/", "/:memory:"):
            raise ConfigError(
                f"LOOPLINE_URI={raw!r}: a SQLite URI needs a file path, like "
                f"sqlite:///loopline.db (relative) or sqlite:////abs/path/loopline.db."
            )
        path = Path(rest[1:])
        path = path if path.is_absolute() else cwd / path
        return "local", f"sqlite:///{path}", None
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        parts = urlsplit("postgresql://" + rest)
        if not parts.hostname and "host=" not in (parts.query or ""):
            raise ConfigError(
                f"LOOPLINE_URI={raw!r}: a PostgreSQL URI needs a host, like "
                f"postgresql://user@127.0.0.1:5432/loopline."
            )
        if not parts.path.strip("/"):
            raise ConfigError(
                f"LOOPLINE_URI={raw!r}: a PostgreSQL URI needs a database name after the host, "
                f"like postgresql://user@127.0.0.1:5432/loopline."
            )
        _check_port("LOOPLINE_URI", raw, parts.netloc)
        return "local", "postgresql+psycopg://" + rest, None
    if scheme in ("http", "https"):
        parts = urlsplit(raw)
        if not parts.hostname:
            raise ConfigError(
                f"LOOPLINE_URI={raw!r}: a server URI needs a host, like http://127.0.0.1:8765."
            )
        _check_port("LOOPLINE_URI", raw, parts.netloc)
        return "remote", None, raw.rstrip("/")
    raise ConfigError(f"LOOPLINE_URI={raw!r}: unknown scheme {scheme!r}. Expected {_URI_FORMS}.")


def _check_port(name: str, raw: str, netloc: str) -> None:
    try:
        urlsplit("//" + netloc).port  # noqa: B018 - evaluated for its ValueError
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r}: the port is not a number from 1 to 65535.") from exc


def _parse_artifacts(raw: str, home: Path, cwd: Path) -> str:
    raw = raw.strip()
    if not raw:
        return str(home / "blobs")
    if "://" in raw:
        scheme, _, rest = raw.partition("://")
        if scheme == "file":
            return str(Path(rest))
        if not scheme.isidentifier() or not rest.strip("/"):
            raise ConfigError(
                f"LOOPLINE_ARTIFACTS={raw!r}: expected a folder or a URL like s3://bucket/prefix."
            )
        return raw.rstrip("/")
    path = Path(raw).expanduser()
    return str(path if path.is_absolute() else cwd / path)


def _parse_location(name: str, raw: str, cwd: Path) -> str:
    """A folder (made absolute) or a URL like ``s3://bucket/prefix``; ``""`` when unset."""
    raw = raw.strip()
    if not raw:
        return ""
    if "://" in raw:
        scheme, _, rest = raw.partition("://")
        if scheme == "file":
            return str(Path(rest))
        if not scheme.isidentifier() or not rest.strip("/"):
            raise ConfigError(
                f"{name}={raw!r}: expected a folder or a URL like s3://bucket/prefix."
            )
        return raw.rstrip("/")
    path = Path(raw).expanduser()
    return str(path if path.is_absolute() else cwd / path)


def _parse_http_url(name: str, raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name}={raw!r}: expected an http(s)://host:port URL.")
    _check_port(name, raw, parts.netloc)
    return raw.rstrip("/")


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r}: expected one of 1/0, true/false, yes/no, on/off.")


def _parse_number(name: str, raw: str, kind: type[_N], minimum: _N) -> _N:
    try:
        value = kind(raw.strip())
    except ValueError as exc:
        raise ConfigError(
            f"{name}={raw!r}: expected {'a whole number' if kind is int else 'a number'}."
        ) from exc
    if value < minimum or value != value:  # the second test rejects NaN
        raise ConfigError(f"{name}={raw!r}: must be at least {minimum}.")
    return value


def _parse_params(raw: str) -> dict[str, str]:
    if not raw.strip():
        return {}
    import json

    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"LOOPLINE_PARAMS is not JSON ({exc}); expected an object.") from exc
    if not isinstance(data, dict):
        raise ConfigError('LOOPLINE_PARAMS must be a JSON object, like {"lr": "0.01"}.')
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


def _parse_online_store(raw: str) -> str:
    value = raw.strip()
    if value and "://" not in value:
        raise ConfigError(
            f"LOOPLINE_ONLINE_STORE={raw!r}: expected a URL like sqlite:///online.db or "
            f"redis://127.0.0.1:6379/0 (or unset, for <home>/online.db)."
        )
    return value


def _parse_name(name: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ConfigError(f"{name} is empty: give a project name, or unset it for 'default'.")
    return value
