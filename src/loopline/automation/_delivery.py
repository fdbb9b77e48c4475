"""Delivery: policies per endpoint, and the state machine that takes a gated challenger through
shadow and canary to promotion or rollback, judged by live figures.

States of a delivery: ``shadow`` (the challenger answers a copy of every request, logged,
never returned) → ``canary`` (it answers ``canary_percent`` of the traffic) → ``promoted``
(the registry alias moves to it, it takes the champion's routes) or ``rolled_back`` (the
endpoint serves its revision from before the delivery again). ``reverted`` is a person's
undo; ``failed`` is a step that could not be made (its reason in the message).

Everything is stored: a controller that restarts mid-canary reads the state and goes on. Each
transition is claimed with ``UPDATE ... WHERE seq = <what it read>`` before it acts, so two
controllers never make the same move twice.
"""

from __future__ import annotations

import builtins
import json
import logging
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from loopline.automation._tables import DeliveryRow, GateRow, PolicyRow
from loopline.automation._timeline import AUTOMATION_ACTOR, Timeline, clean_figures
from loopline.automation._types import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    Delivery,
    DeliveryPolicy,
    LoopEvent,
    parse_duration,
)
from loopline.db import Database, new_id, utcnow
from loopline.errors import Conflict, InvalidInput, NotFound
from loopline.projects import ProjectService, validate_actor, validate_alias
from loopline.registry import parse_model_uri
from loopline.serving import (
    WINDOW_SECONDS,
    EndpointSpec,
    Route,
    bucket_quantile,
    validate_endpoint_name,
)

if TYPE_CHECKING:
    from loopline.monitoring import EvaluationStore
    from loopline.registry import RegistryService
    from loopline.serving import ServingService

__all__ = ["DeliveryService", "OPERATIONAL", "QUALITY"]

log = logging.getLogger("loopline.automation")

OPERATIONAL = ("error_rate", "p50_ms", "p95_ms", "p99_ms")
QUALITY = ("accuracy", "precision", "recall", "f1", "auc", "rmse", "mae")
ACTIVE = ("shadow", "canary")
_PERCENTILES = {"p50_ms": 0.5, "p95_ms": 0.95, "p99_ms": 0.99}


class DeliveryService:
    """Delivery policies, deliveries, and the moves of their state machine."""

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        serving: ServingService,
        registry: RegistryService,
        evaluations: Callable[[], EvaluationStore],
        timeline: Timeline,
    ) -> None:
        self._db = db
        self._projects = projects
        self._serving = serving
        self._registry = registry
        self._evaluations = evaluations
        self._timeline = timeline

    # -- policies ------------------------------------------------------------------------------

    def set_policy(
        self,
        project: str,
        endpoint: str,
        *,
        canary_percent: int = 10,
        shadow_first: bool = False,
        observe_for: object = "10m",
        min_requests: int = 100,
        min_labels: int = 1,
        margins: Mapping[str, float] | None = None,
        alias: str = "champion",
        enabled: bool = True,
        actor: str,
    ) -> DeliveryPolicy:
        """Store the delivery policy of ``endpoint`` (replacing any)."""
        validate_endpoint_name(endpoint)
        actor = validate_actor(actor)
        validate_alias(alias, "champion")
        if (
            isinstance(canary_percent, bool)
            or not isinstance(canary_percent, int)
            or not 1 <= canary_percent <= 99
        ):
            raise InvalidInput(
                f"canary_percent: a whole percentage from 1 to 99, not {canary_percent!r}.",
                details={"field": "canary_percent"},
            )
        for name, value in (("min_requests", min_requests), ("min_labels", min_labels)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
                raise InvalidInput(
                    f"{name}: a whole number from 0, not {value!r}.", details={"field": name}
                )
        seconds = parse_duration(observe_for, "observe_for")
        checked = _check_margins(margins or {"error_rate": 0.01})
        project_row = self._projects.get(project)
        now = utcnow()
        with self._db.transaction() as session:
            row = session.get(PolicyRow, (project_row.id, endpoint))
            if row is None:
                row = PolicyRow(project_id=project_row.id, endpoint=endpoint)
                session.add(row)
            row.canary_percent = canary_percent
            row.shadow_first = bool(shadow_first)
            row.observe_seconds = seconds
            row.min_requests = min_requests
            row.min_labels = min_labels
            row.margins = json.dumps(checked, sort_keys=True)
            row.alias = alias
            row.enabled = bool(enabled)
            row.updated_by = actor
            row.updated_at = now
            session.flush()
            return _policy(project_row.name, row)

    def policy(self, project: str, endpoint: str) -> DeliveryPolicy:
        project_row = self._projects.get(project)
        with self._db.session() as session:
            row = session.get(PolicyRow, (project_row.id, endpoint))
            if row is None:
                raise NotFound(
                    f"Endpoint {endpoint!r} has no delivery policy in project "
                    f"{project_row.name!r}; set one with ll.delivery_policy({endpoint!r}, ...)."
                )
            return _policy(project_row.name, row)

    def policies(self, project: str) -> builtins.list[DeliveryPolicy]:
        project_row = self._projects.get(project)
        with self._db.session() as session:
            rows = session.scalars(
                select(PolicyRow)
                .where(PolicyRow.project_id == project_row.id)
                .order_by(PolicyRow.endpoint)
            ).all()
            return [_policy(project_row.name, r) for r in rows]

    def delete_policy(self, project: str, endpoint: str) -> None:
        project_row = self._projects.get(project)
        with self._db.transaction() as session:
            row = session.get(PolicyRow, (project_row.id, endpoint))
            if row is None:
                raise NotFound(f"Endpoint {endpoint!r} has no delivery policy.")
            session.delete(row)

    # -- deliveries ----------------------------------------------------------------------------

    def get(self, delivery_id: str) -> Delivery:
        with self._db.session() as session:
            row = session.get(DeliveryRow, delivery_id) if isinstance(delivery_id, str) else None
            if row is None:
                raise NotFound(f"No delivery {delivery_id!r}.")
            return self._delivery(row)

    def list(
        self, project: str, *, active: bool = False, limit: int = 100
    ) -> builtins.list[Delivery]:
        project_row = self._projects.get(project)
        query = (
            select(DeliveryRow)
            .where(DeliveryRow.project_id == project_row.id)
            .order_by(DeliveryRow.created_at.desc())
            .limit(max(1, min(limit, 1000)))
        )
        if active:
            query = query.where(DeliveryRow.state.in_(ACTIVE))
        with self._db.session() as session:
            return [self._delivery(r) for r in session.scalars(query)]

    def active_ids(self) -> builtins.list[str]:
        with self._db.session() as session:
            return list(
                session.scalars(
                    select(DeliveryRow.id)
                    .where(DeliveryRow.state.in_(ACTIVE))
                    .order_by(DeliveryRow.created_at)
                )
            )

    def pending_gates(self) -> builtins.list[str]:
        with self._db.session() as session:
            return list(
                session.scalars(
                    select(GateRow.id)
                    .where(GateRow.delivery == "pending")
                    .order_by(GateRow.created_at)
                )
            )

    # -- starting ------------------------------------------------------------------------------

    def start(self, gate_id: str, now: datetime) -> builtins.list[Delivery]:
        """Deliver the challenger of passed gate ``gate_id`` to every endpoint with a policy that
        serves its model. The gate waits while one of those endpoints has a delivery going on."""
        with self._db.session() as session:
            gate = session.get(GateRow, gate_id)
            if gate is None or gate.delivery != "pending" or gate.challenger_version is None:
                return []
            project = self._projects.get_by_id(gate.project_id).name
            model, challenger, project_id = gate.model, gate.challenger_version, gate.project_id
            run_id = gate.run_id
        targets: builtins.list[tuple[DeliveryPolicy, Any, Route]] = []
        for policy in self.policies(project):
            if not policy.enabled:
                continue
            try:
                endpoint = self._serving.get(project, policy.endpoint)
            except NotFound:
                continue
            route = _champion_route(endpoint.target.spec, model)
            if route is None or route.version == challenger:
                continue
            if self._busy(project_id, policy.endpoint):
                return []  # wait: one delivery at a time per endpoint
            targets.append((policy, endpoint, route))
        with self._db.transaction() as session:
            moved = session.execute(
                update(GateRow)
                .where(GateRow.id == gate_id, GateRow.delivery == "pending")
                .values(delivery="started" if targets else "none")
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                return []
        if not targets:
            self._timeline.record(
                project,
                "delivery_skipped",
                f"{model} v{challenger} passed its gate, but no endpoint with a delivery policy "
                f"serves {model!r} (or it serves v{challenger} already): nothing to deliver.",
                gate_id=gate_id,
                model=model,
                version=challenger,
                run_id=run_id,
            )
            return []
        made = []
        for policy, endpoint, route in targets:
            made.append(
                self._begin(
                    project, project_id, gate_id, policy, endpoint, route, challenger, model, now
                )
            )
        return [d for d in made if d is not None]

    def _busy(self, project_id: str, endpoint: str) -> bool:
        with self._db.session() as session:
            return (
                session.scalars(
                    select(DeliveryRow.id).where(
                        DeliveryRow.project_id == project_id,
                        DeliveryRow.endpoint == endpoint,
                        DeliveryRow.state.in_(ACTIVE),
                    )
                ).first()
                is not None
            )

    def _begin(
        self,
        project: str,
        project_id: str,
        gate_id: str,
        policy: DeliveryPolicy,
        endpoint: Any,
        route: Route,
        challenger: int,
        model: str,
        now: datetime,
    ) -> Delivery | None:
        base = endpoint.target
        shadow = policy.shadow_first
        spec = (
            _shadow_spec(base.spec, model, challenger)
            if shadow
            else _canary_spec(base.spec, model, challenger, policy.canary_percent)
        )
        delivery_id = new_id()
        try:
            with self._db.transaction() as session:
                session.add(
                    DeliveryRow(
                        id=delivery_id,
                        project_id=project_id,
                        endpoint=policy.endpoint,
                        model=model,
                        challenger_version=challenger,
                        champion_version=route.version,
                        gate_id=gate_id,
                        state="shadow" if shadow else "canary",
                        seq=0,
                        base_revision=base.number,
                        revision=base.number,
                        policy=json.dumps(_policy_dict(policy), sort_keys=True),
                        phase_started_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            return None
        phase = "shadow" if shadow else f"a {policy.canary_percent}% canary"
        try:
            made = self._serving.update(
                project,
                policy.endpoint,
                spec,
                actor=AUTOMATION_ACTOR,
                message=f"automation: {model} v{challenger} as {phase} ({delivery_id[:8]})",
            )
        except Exception as exc:  # noqa: BLE001 - recorded; the gate stays delivered-once
            self._finish(delivery_id, "failed", f"could not make the {phase} revision: {exc}", now)
            self._timeline.record(
                project,
                "rolled_back",
                f"{model} v{challenger} could not start as {phase} on {policy.endpoint}: {exc}",
                delivery_id=delivery_id,
                gate_id=gate_id,
                endpoint=policy.endpoint,
                model=model,
                version=challenger,
            )
            return self.get(delivery_id)
        with self._db.transaction() as session:
            row = session.get(DeliveryRow, delivery_id)
            assert row is not None
            row.revision = made.revision.number
        champion = f"v{route.version}" if route.version is not None else "the champion"
        self._timeline.record(
            project,
            "shadow_started" if shadow else "canary_started",
            f"{model} v{challenger} started as {phase} on {policy.endpoint} next to {champion} "
            f"(revision {made.revision.number}); watching for {_duration(policy.observe_seconds)}.",
            figures={"policy": _policy_dict(policy), "base_revision": base.number},
            delivery_id=delivery_id,
            gate_id=gate_id,
            endpoint=policy.endpoint,
            model=model,
            version=challenger,
            revision=made.revision.number,
        )
        return self.get(delivery_id)

    # -- advancing -----------------------------------------------------------------------------

    def advance(self, delivery_id: str, now: datetime) -> builtins.list[LoopEvent]:
        """Make the next move of an active delivery if its time has come (else nothing)."""
        delivery = self.get(delivery_id)
        if delivery.state not in ACTIVE:
            return []
        policy = delivery.policy
        revision = self._serving.revision(delivery.project, delivery.endpoint, delivery.revision)
        if revision.status == "failed":
            return self._roll_back(
                delivery,
                now,
                f"its revision {revision.number} failed to load: {revision.error}",
                {},
            )
        observe = float(policy["observe_seconds"])
        patience = max(4 * observe, observe + 600.0)
        if revision.status == "pending":
            if now - delivery.phase_started_at > timedelta(seconds=patience):
                return self._roll_back(
                    delivery,
                    now,
                    f"no inference server loaded revision {revision.number} in "
                    f"{_duration(patience)}",
                    {},
                )
            return []
        start = max(delivery.phase_started_at, revision.live_at or delivery.phase_started_at)
        if now - start < timedelta(seconds=observe):
            return []
        figures = self.observe(delivery, start, now)
        waiting = _waiting(figures, policy)
        if waiting:
            if now - start > timedelta(seconds=patience):
                return self._roll_back(
                    delivery, now, f"{waiting} after {_duration(patience)}", figures
                )
            return []
        failed = [m for m, f in figures["margins"].items() if not f["passed"]]
        observation = self._timeline.record(
            delivery.project,
            "observation",
            _observation_text(delivery, figures, failed),
            figures=figures,
            delivery_id=delivery.id,
            endpoint=delivery.endpoint,
            model=delivery.model,
            version=delivery.challenger_version,
            revision=delivery.revision,
        )
        if failed:
            why = "; ".join(_why(m, figures["margins"][m]) for m in failed)
            return [observation, *self._roll_back(delivery, now, why, figures)]
        if delivery.state == "shadow":
            return [observation, *self._to_canary(delivery, now, figures)]
        return [observation, *self._promote(delivery, now, figures)]

    def observe(self, delivery: Delivery, start: datetime, end: datetime) -> dict[str, Any]:
        """Live figures of the challenger and the champion since ``start``: requests, error
        rate, latency (serving statistics) and quality (labelled predictions), and the verdict
        of each margin."""
        shadow = delivery.state == "shadow"
        aligned = datetime.fromtimestamp(
            start.timestamp() // WINDOW_SECONDS * WINDOW_SECONDS, tz=start.tzinfo
        )
        windows = self._serving.stats(delivery.project, delivery.endpoint, since=aligned)
        sides = {"challenger": delivery.challenger_version, "champion": delivery.champion_version}
        out: dict[str, Any] = {"window": {"start": start.isoformat(), "end": end.isoformat()}}
        for side, version in sides.items():
            label = f"{delivery.model}/{version}"
            mine = [w for w in windows if w.model == label]
            requests = sum(w.requests for w in mine)
            errors = sum(w.errors for w in mine)
            buckets = (
                [sum(col) for col in zip(*(w.buckets for w in mine), strict=True)] if mine else []
            )
            figures: dict[str, Any] = {
                "version": version,
                "requests": requests,
                "errors": errors,
                "error_rate": errors / requests if requests else None,
            }
            for name, q in _PERCENTILES.items():
                figures[name] = bucket_quantile(buckets, q) if sum(buckets) else None
            figures.update(
                self._quality(delivery, version, start, end, shadow and side == "challenger")
            )
            out[side] = figures
        margins: dict[str, Any] = {}
        for metric, margin in delivery.policy["margins"].items():
            ch, champ = out["challenger"].get(metric), out["champion"].get(metric)
            margins[metric] = _judge(metric, float(margin), ch, champ)
        out["margins"] = margins
        return clean_figures(out)  # type: ignore[no-any-return]

    def _quality(
        self, delivery: Delivery, version: int | None, start: datetime, end: datetime, shadow: bool
    ) -> dict[str, Any]:
        wanted = [m for m in delivery.policy["margins"] if m not in OPERATIONAL]
        if not wanted or version is None:
            return {"labelled": 0}
        from loopline.monitoring._quality import (
            classification_scores,
            guess_task,
            regression_scores,
        )

        try:
            rows = self._evaluations().predictions(
                delivery.project,
                delivery.endpoint,
                start=start,
                end=end,
                model=delivery.model,
                version=version,
                route="shadow" if shadow else "primary",
            )
        except Exception:
            log.warning(
                "Could not read the prediction log of %s.", delivery.endpoint, exc_info=True
            )
            return {"labelled": 0}
        judged = rows[rows["label"].notna() & rows["error"].isna()]
        if judged.empty:
            return {"labelled": 0}
        task = guess_task(judged["label"])
        if task == "regression":
            scores = regression_scores(judged["output"], judged["label"])
        else:
            proba = judged["proba"] if "proba" in judged.columns else None
            scores = classification_scores(judged["output"], judged["label"], proba)
        return {"labelled": len(judged), **{k: v for k, v in scores.items() if k in wanted}}

    # -- moves ---------------------------------------------------------------------------------

    def _claim(self, delivery: Delivery, state: str, now: datetime, **values: Any) -> bool:
        with self._db.transaction() as session:
            row = session.get(DeliveryRow, delivery.id)
            if row is None or row.state != delivery.state:
                return False
            seq = row.seq
            moved = session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == delivery.id, DeliveryRow.seq == seq)
                .values(state=state, seq=seq + 1, updated_at=now, **values)
                .execution_options(synchronize_session=False)
            )
            return bool(moved.rowcount == 1)  # type: ignore[attr-defined]

    def _finish(self, delivery_id: str, state: str, message: str, now: datetime) -> None:
        with self._db.transaction() as session:
            row = session.get(DeliveryRow, delivery_id)
            if row is not None:
                row.state, row.message, row.updated_at = state, message[:5000], now
                row.seq += 1

    def _links(self, delivery: Delivery) -> dict[str, Any]:
        return {
            "delivery_id": delivery.id,
            "gate_id": delivery.gate_id,
            "endpoint": delivery.endpoint,
            "model": delivery.model,
            "version": delivery.challenger_version,
        }

    def _to_canary(
        self, delivery: Delivery, now: datetime, figures: dict[str, Any]
    ) -> builtins.list[LoopEvent]:
        if not self._claim(
            delivery, "canary", now, phase_started_at=now, figures=json.dumps(figures)
        ):
            return []
        percent = int(delivery.policy["canary_percent"])
        base = self._serving.revision(delivery.project, delivery.endpoint, delivery.base_revision)
        spec = _canary_spec(base.spec, delivery.model, delivery.challenger_version, percent)
        made = self._serving.update(
            delivery.project,
            delivery.endpoint,
            spec,
            actor=AUTOMATION_ACTOR,
            message=f"automation: {delivery.model} v{delivery.challenger_version} to {percent}%",
        )
        self._set_revision(delivery.id, made.revision.number)
        return [
            self._timeline.record(
                delivery.project,
                "canary_started",
                f"{delivery.model} v{delivery.challenger_version} held up in shadow; now a "
                f"{percent}% canary on {delivery.endpoint} (revision {made.revision.number}).",
                figures=figures,
                revision=made.revision.number,
                **self._links(delivery),
            )
        ]

    def _promote(
        self, delivery: Delivery, now: datetime, figures: dict[str, Any]
    ) -> builtins.list[LoopEvent]:
        if not self._claim(delivery, "promoted", now, figures=json.dumps(figures)):
            return []
        alias = str(delivery.policy.get("alias") or "champion")
        base = self._serving.revision(delivery.project, delivery.endpoint, delivery.base_revision)
        try:
            self._registry.set_alias(
                delivery.project,
                delivery.model,
                alias,
                delivery.challenger_version,
                actor=AUTOMATION_ACTOR,
                reason=f"promoted by delivery {delivery.id} on {delivery.endpoint}",
            )
            spec = _promoted_spec(base.spec, delivery.model, delivery.challenger_version, alias)
            made = self._serving.update(
                delivery.project,
                delivery.endpoint,
                spec,
                actor=AUTOMATION_ACTOR,
                message=f"automation: promote {delivery.model} v{delivery.challenger_version}",
            )
        except Exception as exc:  # noqa: BLE001 - recorded with the reason
            self._finish(delivery.id, "failed", f"promotion failed: {exc}", now)
            return [
                self._timeline.record(
                    delivery.project,
                    "rolled_back",
                    f"Promoting {delivery.model} v{delivery.challenger_version} failed: {exc}",
                    figures=figures,
                    **self._links(delivery),
                )
            ]
        self._set_revision(delivery.id, made.revision.number)
        return [
            self._timeline.record(
                delivery.project,
                "promoted",
                f"{delivery.model} v{delivery.challenger_version} promoted on {delivery.endpoint}: "
                f"alias {alias!r} moved from v{delivery.champion_version} and it takes the "
                f"champion's traffic (revision {made.revision.number}).",
                figures={**figures, "from_revision": delivery.revision, "alias": alias},
                revision=made.revision.number,
                **self._links(delivery),
            )
        ]

    def _roll_back(
        self, delivery: Delivery, now: datetime, why: str, figures: dict[str, Any]
    ) -> builtins.list[LoopEvent]:
        if not self._claim(
            delivery, "rolled_back", now, figures=json.dumps(figures), message=why[:5000]
        ):
            return []
        made = self._serving.rollback(
            delivery.project,
            delivery.endpoint,
            to=delivery.base_revision,
            actor=AUTOMATION_ACTOR,
            message=f"automation: roll back {delivery.model} v{delivery.challenger_version}: {why}"[
                :2000
            ],
        )
        self._set_revision(delivery.id, made.revision.number)
        return [
            self._timeline.record(
                delivery.project,
                "rolled_back",
                f"{delivery.model} v{delivery.challenger_version} rolled back on "
                f"{delivery.endpoint} ({delivery.state}): {why}. The endpoint serves revision "
                f"{delivery.base_revision}'s routes again (revision {made.revision.number}).",
                figures={
                    **figures,
                    "from_revision": delivery.revision,
                    "from_state": delivery.state,
                },
                revision=made.revision.number,
                **self._links(delivery),
            )
        ]

    def _set_revision(self, delivery_id: str, number: int) -> None:
        with self._db.transaction() as session:
            row = session.get(DeliveryRow, delivery_id)
            if row is not None:
                row.revision = number

    # -- reverting -----------------------------------------------------------------------------

    def revert(self, event: LoopEvent, *, actor: str, now: datetime) -> LoopEvent:
        """Undo decision ``event``: a started or promoted delivery goes back to the endpoint
        and alias as they were before it; a rollback puts the challenger back where it was
        (shadow or canary) and watches it again from now."""
        actor = validate_actor(actor)
        if event.delivery_id is None:
            raise Conflict(f"Event {event.id} ({event.kind}) is not a delivery decision.")
        delivery = self.get(event.delivery_id)
        alias = str(delivery.policy.get("alias") or "champion")
        # Only the endpoint's latest decision is undone: a later revision (another delivery,
        # a manual deploy) would be wiped out by going back, and two deliveries would share
        # the endpoint.
        current = self._serving.get(delivery.project, delivery.endpoint).revision.number
        if current != delivery.revision:
            raise Conflict(
                f"{delivery.endpoint} has changed since this decision (it serves revision "
                f"{current}, the decision left {delivery.revision}): deploy or roll back the "
                f"endpoint itself instead."
            )
        if event.kind == "rolled_back" and delivery.state != "rolled_back":
            raise Conflict(
                f"Delivery {delivery.id} is {delivery.state}, not rolled back: there is no "
                f"rollback to undo (a delivery that failed to start cannot be resumed)."
            )
        project_id = self._projects.get(delivery.project).id
        if event.kind == "rolled_back" and self._busy(project_id, delivery.endpoint):
            raise Conflict(f"Another delivery is under way on {delivery.endpoint}.")
        if event.kind == "rolled_back":
            back_to = str(event.figures.get("from_state") or "canary")
            source = int(event.figures.get("from_revision") or delivery.revision)
            if not self._claim(delivery, back_to, now, phase_started_at=now, message=""):
                raise Conflict(
                    f"Delivery {delivery.id} changed meanwhile; look at the timeline again."
                )
            made = self._serving.rollback(
                delivery.project,
                delivery.endpoint,
                to=source,
                actor=actor,
                message=f"revert automation event {event.id}: serve the {back_to} again",
            )
            self._set_revision(delivery.id, made.revision.number)
            text = (
                f"{actor} reverted the rollback of {delivery.model} "
                f"v{delivery.challenger_version}: "
                f"it is a {back_to} on {delivery.endpoint} again "
                f"(revision {made.revision.number}), "
                f"watched from now."
            )
        else:
            if delivery.state in ("reverted", "rolled_back", "failed"):
                raise Conflict(
                    f"Delivery {delivery.id} is {delivery.state} already: the endpoint serves "
                    f"what it served before it."
                )
            if not self._claim(delivery, "reverted", now, message=f"reverted by {actor}"):
                raise Conflict(
                    f"Delivery {delivery.id} changed meanwhile; look at the timeline again."
                )
            if delivery.state == "promoted" and delivery.champion_version is not None:
                self._registry.set_alias(
                    delivery.project,
                    delivery.model,
                    alias,
                    delivery.champion_version,
                    actor=actor,
                    reason=f"revert automation event {event.id}",
                )
            made = self._serving.rollback(
                delivery.project,
                delivery.endpoint,
                to=delivery.base_revision,
                actor=actor,
                message=f"revert automation event {event.id}",
            )
            self._set_revision(delivery.id, made.revision.number)
            text = (
                f"{actor} reverted {event.kind} of {delivery.model} "
                f"v{delivery.challenger_version}: "
                f"{delivery.endpoint} serves revision {delivery.base_revision}'s routes again "
                f"(revision {made.revision.number})"
                + (
                    f" and {alias!r} is v{delivery.champion_version} again."
                    if delivery.state == "promoted"
                    else "."
                )
            )
        made_event = self._timeline.record(
            delivery.project,
            "reverted",
            text,
            figures={"reverted_event": event.id, "reverted_kind": event.kind},
            actor=actor,
            revision=made.revision.number,
            **self._links(delivery),
        )
        self._timeline.mark_reverted(event.id, made_event.id)
        return made_event

    # -- records -------------------------------------------------------------------------------

    def _delivery(self, row: DeliveryRow) -> Delivery:
        return Delivery(
            id=row.id,
            project=self._projects.get_by_id(row.project_id).name,
            endpoint=row.endpoint,
            model=row.model,
            challenger_version=row.challenger_version,
            champion_version=row.champion_version,
            state=row.state,  # type: ignore[arg-type]
            gate_id=row.gate_id,
            base_revision=row.base_revision,
            revision=row.revision,
            phase_started_at=row.phase_started_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            policy=json.loads(row.policy),
            figures=json.loads(row.figures),
            message=row.message,
        )


def _check_margins(margins: Mapping[str, Any]) -> dict[str, float]:
    if not isinstance(margins, Mapping):
        raise InvalidInput(
            "margins: a mapping of metric to tolerance.", details={"field": "margins"}
        )
    known = set(OPERATIONAL) | set(QUALITY)
    out = {}
    for metric, value in margins.items():
        if metric not in known:
            raise InvalidInput(
                f"margins: {metric!r} is not a live figure; use {', '.join(sorted(known))}.",
                details={"field": f"margins.{metric}"},
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise InvalidInput(
                f"margins[{metric!r}] = {value!r}: how much worse than the champion the "
                f"challenger may be, a number >= 0 (accuracy: 0.01, p99_ms: 10).",
                details={"field": f"margins.{metric}"},
            )
        out[str(metric)] = float(value)
    return out


def _judge(metric: str, margin: float, challenger: Any, champion: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"challenger": challenger, "champion": champion, "margin": margin}
    if challenger is None:
        result.update(passed=False, note="no figure for the challenger")
        return result
    if champion is None:
        result.update(passed=True, note="no figure for the champion to compare with")
        return result
    if metric in HIGHER_IS_BETTER:
        result.update(passed=challenger >= champion - margin - 1e-12, delta=challenger - champion)
    else:
        assert metric in LOWER_IS_BETTER or metric in OPERATIONAL
        result.update(passed=challenger <= champion + margin + 1e-12, delta=challenger - champion)
    return result


def _waiting(figures: Mapping[str, Any], policy: Mapping[str, Any]) -> str:
    """Why the decision must wait (empty when it need not)."""
    requests = figures["challenger"]["requests"]
    if requests < int(policy["min_requests"]):
        return f"the challenger answered {requests} requests of the {policy['min_requests']} needed"
    if any(m not in OPERATIONAL for m in policy["margins"]):
        need = max(1, int(policy.get("min_labels", 1)))
        for side in ("challenger", "champion"):
            labelled = figures[side].get("labelled", 0)
            if figures[side]["version"] is not None and labelled < need:
                return f"the {side} has {labelled} labelled predictions of the {need} needed"
    return ""


def _why(metric: str, figure: Mapping[str, Any]) -> str:
    if figure.get("note"):
        return f"{metric}: {figure['note']}"
    return (
        f"{metric} {_num(figure['challenger'])} against the champion's {_num(figure['champion'])} "
        f"(margin {figure['margin']:g})"
    )


def _observation_text(
    delivery: Delivery, figures: Mapping[str, Any], failed: builtins.list[str]
) -> str:
    parts = [
        f"{m} {_num(f['challenger'])} vs {_num(f['champion'])}"
        for m, f in figures["margins"].items()
    ]
    verdict = f"worse than allowed on {', '.join(failed)}" if failed else "within every margin"
    return (
        f"Observed {delivery.model} v{delivery.challenger_version} ({delivery.state}, "
        f"{figures['challenger']['requests']} requests) against v{delivery.champion_version} "
        f"({figures['champion']['requests']}): {'; '.join(parts) or 'no margins'} — {verdict}."
    )


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _champion_route(spec: EndpointSpec, model: str) -> Route | None:
    mine = [r for r in spec.primaries if r.name == model]
    return max(mine, key=lambda r: r.weight) if mine else None


def _challenger_uri(route: Route, model: str, version: int) -> str:
    where = parse_model_uri(route.model).project
    return f"models:/{where + '/' if where else ''}{model}/{version}"


def _canary_spec(spec: EndpointSpec, model: str, version: int, percent: int) -> EndpointSpec:
    champion = _champion_route(spec, model)
    assert champion is not None
    primaries = list(spec.primaries)
    scaled = [round(r.weight * (100 - percent) / 100) for r in primaries]
    scaled[primaries.index(champion)] += 100 - percent - sum(scaled)
    routes = [
        Route(r.model, weight=w, version=r.version) for r, w in zip(primaries, scaled, strict=True)
    ]
    routes.append(Route(_challenger_uri(champion, model, version), weight=percent, version=version))
    return spec.with_routes([*routes, *spec.shadows])


def _shadow_spec(spec: EndpointSpec, model: str, version: int) -> EndpointSpec:
    champion = _champion_route(spec, model)
    assert champion is not None
    shadow = Route(_challenger_uri(champion, model, version), shadow=True, version=version)
    others = [s for s in spec.shadows if s.pinned != shadow.pinned]
    return spec.with_routes([*spec.primaries, *others, shadow])


def _promoted_spec(spec: EndpointSpec, model: str, version: int, alias: str) -> EndpointSpec:
    """The champion's routes, now to the challenger (an alias route keeps its alias)."""
    champion = _champion_route(spec, model)
    assert champion is not None
    parsed = parse_model_uri(champion.model)
    uri = champion.model if parsed.ref == alias else _challenger_uri(champion, model, version)
    routes = [
        Route(uri, weight=r.weight, version=version) if r is champion else r for r in spec.primaries
    ]
    return spec.with_routes([*routes, *spec.shadows])


def _policy(project: str, row: PolicyRow) -> DeliveryPolicy:
    return DeliveryPolicy(
        project=project,
        endpoint=row.endpoint,
        canary_percent=row.canary_percent,
        shadow_first=row.shadow_first,
        observe_seconds=row.observe_seconds,
        min_requests=row.min_requests,
        margins=json.loads(row.margins),
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        min_labels=row.min_labels,
        alias=row.alias,
        enabled=row.enabled,
    )


def _policy_dict(policy: DeliveryPolicy) -> dict[str, Any]:
    return {
        "canary_percent": policy.canary_percent,
        "shadow_first": policy.shadow_first,
        "observe_seconds": policy.observe_seconds,
        "min_requests": policy.min_requests,
        "min_labels": policy.min_labels,
        "margins": dict(policy.margins),
        "alias": policy.alias,
    }
