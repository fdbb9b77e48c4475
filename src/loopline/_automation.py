"""The closed loop's one-liners: ``ll.gate``, ``ll.delivery_policy`` and ``ll.automation.*``
(triggers, the controller's tick, the timeline, revert), over the default client."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from loopline._client import Client, default_client
from loopline.automation._gates import check_rules, judge
from loopline.automation._types import (
    Delivery,
    DeliveryPolicy,
    Firing,
    GateFailed,
    GateFigure,
    GateRecord,
    LoopEvent,
    TickReport,
    Trigger,
    TriggerVersion,
)
from loopline.errors import InvalidInput, NotFound
from loopline.registry import parse_model_uri, validate_model_name

__all__ = [
    "gate",
    "delivery_policy",
    "trigger",
    "triggers",
    "trigger_history",
    "firings",
    "pause",
    "resume",
    "delete_trigger",
    "fire",
    "tick",
    "timeline",
    "revert",
    "deliveries",
    "evaluate",
]

Evaluator = Callable[[Any, Any, Any], Mapping[str, float]]


# -- gates --------------------------------------------------------------------------------------


def evaluate(model: Any, x: Any, y: Any) -> dict[str, float]:
    """The standard figures of ``model`` on ``(x, y)``: for classifiers ``accuracy``,
    ``precision``, ``recall``, ``f1`` (macro for more than two classes), ``log_loss`` (with
    ``predict_proba``) and ``auc`` (binary); for regressors ``rmse``, ``mae``, ``r2``."""
    import numpy as np

    from loopline.monitoring._quality import (
        classification_scores,
        guess_task,
        regression_scores,
    )

    predicted = np.asarray(model.predict(x))
    actual = np.asarray(y)
    if len(actual) == 0:
        raise InvalidInput("The holdout is empty: a gate needs labelled rows to judge on.")
    if guess_task(actual) == "regression":
        out = regression_scores(predicted, actual)
        out.pop("bias", None)
        total = float(np.sum((actual - actual.mean()) ** 2))
        out["r2"] = 1 - float(np.sum((predicted - actual) ** 2)) / total if total else math.nan
        return out
    proba = None
    if callable(getattr(model, "predict_proba", None)) and getattr(
        model, "has_predict_proba", True
    ):
        try:
            proba = np.asarray(model.predict_proba(x))
        except Exception:  # noqa: BLE001 - a model without usable probabilities: no log_loss
            proba = None
    binary = proba[:, -1] if proba is not None and proba.ndim == 2 and proba.shape[1] == 2 else None
    scores = classification_scores(predicted, actual, binary)
    if proba is not None and proba.ndim == 2:
        classes = getattr(getattr(model, "native", model), "classes_", None)
        if classes is not None and len(classes) == proba.shape[1]:
            index = {c: i for i, c in enumerate(np.asarray(classes).tolist())}
            found = [index.get(v) for v in actual.tolist()]
            if all(r is not None for r in found):
                rows = np.asarray(found, dtype=np.int64)
                picked = proba[np.arange(len(rows)), rows]
                scores["log_loss"] = float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))
    return {k: float(v) for k, v in scores.items() if v is not None and not math.isnan(v)}


def gate(
    challenger: Any,
    champion: Any = "champion",
    holdout: Any = None,
    metrics: Mapping[str, Any] | None = None,
    *,
    model: str | None = None,
    register: bool = True,
    register_failed: bool = False,
    target: str | None = None,
    data: Mapping[str, Any] | None = None,
    production: str | Mapping[str, Any] | None = None,
    evaluate_with: Evaluator | None = None,
    input_example: Any = None,
    description: str = "",
    project: str | None = None,
    raise_on_fail: bool = False,
    client: Client | None = None,
) -> GateRecord:
    """Judge ``challenger`` against the champion on the same holdout, by declared rules, and
    record the outcome (a gate record, and metrics and tags in the current run).

    A passed gate registers the challenger (``register=True``, when it is not a registered
    version already); the controller then delivers it to every endpoint whose delivery policy
    serves ``model``. A failed gate stops promotion, not the record: the run goes on, the
    challenger is registered only with ``register_failed=True``, and nothing is delivered.

    Args:
        challenger: a fitted model (``predict``), or a URI (``runs:/<id>/model``,
            ``models:/digits/7``).
        champion: the model to beat: an alias of ``model`` (default ``"champion"``), a URI, a
            fitted model, or ``None``. An alias that does not exist yet means no champion: only
            the absolute clauses decide (the first model passes on its minimums).
        holdout: ``(X, y)``, or a DataFrame with the label in column ``target``.
        metrics: metric → rule. ``">= -0.01"``: challenger minus champion at least -0.01;
            ``"<= 0.02"``; ``">= -1%"`` (of the champion's value); ``"abs >= 0.9"`` (the
            challenger's own value); clauses joined by ``and``. A bare number is the tolerated
            worsening for a metric whose direction is known (``{"accuracy": 0.01}``).
        model: the registered model's name (default: the challenger URI's).
        data: more named ``(X, y)`` sets judged by the same rules (``{"production": (X, y)}``
            for freshly labelled production data); every one must pass.
        production: judge also on the labelled predictions an endpoint logged (the
            evaluation store), as data set ``"production"``: ``"digits-api"`` (the last 7
            days), or ``{"endpoint": "digits-api", "since": "2d", "min_rows": 50}``. With
            fewer than ``min_rows`` (default 1) labelled predictions the set is left out and the
            message says so. Embedded mode reads the store itself; with a server, pass
            ``data={"production": (X, y)}``.
        evaluate_with: ``f(model, X, y) -> {metric: value}`` instead of the standard figures.
        raise_on_fail: raise :class:`GateFailed` after recording a failed gate.

    Raises:
        InvalidInput: a bad rule, holdout or model reference.

    Example:
        >>> result = ll.gate(clf, "champion", (X_test, y_test), model="digits",
        ...                  metrics={"accuracy": ">= -0.01", "log_loss": "<= 0.02"})
        >>> result.passed, result.challenger_version
        (True, 4)
    """
    from loopline._models import ModelRegistry
    from loopline._runs import active_run

    client = client or default_client()
    rules = check_rules(metrics or {})
    registry = ModelRegistry(client)
    run = active_run()
    where = project or (run.project if run is not None else client.settings.project)
    challenger_version: int | None = None
    challenger_model = challenger
    if isinstance(challenger, str):
        parsed = parse_model_uri(challenger)
        model = model or parsed.name
        if parsed.kind == "models":
            version = registry.version(parsed.name, parsed.ref, project=parsed.project or where)
            challenger_version = version.number
        challenger_model = registry.load(challenger)
    if model is None:
        raise InvalidInput(
            "gate: name the registered model (model='digits'): it is what the champion is "
            "looked up in and what the challenger is registered as."
        )
    validate_model_name(model)
    champion_model, champion_version = _champion(registry, champion, model, where)
    sets = {"holdout": _xy(holdout, target, "holdout")}
    for name, value in (data or {}).items():
        sets[str(name)] = _xy(value, target, f"data[{name!r}]")
    notes: list[str] = []
    if production is not None:
        if "production" in sets:
            raise InvalidInput("gate: give production= or data['production'], not both.")
        logged, note = _production(client, where, production)
        if logged is not None:
            sets["production"] = logged
        if note:
            notes.append(note)
    measure = evaluate_with or evaluate
    passed = True
    figures: list[GateFigure] = []
    messages: list[str] = []
    for name, (x, y) in sets.items():
        mine = dict(measure(challenger_model, x, y))
        theirs = None if champion_model is None else dict(measure(champion_model, x, y))
        ok, found, message = judge(rules, mine, theirs, data=name)
        passed &= ok
        figures += found
        messages.append(message if len(sets) == 1 else f"{name}: {message}")
    messages += notes
    if challenger_version is None and register and (passed or register_failed):
        challenger_version = _register(
            registry, challenger, model, where, run, input_example, description
        )
    pipeline_run = None
    if run is not None:
        pipeline_run = run.info().parent_id
    record: GateRecord = client._backend.record_gate(
        where,
        model,
        passed=passed,
        figures=figures,
        message=" | ".join(messages),
        challenger_version=challenger_version,
        champion_version=champion_version,
        run_id=run.id if run is not None else None,
        pipeline_run_id=pipeline_run,
    )
    if run is not None:
        values = {}
        for f in figures:
            prefix = "gate" if f.data == "holdout" else f"gate.{f.data}"
            for side in ("challenger", "champion", "delta"):
                value = getattr(f, side)
                if value is not None:
                    values[f"{prefix}.{side}.{f.metric}"] = value
        run.log_metrics(values)
        run.set_tags(
            {
                "loopline.gate": "passed" if passed else "failed",
                "loopline.gate.id": record.id,
                "loopline.gate.model": model,
            }
        )
    if raise_on_fail and not passed:
        raise GateFailed(f"The gate for {model} failed: {record.message}")
    return record


def _xy(value: Any, target: str | None, what: str) -> tuple[Any, Any]:
    if isinstance(value, tuple | list) and len(value) == 2:
        return value[0], value[1]
    columns = getattr(value, "columns", None)
    if columns is not None and target is not None and target in columns:
        return value.drop(columns=[target]), value[target]
    raise InvalidInput(
        f"{what}: give (X, y), or a DataFrame and target='<label column>'"
        + (f" (no column {target!r})" if target else "")
        + "."
    )


def _production(
    client: Client, project: str, production: str | Mapping[str, Any]
) -> tuple[tuple[Any, Any] | None, str]:
    """The labelled predictions of an endpoint's recent window as ``(X, y)`` (None, with a
    note, when there are too few)."""
    from datetime import timedelta

    from loopline.automation._types import parse_duration
    from loopline.db import utcnow

    spec = {"endpoint": production} if isinstance(production, str) else dict(production)
    unknown = set(spec) - {"endpoint", "since", "min_rows"}
    endpoint = spec.get("endpoint")
    if unknown or not isinstance(endpoint, str) or not endpoint:
        raise InvalidInput(
            "gate: production= is an endpoint name, or {'endpoint': ..., 'since': '7d', "
            "'min_rows': 1}" + (f" (not {sorted(unknown)})" if unknown else "") + ".",
            details={"field": "production"},
        )
    min_rows = spec.get("min_rows", 1)
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise InvalidInput(
            f"gate: production min_rows is a whole number from 1, not {min_rows!r}.",
            details={"field": "production.min_rows"},
        )
    since = spec.get("since", "7d")
    seconds = parse_duration(since, "production.since")
    if client.settings.mode != "local":
        raise InvalidInput(
            "gate: production= reads the evaluation store, which this process reaches only in "
            "embedded mode; with a server, pass data={'production': (X, y)}.",
            details={"field": "production"},
        )
    from loopline.monitoring import EvaluationStore

    store = EvaluationStore.from_settings(client.settings)
    frame = store.predictions(project, endpoint, start=utcnow() - timedelta(seconds=seconds))
    frame = frame[frame["label"].notna() & frame["error"].isna()].reset_index(drop=True)
    if len(frame) < min_rows:
        return None, (
            f"production: {len(frame)} labelled predictions of {endpoint} since {since!s}, "
            f"{min_rows} needed: not judged."
        )
    names = [c for c in frame.columns if c.startswith("input.")]
    if names:
        x: Any = frame[names].rename(columns=lambda c: c.removeprefix("input."))
    else:
        import numpy as np

        x = np.stack([np.asarray(v) for v in frame["input"]])
    return (x, frame["label"]), ""


def _champion(registry: Any, champion: Any, model: str, project: str) -> tuple[Any, int | None]:
    if champion is None:
        return None, None
    if not isinstance(champion, str):
        return champion, None
    uri = champion if champion.startswith(("models:/", "runs:/")) else f"models:/{model}@{champion}"
    parsed = parse_model_uri(uri)
    try:
        version = None
        if parsed.kind == "models":
            version = registry.version(parsed.name, parsed.ref, project=parsed.project or project)
            uri = version.uri  # names its project: the alias is the gate's project's
        loaded = registry.load(uri)
    except NotFound:
        return None, None  # no champion yet: the absolute minimums decide
    return loaded, None if version is None else version.number


def _register(
    registry: Any,
    challenger: Any,
    model: str,
    project: str,
    run: Any,
    input_example: Any,
    description: str,
) -> int:
    if isinstance(challenger, str):
        return int(
            registry.register(challenger, model, project=project, description=description).number
        )
    if run is None:
        raise InvalidInput(
            "gate: registering a fitted challenger logs it in the current run; call ll.gate "
            "inside a pipeline step or `with ll.start_run():`, or pass register=False."
        )
    logged = registry.log_model(challenger, "challenger", input_example=input_example, run=run)
    return int(registry.register(logged, model, project=project, description=description).number)


# -- delivery policies --------------------------------------------------------------------------


def delivery_policy(
    endpoint: str,
    *,
    canary_percent: int = 10,
    shadow_first: bool = False,
    observe_for: Any = "10m",
    min_requests: int = 100,
    min_labels: int = 1,
    margins: Mapping[str, float] | None = None,
    alias: str = "champion",
    enabled: bool = True,
    project: str | None = None,
    client: Client | None = None,
) -> DeliveryPolicy:
    """How ``endpoint`` takes a challenger that passed its gate: as a ``canary_percent``%
    canary (after a shadow phase with ``shadow_first``), watched for ``observe_for`` and at
    least ``min_requests`` requests, then promoted if its live figures are no worse than the
    champion's by ``margins``, else rolled back.

    Args:
        margins: metric → how much worse the challenger may be: quality (``accuracy``,
            ``f1``, ``rmse``, ...; from labelled predictions), ``error_rate``, ``p50_ms``,
            ``p95_ms``, ``p99_ms``. Default ``{"error_rate": 0.01}``.

    Example:
        >>> ll.delivery_policy("digits-api", canary_percent=10, observe_for="10m",
        ...                    margins={"accuracy": 0.01, "error_rate": 0.005, "p99_ms": 10})
    """
    client = client or default_client()
    policy: DeliveryPolicy = client._backend.set_delivery_policy(
        project or client.settings.project,
        endpoint,
        {
            "canary_percent": canary_percent,
            "shadow_first": shadow_first,
            "observe_for": _seconds(observe_for),
            "min_requests": min_requests,
            "min_labels": min_labels,
            "margins": dict(margins) if margins is not None else None,
            "alias": alias,
            "enabled": enabled,
        },
        actor=client.settings.actor,
    )
    return policy


def _seconds(value: Any) -> Any:
    from datetime import timedelta

    return value.total_seconds() if isinstance(value, timedelta) else value


# -- triggers -----------------------------------------------------------------------------------


def trigger(
    name: str,
    *,
    on: str,
    template: str,
    params: Mapping[str, Any] | None = None,
    template_version: int | str = "latest",
    cron: str | None = None,
    timezone: str | None = None,
    dataset: str | None = None,
    alias: str | None = None,
    monitor: str | None = None,
    rule: str | None = None,
    endpoint: str | None = None,
    debounce: Any = None,
    description: str = "",
    enabled: bool | None = None,
    project: str | None = None,
    client: Client | None = None,
) -> Trigger:
    """Create trigger ``name``, or make its next version (the history is kept).

    Args:
        on: ``"cron"`` (with ``cron``, ``timezone``), ``"dataset"`` (a new version of
            ``dataset``, or its ``alias`` moved), ``"alert"`` (an alert starts firing;
            optionally only of ``monitor``, ``rule``, ``endpoint``) or ``"manual"``.
        params: the template's parameters; a string may read the event: ``"{event.version}"``
            (the whole string: the value keeps its type), ``"data v{event.version}"`` (text).
            Fields: cron ``fire_at``, ``missed``; dataset ``dataset``, ``version``,
            ``version_id``, ``alias``, ``digest``, ``message``; alert ``id``, ``monitor``,
            ``rule``, ``endpoint``, ``metric``, ``value``, ``threshold``, ``fired_at``,
            ``message``; manual: the payload given to ``fire``. ``{trigger.name}`` too.
        debounce: ``"10m"``, seconds or a timedelta: events within it of the last launch are
            coalesced into it (default: 1 h for alerts, 1 min for datasets, 0 otherwise).
            While the last launch still runs, events are always coalesced.

    Example:
        >>> ll.automation.trigger("retrain-on-drift", on="alert", template="digits-training",
        ...                       monitor="digits-drift", params={"reason": "{event.message}"})
    """
    client = client or default_client()
    config = {
        "cron": cron,
        "timezone": timezone,
        "dataset": dataset,
        "alias": alias,
        "monitor": monitor,
        "rule": rule,
        "endpoint": endpoint,
    }
    record: Trigger = client._backend.put_trigger(
        project or client.settings.project,
        name,
        {
            "kind": on,
            "template": template,
            "params": dict(params or {}),
            "template_version": str(template_version),
            "config": {k: v for k, v in config.items() if v is not None},
            "debounce": _seconds(debounce),
            "description": description,
            "enabled": enabled,
        },
        actor=client.settings.actor,
    )
    return record


def triggers(project: str | None = None, *, client: Client | None = None) -> list[Trigger]:
    """The triggers of ``project``, by name."""
    client = client or default_client()
    found: list[Trigger] = client._backend.list_triggers(project or client.settings.project)
    return found


def trigger_history(
    name: str, *, project: str | None = None, client: Client | None = None
) -> list[TriggerVersion]:
    """Every version of trigger ``name``'s definition, newest first."""
    client = client or default_client()
    found: list[TriggerVersion] = client._backend.trigger_versions(
        project or client.settings.project, name
    )
    return found


def firings(
    name: str, *, limit: int = 50, project: str | None = None, client: Client | None = None
) -> list[Firing]:
    """The firings of trigger ``name``, newest first."""
    client = client or default_client()
    found: list[Firing] = client._backend.trigger_firings(
        project or client.settings.project, name, limit
    )
    return found


def pause(name: str, *, project: str | None = None, client: Client | None = None) -> Trigger:
    """Stop trigger ``name`` firing (its events meanwhile are not made up for)."""
    client = client or default_client()
    record: Trigger = client._backend.set_trigger_enabled(
        project or client.settings.project, name, False
    )
    return record


def resume(name: str, *, project: str | None = None, client: Client | None = None) -> Trigger:
    """Let trigger ``name`` fire again (this also clears a ``broken`` state)."""
    client = client or default_client()
    record: Trigger = client._backend.set_trigger_enabled(
        project or client.settings.project, name, True
    )
    return record


def delete_trigger(name: str, *, project: str | None = None, client: Client | None = None) -> None:
    """Delete trigger ``name`` with its versions and firings (runs and the timeline stay)."""
    client = client or default_client()
    client._backend.delete_trigger(project or client.settings.project, name)


def fire(
    name: str,
    payload: Mapping[str, Any] | None = None,
    *,
    project: str | None = None,
    client: Client | None = None,
) -> Firing:
    """Fire trigger ``name`` now with ``payload`` as its event (debounced like any event).

    Example:
        >>> ll.automation.fire("retrain", {"reason": "new labels"}).run_id
        '4f0c...'
    """
    client = client or default_client()
    record: Firing = client._backend.fire_trigger(
        project or client.settings.project, name, dict(payload or {}), actor=client.settings.actor
    )
    return record


# -- the controller and the timeline -------------------------------------------------------------


def tick(now: datetime | None = None, *, client: Client | None = None) -> TickReport:
    """Run one round of the loop now: fire triggers, deliver passed gates, judge canaries.

    A server does this by itself every few seconds; in embedded mode call it (or run
    ``loopline automation run``).
    """
    client = client or default_client()
    report: TickReport = client._backend.automation_tick(now)
    return report


def timeline(
    project: str | None = None,
    *,
    limit: int = 100,
    before: int | None = None,
    client: Client | None = None,
) -> list[LoopEvent]:
    """The loop's events of ``project``, newest first: triggers fired or coalesced, runs
    launched, gates, canaries, observations, promotions, rollbacks, reverts."""
    client = client or default_client()
    found: list[LoopEvent] = client._backend.automation_timeline(
        project or client.settings.project, limit=limit, before=before
    )
    return found


def revert(event_id: int, *, project: str | None = None, client: Client | None = None) -> LoopEvent:
    """Undo decision ``event_id`` (a shadow or canary start, a promotion, a rollback); the
    revert is itself an event of the timeline.

    Example:
        >>> ll.automation.revert(42).message
        'ada reverted promoted of digits v4: digits-api serves revision 3's routes again ...'
    """
    client = client or default_client()
    record: LoopEvent = client._backend.revert_automation_event(
        project or client.settings.project, int(event_id), actor=client.settings.actor
    )
    return record


def deliveries(
    project: str | None = None, *, active: bool = False, client: Client | None = None
) -> list[Delivery]:
    """Deliveries of ``project``, newest first (``active``: only those in shadow or canary)."""
    client = client or default_client()
    found: list[Delivery] = client._backend.list_deliveries(
        project or client.settings.project, active=active
    )
    return found
