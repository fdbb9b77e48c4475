"""Hard examples: production predictions worth a person's second look, as a dataset version.

A prediction is *hard* when the model was unsure (its top-class probability is below a
threshold) or wrong (a label arrived by request id and differs from the prediction). The
selected rows go into a dataset (``digits-review``, say) as the next version, one Parquet file
that grows with every collection::

    examples.parquet     request_id, endpoint, model, model_version, ts, <the model's inputs>,
                         predicted, confidence, label, reviewed, reason
    hard_examples.json   what the version is: the endpoint(s), each collection's window and
                         request ids (the link back to the prediction logs), the image shape,
                         and each review committed since

A request id already in the dataset is never collected again, so running the collection every
hour adds only new rows. Reviewing (``_labelling.py``) fills ``label`` and sets ``reviewed``.

Where the confidence comes from: serving logs ``output`` (the predicted label) and, when the
writer provides it, ``proba`` (the class probabilities). Loopline's inference server does not
log probabilities (that would cost a second model call on the hot path), so for rows without
``proba`` the collection loads the logged model version from the registry and asks its
``predict_proba`` for the logged inputs, once per model version. A model with no
``predict_proba`` (a regressor, a bare ``predict``) leaves ``confidence`` empty: only the
misclassified rows of such a model are collected.

Images: a row is shown as an image when the version's metadata has ``image_shape`` (``[8, 8]``,
``[28, 28]``, ``[32, 32, 3]``). The collection sets it from its ``image_shape`` argument, or by
itself when the inputs are ``pixel_<i>`` or ``pixel_<row>_<col>`` columns (or one list column)
whose count is a perfect square (a grey image) or three times one (RGB).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from loopline.errors import InvalidInput, LooplineError, NotFound

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from loopline.blobs import BlobStore
    from loopline.datasets import DatasetService, VersionInfo
    from loopline.monitoring._evaluation import EvaluationStore
    from loopline.registry import LoadedModel, RegistryService

__all__ = [
    "EXAMPLES_FILE",
    "METADATA_FILE",
    "META_COLUMNS",
    "HardExamples",
    "Scorer",
    "RegistryScorer",
    "collect_hard_examples",
    "select_hard_examples",
    "detect_image_shape",
    "read_examples",
    "write_examples_version",
    "validate_image_shape",
]

EXAMPLES_FILE = "examples.parquet"
METADATA_FILE = "hard_examples.json"
METADATA_KIND = "loopline.hard_examples"
META_COLUMNS = (
    "request_id",
    "endpoint",
    "model",
    "model_version",
    "ts",
    "predicted",
    "confidence",
    "label",
    "reviewed",
    "reason",
)
"""The columns every examples file has, besides the model's inputs."""
DEFAULT_LIMIT = 500
MAX_LIMIT = 100_000
_PIXEL = re.compile(r"^(?:pixel|px|p)_?\d+(?:_\d+)*$", re.IGNORECASE)

Scorer = Callable[[str, int, "pd.DataFrame | np.ndarray[Any, Any]"], "np.ndarray[Any, Any] | None"]
"""``(model name, version, inputs) -> class probabilities`` (one row per input), or None when
the model cannot say."""


@dataclass(frozen=True, slots=True)
class HardExamples:
    """What one collection did.

    Attributes:
        version: the dataset version written, or None when nothing new was found.
        collected: rows added; ``low_confidence`` and ``misclassified`` count them by reason
            (a row can be both).
        already_collected: hard rows skipped because their request id is in the dataset.
        scanned: successful predictions looked at in the window.
        confidence_source: ``"logged"`` (``proba`` in the logs), ``"model"`` (computed with
            the model version's ``predict_proba``), ``"mixed"``, or ``"none"``.
        image_shape: how the review page draws a row, if as an image.
    """

    project: str
    endpoint: str
    dataset: str
    version: int | None
    collected: int
    low_confidence: int
    misclassified: int
    already_collected: int
    scanned: int
    confidence_source: str
    since: datetime | None = None
    until: datetime | None = None
    image_shape: list[int] | None = None
    request_ids: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str | None:
        """``project/dataset:version`` of the version written, if any."""
        return None if self.version is None else f"{self.project}/{self.dataset}:{self.version}"


# -- arguments ------------------------------------------------------------------------------------


def validate_image_shape(shape: object) -> list[int] | None:
    """``None`` or a list of two (grey) or three (with 1, 3 or 4 channels) positive sizes."""
    if shape is None:
        return None
    if isinstance(shape, str | bytes) or not isinstance(shape, Sequence):
        raise InvalidInput(f"image_shape must be like (8, 8) or (32, 32, 3), not {shape!r}.")
    dims = list(shape)
    if (
        len(dims) not in (2, 3)
        or not all(isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 4096 for d in dims)
        or (len(dims) == 3 and dims[2] not in (1, 3, 4))
    ):
        raise InvalidInput(
            f"image_shape {shape!r}: give (height, width) or (height, width, channels) with "
            f"1, 3 or 4 channels, like (8, 8) or (32, 32, 3)."
        )
    return dims


def _check_arguments(
    confidence_below: float | None, misclassified: bool, limit: int, since: Any, until: Any
) -> None:
    if confidence_below is not None and (
        isinstance(confidence_below, bool)
        or not isinstance(confidence_below, int | float)
        or not 0 < float(confidence_below) <= 1
    ):
        raise InvalidInput(
            f"confidence_below must be a probability in (0, 1], like 0.6, not {confidence_below!r}."
        )
    if confidence_below is None and not misclassified:
        raise InvalidInput(
            "Nothing to collect: give confidence_below (like 0.6), or misclassified=True, or both."
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT:,}, not {limit!r}.")
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and not isinstance(moment, datetime):
            raise InvalidInput(f"{name} must be a datetime, not {type(moment).__name__}.")
    if since is not None and until is not None and _utc(since) >= _utc(until):
        raise InvalidInput(f"since ({since}) must come before until ({until}).")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- selection ------------------------------------------------------------------------------------


def select_hard_examples(
    frame: pd.DataFrame,
    confidence: np.ndarray[Any, Any],
    *,
    confidence_below: float | None,
    misclassified: bool,
    exclude: set[str] | frozenset[str] = frozenset(),
    limit: int = DEFAULT_LIMIT,
) -> tuple[pd.DataFrame, int]:
    """The hard rows of ``frame`` (logged predictions with ``label``), hardest first.

    Wrong predictions come first, then the least confident; rows whose ``request_id`` is in
    ``exclude`` are left out (and counted: the second value returned). The result has two
    more columns: ``confidence`` and ``reason`` (``misclassified``, ``low_confidence``, or
    both, comma-separated).
    """
    n = len(frame)
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    if conf.shape[0] != n:
        raise ValueError(f"{conf.shape[0]} confidences for {n} rows")
    low = np.zeros(n, dtype=bool)
    if confidence_below is not None:
        with np.errstate(invalid="ignore"):
            low = np.nan_to_num(conf, nan=np.inf) < float(confidence_below)
    wrong = np.zeros(n, dtype=bool)
    if misclassified and n and "label" in frame.columns:
        wrong = _differs(frame["output"].tolist(), frame["label"].tolist())
    hard = low | wrong
    ids = frame["request_id"].astype(str).to_numpy()
    seen = np.fromiter((i in exclude for i in ids), dtype=bool, count=n)
    skipped = int((hard & seen).sum())
    keep = hard & ~seen
    chosen = frame.loc[keep].copy()
    chosen["confidence"] = conf[keep]
    reasons = []
    for w, lo in zip(wrong[keep].tolist(), low[keep].tolist(), strict=True):
        reasons.append(
            ",".join(r for r, on in (("misclassified", w), ("low_confidence", lo)) if on)
        )
    chosen["reason"] = reasons
    chosen["_wrong"] = ~wrong[keep]  # False sorts first: wrong ones lead
    chosen["_conf"] = np.nan_to_num(conf[keep], nan=np.inf)
    chosen = chosen.sort_values(["_wrong", "_conf", "ts", "request_id"], kind="stable")
    chosen = chosen.drop(columns=["_wrong", "_conf"]).head(limit)
    return chosen.reset_index(drop=True), skipped


def _differs(predicted: list[Any], labels: list[Any]) -> np.ndarray[Any, Any]:
    out = np.zeros(len(predicted), dtype=bool)
    for i, (p, a) in enumerate(zip(predicted, labels, strict=True)):
        if a is None or (isinstance(a, float) and math.isnan(a)) or p is None:
            continue
        out[i] = not _same_label(p, a)
    return out


def _same_label(p: Any, a: Any) -> bool:
    if isinstance(p, np.generic):
        p = p.item()
    if isinstance(a, np.generic):
        a = a.item()
    if isinstance(p, int | float) and isinstance(a, int | float):
        return float(p) == float(a)
    return str(p) == str(a)


def confidence_of(frame: pd.DataFrame, scorer: Scorer | None) -> tuple[np.ndarray[Any, Any], str]:
    """The top-class probability of each row: from the logged ``proba`` where there is one,
    else from ``scorer`` (once per model version); NaN where neither can tell."""
    frame = frame.reset_index(drop=True)
    n = len(frame)
    conf = np.full(n, np.nan)
    logged = np.zeros(n, dtype=bool)
    if "proba" in frame.columns:
        for i, value in enumerate(frame["proba"].tolist()):
            if value is not None and len(value):
                conf[i] = float(np.max(np.asarray(value, dtype=np.float64)))
                logged[i] = True
    computed = np.zeros(n, dtype=bool)
    todo = ~logged
    if scorer is not None and todo.any():
        inputs = _input_names(frame)
        positions = np.flatnonzero(todo)
        part = frame.iloc[positions]
        for key, group in part.groupby(["model", "version"], sort=True):
            model, version = cast("tuple[Any, Any]", key)
            data = _model_inputs(group, inputs)
            proba = scorer(str(model), int(version), data)
            if proba is None:
                continue
            matrix = np.asarray(proba, dtype=np.float64)
            if matrix.ndim == 1:  # one probability per row (of the positive class)
                matrix = np.stack([1 - matrix, matrix], axis=1)
            where = group.index.to_numpy()  # frame has a RangeIndex: labels are positions
            conf[where] = matrix.max(axis=1)
            computed[where] = True
    source = (
        "mixed" if logged.any() and computed.any()
        else "logged" if logged.any()
        else "model" if computed.any()
        else "none"
    )  # fmt: skip
    return conf, source


def _input_names(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("input.") or c == "input"]


def _model_inputs(group: pd.DataFrame, inputs: list[str]) -> pd.DataFrame | np.ndarray[Any, Any]:
    if inputs == ["input"]:
        return np.asarray([np.asarray(v) for v in group["input"].tolist()])
    data = group[[c for c in inputs if c != "input"]]
    return data.rename(columns={c: c.removeprefix("input.") for c in data.columns}).reset_index(
        drop=True
    )


def detect_image_shape(input_columns: Sequence[str], first_row: Sequence[Any]) -> list[int] | None:
    """The image shape the inputs spell, if they look like pixels (see the module doc)."""
    if list(input_columns) == ["input"]:
        value = first_row[0] if first_row else None
        if value is None:
            return None
        flat = np.asarray(value, dtype=object).reshape(-1)
        return _square(len(flat))
    if input_columns and all(_PIXEL.match(c) for c in input_columns):
        return _square(len(input_columns))
    return None


def _square(n: int) -> list[int] | None:
    side = math.isqrt(n)
    if side >= 4 and side * side == n:
        return [side, side]
    side = math.isqrt(n // 3) if n % 3 == 0 else 0
    if side >= 4 and side * side * 3 == n:
        return [side, side, 3]
    return None


# -- the examples file ----------------------------------------------------------------------------


def _examples_table(chosen: pd.DataFrame, endpoint: str) -> pa.Table:
    import pyarrow as pa

    inputs = _input_names(chosen)
    columns: dict[str, Any] = {
        "request_id": pa.array(chosen["request_id"].astype(str).tolist(), pa.string()),
        "endpoint": pa.array([endpoint] * len(chosen), pa.string()),
        "model": pa.array(chosen["model"].astype(str).tolist(), pa.string()),
        "model_version": pa.array([int(v) for v in chosen["version"].tolist()], pa.int32()),
        "ts": pa.array(chosen["ts"].tolist(), pa.timestamp("us", tz="UTC")),
    }
    for name in inputs:
        short = name.removeprefix("input.")
        if short in META_COLUMNS or short in columns:
            short = name  # an input named like a meta column keeps its "input." prefix
        columns[short] = _arrow_values(chosen[name].tolist())
    predicted = _arrow_values(chosen["output"].tolist())
    columns["predicted"] = predicted
    columns["confidence"] = pa.array(
        [None if math.isnan(c) else float(c) for c in chosen["confidence"].tolist()], pa.float64()
    )
    label_values = chosen["label"].tolist() if "label" in chosen.columns else [None] * len(chosen)
    label_values = [None if _missing(v) else v for v in label_values]
    columns["label"] = _label_array(label_values, predicted.type)
    columns["reviewed"] = pa.array([False] * len(chosen), pa.bool_())
    columns["reason"] = pa.array(chosen["reason"].tolist(), pa.string())
    return pa.table(columns)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _arrow_values(values: list[Any]) -> pa.Array:
    import pyarrow as pa

    plain = [v.item() if isinstance(v, np.generic) else v for v in values]
    plain = [v.tolist() if isinstance(v, np.ndarray) else v for v in plain]
    try:
        return pa.array(plain)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in plain], pa.string())


def _label_array(values: list[Any], like: pa.DataType) -> pa.Array:
    """Labels as an array of the predictions' type (so ``label == predicted`` compares)."""
    import pyarrow as pa

    if pa.types.is_null(like):
        like = pa.string()
    try:
        return pa.array([coerce_label(v, like) for v in values], like)
    except InvalidInput:
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def coerce_label(value: Any, kind: pa.DataType) -> Any:
    """``value`` (from a person: often text) as a value of the Arrow type ``kind``."""
    import pyarrow as pa

    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    text = str(value).strip()
    if isinstance(value, str) and not text:
        raise InvalidInput("A label cannot be empty.")
    if pa.types.is_boolean(kind):
        if isinstance(value, bool):
            return value
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "y"):
            return True
        if lowered in ("false", "0", "no", "n"):
            return False
        raise InvalidInput(f"Label {value!r} is not true or false (the predictions are booleans).")
    if pa.types.is_integer(kind):
        if isinstance(value, bool):
            raise InvalidInput(f"Label {value!r} is not a whole number like the predictions.")
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number != int(number):
            raise InvalidInput(
                f"Label {value!r} is not a whole number like the model's predictions ({kind})."
            )
        return int(number)
    if pa.types.is_floating(kind):
        try:
            return float(text)
        except ValueError:
            raise InvalidInput(f"Label {value!r} is not a number like the predictions.") from None
    if len(text) > 1000:
        raise InvalidInput("A label is at most 1,000 characters.")
    return text


def read_examples(
    blobs: BlobStore, datasets: DatasetService, info: VersionInfo
) -> tuple[pa.Table, dict[str, Any]]:
    """The examples table and the metadata of a hard-examples dataset version."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest = datasets.manifest(info.project, info.dataset, info.number)
    data, meta = manifest.get(EXAMPLES_FILE), manifest.get(METADATA_FILE)
    if data is None or meta is None:
        raise InvalidInput(
            f"{info.ref} is not a hard-examples version: it has no {EXAMPLES_FILE} and "
            f"{METADATA_FILE}. Collect into it with ll.collect_hard_examples first."
        )
    table = pq.read_table(pa.BufferReader(blobs.get_bytes(data.digest)))
    doc: dict[str, Any] = json.loads(blobs.get_bytes(meta.digest))
    if doc.get("kind") != METADATA_KIND:
        raise InvalidInput(f"{info.ref}/{METADATA_FILE} is not hard-examples metadata.")
    return table, doc


def latest_examples(
    blobs: BlobStore, datasets: DatasetService, project: str, dataset: str
) -> tuple[VersionInfo | None, pa.Table | None, dict[str, Any] | None]:
    """The dataset's latest version with its examples, or Nones when it has no version yet."""
    try:
        info = datasets.version(project, dataset, "latest")
    except NotFound:
        return None, None, None
    table, doc = read_examples(blobs, datasets, info)
    return info, table, doc


def write_examples_version(
    blobs: BlobStore,
    datasets: DatasetService,
    project: str,
    dataset: str,
    parent: VersionInfo | None,
    table: pa.Table,
    doc: dict[str, Any],
    message: str,
) -> VersionInfo:
    """Commit ``table`` and ``doc`` as the dataset's next version (its data profiled, so drift
    and the dataset pages read it like any other version)."""
    import pyarrow.parquet as pq

    from loopline.datasets import Manifest
    from loopline.datasets._profile import PROFILE_SCHEMA, profile_table

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    data_ref = blobs.put_bytes(buffer.getvalue())
    meta_bytes = json.dumps(doc, indent=1, sort_keys=True, default=str).encode("utf-8")
    meta_ref = blobs.put_bytes(meta_bytes)
    base = Manifest.empty()
    if parent is not None:
        base = datasets.manifest(project, dataset, parent.number)
    manifest = base.with_changes(
        {
            EXAMPLES_FILE: (data_ref.digest, data_ref.size),
            METADATA_FILE: (meta_ref.digest, meta_ref.size),
        }
    )
    profile = {
        "schema": PROFILE_SCHEMA,
        "files": {EXAMPLES_FILE: {"format": "parquet", **profile_table(table)}},
    }
    profile_bytes = json.dumps(profile, separators=(",", ":"), allow_nan=False, default=str)
    profile_ref = blobs.put_bytes(profile_bytes.encode("utf-8"))
    manifest_ref = blobs.put_bytes(manifest.encode())
    datasets.create(project, dataset)
    return datasets.commit(
        project,
        dataset,
        manifest_ref.digest,
        parent=None if parent is None else parent.number,
        message=message,
        profile_digest=profile_ref.digest,
    )


# -- the collection -------------------------------------------------------------------------------


def collect_hard_examples(
    store: EvaluationStore,
    datasets: DatasetService,
    blobs: BlobStore,
    project: str,
    endpoint: str,
    dataset: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    confidence_below: float | None = 0.6,
    misclassified: bool = True,
    limit: int = DEFAULT_LIMIT,
    image_shape: Sequence[int] | None = None,
    scorer: Scorer | None = None,
    actor: str = "",
) -> HardExamples:
    """Select the hard predictions of ``endpoint`` in ``[since, until)`` and add them to
    ``dataset`` as its next version (see the module doc). Nothing is written when no new
    hard prediction is found (``version`` is then None)."""
    from loopline.datasets import validate_dataset_name
    from loopline.monitoring._evaluation import validate_endpoint_name

    validate_endpoint_name(endpoint)
    validate_dataset_name(dataset)
    _check_arguments(confidence_below, misclassified, limit, since, until)
    shape = validate_image_shape(image_shape)
    parent, old, doc = latest_examples(blobs, datasets, project, dataset)
    seen: set[str] = set() if old is None else set(old.column("request_id").to_pylist())
    frame = store.predictions(project, endpoint, start=since, end=until, route="primary")
    frame = frame[frame["error"].isna()].reset_index(drop=True)
    confidence, source = confidence_of(frame, scorer)
    chosen, skipped = select_hard_examples(
        frame,
        confidence,
        confidence_below=confidence_below,
        misclassified=misclassified,
        exclude=seen,
        limit=limit,
    )
    reasons = chosen["reason"].tolist()
    low = sum("low_confidence" in r for r in reasons)
    wrong = sum("misclassified" in r for r in reasons)
    result = HardExamples(
        project=project,
        endpoint=endpoint,
        dataset=dataset,
        version=None,
        collected=len(chosen),
        low_confidence=low,
        misclassified=wrong,
        already_collected=skipped,
        scanned=len(frame),
        confidence_source=source,
        since=since,
        until=until,
        image_shape=shape if shape is not None else (doc or {}).get("image_shape"),
        request_ids=chosen["request_id"].astype(str).tolist(),
    )
    if chosen.empty:
        return result
    new = _examples_table(chosen, endpoint)
    inputs = [c for c in new.column_names if c not in META_COLUMNS]
    if shape is None and doc is not None:
        shape = doc.get("image_shape")
    if shape is None:
        first = [new.column(c)[0].as_py() for c in inputs]
        shape = detect_image_shape(inputs, first)
    table = new if old is None else _append(old, new)
    now = datetime.now(UTC)
    doc = dict(doc or {"kind": METADATA_KIND, "schema": 1, "collections": [], "reviews": []})
    doc.update(
        project=project,
        image_shape=shape,
        input_columns=[c for c in table.column_names if c not in META_COLUMNS],
        endpoints=sorted({*doc.get("endpoints", []), endpoint}),
    )
    doc["collections"] = [
        *doc.get("collections", []),
        {
            "id": uuid.uuid4().hex,
            "at": now.isoformat(),
            "by": actor,
            "endpoint": endpoint,
            "since": None if since is None else _utc(since).isoformat(),
            "until": None if until is None else _utc(until).isoformat(),
            "confidence_below": confidence_below,
            "misclassified": misclassified,
            "confidence_source": source,
            "count": len(chosen),
            "request_ids": result.request_ids,
        },
    ]
    window = f" {_utc(since):%Y-%m-%d %H:%M}" if since is not None else ""
    window += f" to {_utc(until):%Y-%m-%d %H:%M}" if until is not None else ""
    message = (
        f"{len(chosen)} hard examples from endpoint {endpoint}{window} "
        f"({wrong} misclassified, {low} low-confidence)"
    )
    info = write_examples_version(blobs, datasets, project, dataset, parent, table, doc, message)
    return HardExamples(**{**_fields(result), "version": info.number, "image_shape": shape})


def _fields(result: HardExamples) -> dict[str, Any]:
    return {name: getattr(result, name) for name in HardExamples.__dataclass_fields__}


def _append(old: pa.Table, new: pa.Table) -> pa.Table:
    """``old`` then ``new``: columns of either (missing ones null), types unified."""
    import pyarrow as pa

    try:
        return pa.concat_tables([old, new], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput(
            f"The new hard examples do not fit the dataset's earlier ones ({exc}): the model's "
            f"inputs or outputs changed type. Collect into a new dataset."
        ) from exc


# -- probabilities from the registered model ------------------------------------------------------


class RegistryScorer:
    """A :data:`Scorer` that loads model versions of ``project`` from the registry (files from
    the blob store into ``cache``, each checked against its digest) and calls their
    ``predict_proba``. Loading a model runs code from its files: only registered models are
    loaded, as the inference server does."""

    def __init__(
        self, registry: RegistryService, blobs: BlobStore, cache: Path, project: str
    ) -> None:
        self._registry = registry
        self._blobs = blobs
        self._cache = cache
        self._project = project
        self.problems: list[str] = []

    def __call__(
        self, model: str, version: int, data: pd.DataFrame | np.ndarray[Any, Any]
    ) -> np.ndarray[Any, Any] | None:
        try:
            loaded = self._load(model, version)
            if not loaded.has_predict_proba:
                self.problems.append(f"model {model}/{version} has no predict_proba")
                return None
            return np.asarray(loaded.predict_proba(data), dtype=np.float64)
        except LooplineError as exc:
            self.problems.append(f"model {model}/{version}: {exc.message}")
            return None
        except Exception as exc:  # noqa: BLE001 - a model that cannot score leaves confidence empty
            self.problems.append(f"model {model}/{version}: {type(exc).__name__}: {exc}")
            return None

    def _load(self, model: str, version: int) -> LoadedModel:
        from loopline.registry import PACKAGE_FILE
        from loopline.registry._package import ModelPackage, load_package

        found = self._registry.version(self._project, model, version)
        source = f"model {found.ref}"
        folder = self._cache / found.package_digest
        raw = self._blobs.get_bytes(found.package_digest)
        package = ModelPackage.from_json(raw, source)
        for f in package.files:
            pure = PurePosixPath(f.path)
            if pure.is_absolute() or ".." in pure.parts or not pure.parts:
                raise InvalidInput(f"{source} names a file outside its folder: {f.path!r}.")
            dest = folder / pure
            if dest.is_file() and dest.stat().st_size == f.size and _sha256(dest) == f.digest:
                continue
            self._blobs.local_copy(f.digest, dest)
        manifest = folder / PACKAGE_FILE
        if not manifest.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            temp = folder / f".{PACKAGE_FILE}.{uuid.uuid4().hex[:8]}"
            temp.write_bytes(raw)
            temp.replace(manifest)
        return load_package(folder, package, source)


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            hasher.update(chunk)
    return hasher.hexdigest()
