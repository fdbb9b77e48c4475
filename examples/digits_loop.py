"""The digits training pipeline that `make demo` publishes as the template `digits-training`.

gather → validate → train (a small sweep) → evaluate → gate. Each step is a tracked run:

- **gather** turns newly labelled production images (the endpoint's hard examples: the ones it got
  wrong or was unsure of, once their labels arrived) into the next version of the dataset;
- **validate** refuses a dataset version that is not 8x8 images with labels 0-9;
- **train** reads that version (so the registered model records what it was trained on, and its
  reference profile for drift), splits it, sweeps the regularisation and logs the best model;
- **evaluate** scores it on the holdout, per class;
- **gate** compares it with the current champion on the same holdout and registers it when it
  is at least as good; the endpoint's delivery policy then canaries it.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pandas as pd

import loopline as ll

PIXELS = [f"pixel_{i}" for i in range(64)]
IMAGES = "images.parquet"
HOLDOUT_SHARE = 0.25


def images_frame(images: np.ndarray, labels: np.ndarray, ids: list[str]) -> pd.DataFrame:
    """Flattened 8x8 images (values 0-16) as ``pixel_0`` ... ``pixel_63``, then ``label`` and
    where each came from (``request_id``: ``lab-...`` or the production request's id)."""
    frame = pd.DataFrame(images.reshape(len(images), 64).astype(float), columns=PIXELS)
    frame["label"] = labels.astype(int)
    frame["request_id"] = ids
    return frame


def split(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training part and holdout, by a hash of each row's ``request_id``: a row stays on its
    side when later versions add rows, so the champion is never judged on rows it learnt."""
    buckets = frame["request_id"].map(lambda rid: zlib.crc32(f"{seed}:{rid}".encode()) % 100)
    held = buckets < int(HOLDOUT_SHARE * 100)
    return frame[~held], frame[held]


def here() -> str:
    """The project of the pipeline run this step belongs to."""
    run = ll.active_run()
    assert run is not None, "a step runs inside its tracked run"
    return run.project


@ll.step(cache=False)  # it reads what production logged since: never the same twice
def gather(dataset: str, endpoint: str, confidence_below: float) -> int:
    """Add the endpoint's labelled hard examples to ``dataset``; answer the version to train on."""
    project = here()
    latest = ll.Dataset.get(dataset, project=project)
    try:
        found = ll.collect_hard_examples(
            endpoint,
            f"{dataset}-hard",
            confidence_below=confidence_below,
            misclassified=True,
            limit=2_000,
            project=project,
        )
    except ll.NotFound:  # no endpoint or no predictions yet: train on what there is
        return latest.number
    if found.version is None:
        return latest.number
    hard = ll.Dataset.get(f"{dataset}-hard", version=found.version, project=project)
    examples = hard.to_pandas("examples.parquet")
    current = latest.to_pandas(IMAGES)
    new = examples[examples["label"].notna() & ~examples["request_id"].isin(current["request_id"])]
    ll.log_metrics({"hard_examples": len(examples), "labelled_new": len(new)})
    if new.empty:
        return latest.number
    rows = (
        new[PIXELS]
        .astype(float)
        .assign(label=new["label"].astype(int), request_id=new["request_id"])
    )
    draft = ll.Dataset.create(dataset, project=project, parent=latest)
    draft.add_frame(pd.concat([current, rows], ignore_index=True), IMAGES)
    made = draft.commit(
        message=f"{len(rows)} labelled production images from {endpoint} "
        f"({dataset}-hard:{found.version})"
    )
    return made.number


@ll.step
def validate(dataset: str, version: int) -> int:
    """Refuse data the model cannot learn from; answer the row count."""
    project = here()
    frame = ll.Dataset.get(dataset, version=version, project=project).to_pandas(IMAGES)
    problems = [c for c in [*PIXELS, "label"] if c not in frame.columns]
    if problems:
        raise ValueError(f"{dataset}:{version} lacks columns {problems[:5]}")
    pixels = frame[PIXELS].to_numpy()
    if np.isnan(pixels).any() or pixels.min() < 0 or pixels.max() > 16:
        raise ValueError(f"{dataset}:{version}: pixel values must be 0-16, without gaps")
    if not frame["label"].isin(range(10)).all():
        raise ValueError(f"{dataset}:{version}: labels must be digits 0-9")
    counts = frame["label"].value_counts()
    ll.log_metrics({"rows": len(frame), "smallest_class": int(counts.min())})
    return len(frame)


@ll.step
def train(dataset: str, version: int, rows: int, seed: int) -> str:
    """A small sweep over the regularisation, judged on a slice of the training part; the
    best model is refitted on the whole training part and logged. Answer its URI."""
    from sklearn.linear_model import LogisticRegression

    frame = ll.Dataset.get(dataset, version=version, project=here()).to_pandas(IMAGES)
    assert len(frame) == rows, "the dataset version changed under the pipeline"
    part, _ = split(frame, seed)
    fit_part, check_part = split(part, seed + 1)
    scores = {}
    for step, c in enumerate((0.01, 0.1, 1.0)):
        model = LogisticRegression(C=c, max_iter=2_000)
        model.fit(fit_part[PIXELS], fit_part["label"])
        scores[c] = float(model.score(check_part[PIXELS], check_part["label"]))
        ll.log_metric("sweep_accuracy", scores[c], step=step)
    best = max(scores, key=lambda c: scores[c])
    ll.log_params({"C": best, "dataset_version": version})
    model = LogisticRegression(C=best, max_iter=2_000).fit(part[PIXELS], part["label"])
    ll.log_model(model, input_example=part[PIXELS].head(3))
    run = ll.active_run()
    assert run is not None
    return f"runs:/{run.id}/model"


@ll.step
def holdout(dataset: str, version: int, seed: int) -> pd.DataFrame:
    frame = ll.Dataset.get(dataset, version=version, project=here()).to_pandas(IMAGES)
    return split(frame, seed)[1][[*PIXELS, "label"]]


@ll.step
def evaluate(model_uri: str, test: pd.DataFrame) -> float:
    from sklearn.metrics import accuracy_score, f1_score

    model = ll.load_model(model_uri)
    predicted = model.predict(test[PIXELS])
    accuracy = float(accuracy_score(test["label"], predicted))
    per_class = f1_score(test["label"], predicted, average=None, labels=list(range(10)))
    ll.log_metrics({"accuracy": accuracy, **{f"f1_{d}": float(per_class[d]) for d in range(10)}})
    return accuracy


@ll.step(cache=False)  # the champion it is judged against changes
def gate(model_uri: str, test: pd.DataFrame, accuracy: float) -> dict[str, Any]:
    """Challenger vs champion on the same holdout: no worse, and at least 0.85 on its own."""
    result = ll.gate(
        model_uri,
        "champion",
        test,
        target="label",
        model="digits",
        metrics={"accuracy": ">= 0 and abs >= 0.85"},
        project=here(),
    )
    return {
        "passed": result.passed,
        "version": result.challenger_version,
        "champion": result.champion_version,
        "accuracy": accuracy,
        "message": result.message,
    }


@ll.pipeline(name="digits-training")
def training(  # type: ignore[no-untyped-def]
    dataset: str = "digits",
    endpoint: str = "digits-api",
    confidence_below: float = 0.9,
    seed: int = 0,
    reason: str = "",
):
    version = gather(dataset, endpoint, confidence_below)
    rows = validate(dataset, version)
    model_uri = train(dataset, version, rows, seed)
    test = holdout(dataset, version, seed)
    gate(model_uri, test, evaluate(model_uri, test))
