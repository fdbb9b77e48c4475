"""Hard examples from Python: ``ll.collect_hard_examples`` gathers the predictions a model got
wrong or was unsure of into a dataset; ``ll.label_hard_examples`` saves reviewed labels (and
commits them), as the UI's labelling page does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loopline._client import Client, default_client

if TYPE_CHECKING:
    from loopline.monitoring._hard_examples import HardExamples
    from loopline.monitoring._labelling_types import LabellingCommit, LabellingState

__all__ = ["collect_hard_examples", "label_hard_examples"]


def collect_hard_examples(
    endpoint: str,
    dataset: str = "hard-examples",
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    confidence_below: float | None = 0.6,
    misclassified: bool = True,
    limit: int = 500,
    image_shape: Sequence[int] | None = None,
    use_model: bool = True,
    project: str | None = None,
    client: Client | None = None,
) -> HardExamples:
    """Add the endpoint's hard predictions to ``dataset`` as its next version, for review.

    A logged prediction is hard when its top-class probability is below ``confidence_below``
    or, once its label arrived (``ll.log_labels``), when it was wrong. Each row keeps the
    model's inputs, ``predicted``, ``confidence``, the current ``label`` (if any),
    ``request_id``, ``endpoint``, ``model``, ``model_version`` and ``ts``; the version's
    ``hard_examples.json`` records the window and request ids (the link back to the logs).
    Request ids already in the dataset are skipped, so collecting every hour adds only new
    rows. Nothing new: no version is written (``version`` is None).

    Args:
        endpoint: the serving endpoint whose prediction logs to read.
        dataset: the dataset to add to (created on first use).
        since, until: the window of prediction times (``since <= ts < until``; naive = UTC).
        confidence_below: collect predictions less sure than this (None: do not).
        misclassified: collect labelled predictions that were wrong.
        limit: the most rows one collection adds (wrong ones first, then least sure).
        image_shape: draw rows as images of this shape on the labelling page, like
            ``(8, 8)``; by default found from ``pixel_<i>`` input columns.
        use_model: when the logs hold no probabilities, compute them with the logged model
            version's ``predict_proba`` (loaded from the registry where the store is).
        project: the endpoint's project (default: the client's, ``LOOPLINE_PROJECT``).

    Example:
        >>> found = ll.collect_hard_examples("digits-api", "digits-review", confidence_below=0.6)
        >>> found.collected, found.ref
        (12, 'vision/digits-review:1')
    """
    client = client or default_client()
    return client._backend.collect_hard_examples(
        project or client.settings.project,
        endpoint,
        dataset,
        since=since,
        until=until,
        confidence_below=confidence_below,
        misclassified=misclassified,
        limit=limit,
        image_shape=image_shape,
        use_model=use_model,
        actor=client.settings.actor,
    )


def label_hard_examples(
    dataset: str,
    labels: Mapping[str, Any],
    *,
    commit: bool = True,
    project: str | None = None,
    client: Client | None = None,
) -> LabellingCommit | LabellingState:
    """Save reviewed labels ``{request_id: label}`` for a hard-examples dataset; with
    ``commit`` (the default), write them as its next version (``label`` filled, ``reviewed``
    set) and log them for live quality, as the labelling page's Commit button does.

    Returns:
        The commit (version, counts), or, with ``commit=False``, the review's state.

    Example:
        >>> ll.label_hard_examples("digits-review", {"req-7": 7, "req-9": 4}).version
        2
    """
    client = client or default_client()
    project = project or client.settings.project
    actor = client.settings.actor
    state = client._backend.save_labels(project, dataset, labels, actor=actor)
    if not commit:
        return state
    return client._backend.commit_labels(project, dataset, actor=actor)
