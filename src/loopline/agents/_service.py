"""QueueService: queues, tasks with leases, agents and autoscaler decisions in the database.

An agent *claims* the next task of its queues in one transaction. On PostgreSQL the candidate
rows are read ``FOR UPDATE SKIP LOCKED``: concurrent claimers lock different rows and never
wait on each other, and a row one of them holds is invisible to the others. On SQLite every
write transaction starts with ``BEGIN IMMEDIATE`` (see ``loopline.db``): claims are serialised
by the database's write lock, which is the same guarantee with less concurrency.

A claimed task carries a lease; the agent's heartbeats extend it. A task whose lease ran out
(its agent died, or lost the network) goes back to its queue, at most ``max_attempts`` times
in all; then it fails with the reason. A result reported by an agent that no longer holds the
task is refused (``Conflict``), so a task never ends twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from loopline.agents._tables import AgentRow, DecisionRow, QueueRow, TaskRow
from loopline.agents._types import (
    DEFAULT_QUEUE,
    END_TASK_STATUSES,
    TASK_STATUSES,
    AgentRecord,
    AgentStatus,
    Decision,
    QueueRecord,
    TaskKind,
    TaskRecord,
    validate_queue_name,
    validate_resources,
)
from loopline.db import Database, new_id, utcnow
from loopline.errors import Conflict, InvalidInput, NotFound, did_you_mean

__all__ = ["QueueService", "DEFAULT_QUEUE", "LOST_AFTER_SECONDS", "MAX_LEASE_SECONDS"]

"""The queue made on first use; every other queue is made explicitly (``loopline queues``)."""
LOST_AFTER_SECONDS = 60.0
"""An agent silent this long is shown as ``lost``."""
MAX_LEASE_SECONDS = 3600.0
CLAIM_WINDOW = 16
"""Queued tasks looked at per claim (a task asking for more than the agent has is skipped)."""
_KINDS = ("step", "pipeline", "rerun")
FinishStatus = Literal["succeeded", "failed", "cancelled"]


def _queue_record(row: QueueRow, depth: int = 0, running: int = 0) -> QueueRecord:
    return QueueRecord(
        name=row.name,
        priority=row.priority,
        tags=tuple(json.loads(row.tags)),
        description=row.description,
        depth=depth,
        running=running,
        created_at=row.created_at,
    )


def _task_record(row: TaskRow, waiting: str | None = None) -> TaskRecord:
    return TaskRecord(
        id=row.id,
        queue=row.queue,
        kind=row.kind,  # type: ignore[arg-type]
        status=row.status,  # type: ignore[arg-type]
        payload=row.payload,
        name=row.name,
        project=row.project,
        priority=row.priority,
        resources=json.loads(row.resources),
        env=json.loads(row.env),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        agent_id=row.agent_id,
        lease_expires_at=row.lease_expires_at,
        cancel_requested=row.cancel_requested,
        result=row.result,
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        waiting=waiting,
    )


def _agent_record(row: AgentRow, now: datetime) -> AgentRecord:
    status: AgentStatus = row.status  # type: ignore[assignment]
    if status != "stopped" and (now - row.last_heartbeat).total_seconds() > LOST_AFTER_SECONDS:
        status = "lost"
    return AgentRecord(
        id=row.id,
        name=row.name,
        host=row.host,
        queues=tuple(json.loads(row.queues)),
        resources=json.loads(row.resources),
        concurrency=row.concurrency,
        status=status,
        pid=row.pid,
        current_tasks=tuple(json.loads(row.current_tasks)),
        last_heartbeat=row.last_heartbeat,
        started_at=row.started_at,
        labels=json.loads(row.labels),
    )


def _fits(asked: Mapping[str, float], offered: Mapping[str, float]) -> bool:
    return all(amount <= 0 or offered.get(name, 0.0) >= amount for name, amount in asked.items())


def _why_waiting(
    row: TaskRow,
    live: Sequence[AgentRecord],
    limits: Mapping[str, int],
    working: Mapping[str, int],
) -> str | None:
    serving = [a for a in live if row.queue in a.queues]
    if not serving:
        return (
            f"No agent serves queue {row.queue!r}: start one with "
            f"`loopline agent --queue {row.queue} --server URL`."
        )
    asked = json.loads(row.resources)
    if not any(_fits(asked, a.resources) for a in serving):
        wanted = [f"{k}={v:g}" for k, v in sorted(asked.items()) if v > 0]
        flags = " ".join(f"--resource {w}" for w in wanted)
        return (
            f"No agent of queue {row.queue!r} offers {', '.join(wanted)}: start one with "
            f"`loopline agent --queue {row.queue} {flags} --server URL`."
        )
    if row.project is not None and row.project in limits:
        limit, busy = limits[row.project], working.get(row.project, 0)
        if busy >= limit:
            return (
                f"Project {row.project!r} is at its quota of {limit} agents (now {busy}): it "
                "waits for one of them to be free."
            )
    return None


def _lease(seconds: float) -> float:
    if not 0 < seconds <= MAX_LEASE_SECONDS:
        raise InvalidInput(f"A lease lasts more than 0 and at most {MAX_LEASE_SECONDS:g} s.")
    return seconds


class QueueService:
    """Queues, tasks, agents and decisions, behind one service that both backends call.

    Example:
        >>> svc = QueueService(db)
        >>> task = svc.enqueue("default", "step", payload=digest, name="train")
        >>> agent = svc.register_agent("a1", "host", ["default"])
        >>> svc.claim(agent.id, lease_seconds=30).id == task.id
        True
    """

    def __init__(
        self, db: Database, *, agent_limits: Callable[[], Mapping[str, int]] | None = None
    ) -> None:
        self._db = db
        # Project -> the most agents that may work for it at once (its ``agents`` quota).
        self._agent_limits = agent_limits or self._quota_agent_limits

    def _quota_agent_limits(self) -> Mapping[str, int]:
        from loopline.accounts import AccountService
        from loopline.projects import ProjectService

        return AccountService(self._db, ProjectService(self._db)).agent_limits()

    def quota_usage(self, project: str) -> dict[str, int]:
        """Tasks of ``project`` waiting in queues, and agents working for it now (accounts'
        usage counter: an agent counts once however many of the project's tasks it runs)."""
        with self._db.session() as session:
            queued = session.scalar(
                select(func.count()).where(TaskRow.project == project, TaskRow.status == "queued")
            )
            agents = session.scalar(
                select(func.count(func.distinct(TaskRow.agent_id))).where(
                    TaskRow.project == project, TaskRow.status == "running"
                )
            )
        return {"queued_tasks": int(queued or 0), "agents": int(agents or 0)}

    # -- queues ---------------------------------------------------------------------------------

    def put_queue(
        self,
        name: str,
        *,
        priority: int = 0,
        tags: Sequence[str] = (),
        description: str = "",
    ) -> QueueRecord:
        """Create queue ``name``, or change its priority, tags and description."""
        validate_queue_name(name)
        if isinstance(tags, str) or not all(isinstance(t, str) and t for t in tags):
            raise InvalidInput(f"A queue's tags are resource names such as ['gpu'], not {tags!r}.")
        with self._db.transaction() as session:
            row = session.get(QueueRow, name)
            if row is None:
                row = QueueRow(name=name, created_at=utcnow())
                session.add(row)
            row.priority = int(priority)
            row.tags = json.dumps(sorted(set(tags)))
            row.description = description
        return self.get_queue(name)

    def get_queue(self, name: str) -> QueueRecord:
        for queue in self.list_queues():
            if queue.name == name:
                return queue
        raise self._no_queue(name)

    def _no_queue(self, name: str) -> NotFound:
        with self._db.session() as session:
            names = list(session.scalars(select(QueueRow.name)))
        return NotFound(
            f"No queue is called {name!r}.{did_you_mean(name, names)} Create it with "
            f"`loopline queues create {name}`."
        )

    def list_queues(self) -> list[QueueRecord]:
        """Every queue with its depth (tasks waiting) and tasks running, by priority."""
        with self._db.session() as session:
            counts: dict[tuple[str, str], int] = {
                (q, s): n
                for q, s, n in session.execute(
                    select(TaskRow.queue, TaskRow.status, func.count())
                    .where(TaskRow.status.in_(("queued", "running")))
                    .group_by(TaskRow.queue, TaskRow.status)
                )
            }
            rows = session.scalars(
                select(QueueRow).order_by(QueueRow.priority.desc(), QueueRow.name)
            )
            return [
                _queue_record(
                    r, counts.get((r.name, "queued"), 0), counts.get((r.name, "running"), 0)
                )
                for r in rows
            ]

    # -- tasks ----------------------------------------------------------------------------------

    def enqueue(
        self,
        queue: str,
        kind: TaskKind,
        payload: str,
        *,
        name: str = "",
        project: str | None = None,
        priority: int = 0,
        resources: Mapping[str, float] | None = None,
        env: Mapping[str, str] | None = None,
        max_attempts: int = 3,
    ) -> TaskRecord:
        """Put a task on ``queue`` (the ``default`` queue is made on first use).

        Raises:
            NotFound: no queue is called ``queue``.
            InvalidInput: a bad kind, resources, environment or ``max_attempts``.
        """
        validate_queue_name(queue)
        if kind not in _KINDS:
            raise InvalidInput(f"A task's kind is one of {', '.join(_KINDS)}, not {kind!r}.")
        if not isinstance(max_attempts, int) or not 1 <= max_attempts <= 100:
            raise InvalidInput(f"max_attempts is 1 to 100, not {max_attempts!r}.")
        asked = validate_resources(dict(resources or {}))
        variables = dict(env or {})
        if not all(isinstance(k, str) and k and isinstance(v, str) for k, v in variables.items()):
            raise InvalidInput("A task's environment maps variable names to string values.")
        with self._db.transaction() as session:
            if session.get(QueueRow, queue) is None:
                if queue != DEFAULT_QUEUE:
                    raise self._no_queue(queue)
                session.add(QueueRow(name=queue, priority=0, tags="[]", description=""))
                session.flush()
            row = TaskRow(
                id=new_id(),
                queue=queue,
                kind=kind,
                status="queued",
                name=name[:200],
                project=project,
                payload=payload,
                priority=int(priority),
                resources=json.dumps(asked, sort_keys=True),
                env=json.dumps(variables, sort_keys=True),
                attempts=0,
                max_attempts=max_attempts,
                cancel_requested=False,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            return _task_record(row)

    def get_task(self, task_id: str) -> TaskRecord:
        with self._db.session() as session:
            row = session.get(TaskRow, task_id)
            if row is None:
                raise NotFound(f"No task has id {task_id!r}.")
            return self._with_reasons(session, [row])[0]

    def list_tasks(
        self,
        *,
        queue: str | None = None,
        status: str | None = None,
        ids: Sequence[str] | None = None,
        limit: int = 100,
    ) -> list[TaskRecord]:
        """Tasks, newest first (waiting ones in the order agents will take them)."""
        if status is not None and status not in TASK_STATUSES:
            raise InvalidInput(
                f"No task status is {status!r}.{did_you_mean(status, TASK_STATUSES)} "
                f"Known: {', '.join(TASK_STATUSES)}."
            )
        query = select(TaskRow)
        if queue is not None:
            query = query.where(TaskRow.queue == queue)
        if status is not None:
            query = query.where(TaskRow.status == status)
        if ids is not None:
            query = query.where(TaskRow.id.in_(list(ids)))
        if status == "queued":
            query = query.order_by(TaskRow.priority.desc(), TaskRow.created_at, TaskRow.id)
        else:
            query = query.order_by(TaskRow.created_at.desc(), TaskRow.id)
        with self._db.session() as session:
            return self._with_reasons(session, list(session.scalars(query.limit(max(1, limit)))))

    def _with_reasons(self, session: Session, rows: Sequence[TaskRow]) -> list[TaskRecord]:
        """Records of ``rows``; a queued one says why it waits when something stops it."""
        if not any(r.status == "queued" for r in rows):
            return [_task_record(r) for r in rows]
        now = utcnow()
        live = [
            a
            for a in (_agent_record(r, now) for r in session.scalars(select(AgentRow)))
            if a.status in ("idle", "busy")
        ]
        limits = self._agent_limits()
        working: dict[str, int] = {}
        if limits:
            working = {
                str(p): int(n)
                for p, n in session.execute(
                    select(TaskRow.project, func.count(func.distinct(TaskRow.agent_id)))
                    .where(TaskRow.status == "running", TaskRow.project.in_(list(limits)))
                    .group_by(TaskRow.project)
                )
            }
        return [
            _task_record(
                r, _why_waiting(r, live, limits, working) if r.status == "queued" else None
            )
            for r in rows
        ]

    def cancel(self, task_id: str) -> TaskRecord:
        """Cancel a task: a waiting one at once; a running one is stopped by its agent, which
        learns it at its next heartbeat. Cancelling a finished task changes nothing."""
        with self._db.transaction() as session:
            row = session.get(TaskRow, task_id, with_for_update=not self._db.is_sqlite)
            if row is None:
                raise NotFound(f"No task has id {task_id!r}.")
            if row.status == "queued":
                row.status = "cancelled"
                row.ended_at = utcnow()
                row.error = "Cancelled before an agent took it."
            elif row.status == "running":
                row.cancel_requested = True
            return _task_record(row)

    # -- the lease cycle ------------------------------------------------------------------------

    def claim(
        self, agent_id: str, *, lease_seconds: float = 30.0, now: datetime | None = None
    ) -> TaskRecord | None:
        """Give agent ``agent_id`` the next task of its queues that fits its resources, with a
        lease of ``lease_seconds``; ``None`` when none waits. Highest queue priority first,
        then task priority, then first come."""
        lease = _lease(lease_seconds)
        now = now or utcnow()
        with self._db.transaction() as session:
            _expire(session, now)  # one statement, in the claim's transaction
            agent = session.get(AgentRow, agent_id)
            if agent is None or agent.status == "stopped":
                raise NotFound(f"No running agent has id {agent_id!r}; register it first.")
            offered = json.loads(agent.resources)
            allowed = self._project_gate(session, agent_id)
            query = (
                select(TaskRow)
                .join(QueueRow, QueueRow.name == TaskRow.queue)
                .where(TaskRow.queue.in_(json.loads(agent.queues)), TaskRow.status == "queued")
                .order_by(
                    QueueRow.priority.desc(),
                    TaskRow.priority.desc(),
                    TaskRow.created_at,
                    TaskRow.id,
                )
                .limit(CLAIM_WINDOW)
            )
            if not self._db.is_sqlite:
                query = query.with_for_update(skip_locked=True, of=TaskRow)
            row = next(
                (
                    r
                    for r in session.scalars(query)
                    if _fits(json.loads(r.resources), offered) and allowed(r.project)
                ),
                None,
            )
            agent.last_heartbeat = now
            if row is None:
                return None
            row.status = "running"
            row.agent_id = agent_id
            row.attempts += 1
            row.lease_expires_at = now + timedelta(seconds=lease)
            row.started_at = now
            held = [*json.loads(agent.current_tasks), row.id]
            agent.current_tasks = json.dumps(held)
            agent.status = "busy"
            return _task_record(row)

    def _project_gate(self, session: Session, agent_id: str) -> Callable[[str | None], bool]:
        """Whether ``agent_id`` may take a task of a project: not when the project's ``agents``
        quota is reached by other agents (its tasks wait for one of those to be free)."""
        limits = self._agent_limits()
        if not limits:
            return lambda project: True
        seen: dict[str, bool] = {}

        def allowed(project: str | None) -> bool:
            if project is None or project not in limits:
                return True
            if project not in seen:
                holders = set(
                    session.scalars(
                        select(TaskRow.agent_id)
                        .where(TaskRow.project == project, TaskRow.status == "running")
                        .distinct()
                    )
                )
                seen[project] = agent_id in holders or len(holders) < limits[project]
            return seen[project]

        return allowed

    def heartbeat(
        self,
        agent_id: str,
        task_ids: Sequence[str] = (),
        *,
        lease_seconds: float = 30.0,
        now: datetime | None = None,
    ) -> list[str]:
        """Agent ``agent_id`` is alive and runs ``task_ids``: extend their leases. Answer the
        tasks it must stop: cancelled ones, and ones it no longer holds (its lease ran out
        and the task went back to the queue)."""
        lease = _lease(lease_seconds)
        now = now or utcnow()
        ids = list(task_ids)
        with self._db.transaction() as session:
            agent = session.get(AgentRow, agent_id)
            if agent is None:
                raise NotFound(f"No agent has id {agent_id!r}; register it again.")
            agent.last_heartbeat = now
            if agent.status != "stopped":
                agent.status = "busy" if ids else "idle"
            agent.current_tasks = json.dumps(ids)
            if not ids:
                return []
            session.execute(
                update(TaskRow)
                .where(
                    TaskRow.id.in_(ids),
                    TaskRow.agent_id == agent_id,
                    TaskRow.status == "running",
                )
                .values(lease_expires_at=now + timedelta(seconds=lease))
            )
            rows = session.execute(
                select(
                    TaskRow.id, TaskRow.agent_id, TaskRow.status, TaskRow.cancel_requested
                ).where(TaskRow.id.in_(ids))
            ).all()
        held = {
            r.id
            for r in rows
            if r.agent_id == agent_id and r.status == "running" and not r.cancel_requested
        }
        return [i for i in ids if i not in held]

    def finish(
        self,
        task_id: str,
        agent_id: str,
        status: FinishStatus,
        *,
        result: str | None = None,
        error: str | None = None,
    ) -> TaskRecord:
        """Agent ``agent_id`` reports how its task ended (``result``: a blob digest).

        Raises:
            Conflict: the agent no longer holds the task (its lease ran out); the result is
                dropped, since another attempt owns the task now.
        """
        if status not in END_TASK_STATUSES:
            raise InvalidInput(f"A task ends succeeded, failed or cancelled, not {status!r}.")
        with self._db.transaction() as session:
            row = session.get(TaskRow, task_id, with_for_update=not self._db.is_sqlite)
            if row is None:
                raise NotFound(f"No task has id {task_id!r}.")
            if row.status != "running" or row.agent_id != agent_id:
                raise Conflict(
                    f"Task {task_id} is {row.status} and no longer held by agent {agent_id} "
                    "(its lease ran out): its result was not recorded."
                )
            row.status = "cancelled" if row.cancel_requested else status
            row.result = result
            row.error = "Cancelled while it ran." if row.cancel_requested and not error else error
            row.ended_at = utcnow()
            row.lease_expires_at = None
            agent = session.get(AgentRow, agent_id)
            if agent is not None:
                left = [t for t in json.loads(agent.current_tasks) if t != task_id]
                agent.current_tasks = json.dumps(left)
                if agent.status != "stopped":
                    agent.status = "busy" if left else "idle"
            return _task_record(row)

    def expire(self, now: datetime | None = None) -> int:
        """Send tasks whose lease ran out back to their queue (fail them after their last
        attempt; end them if they were being cancelled). Answer how many changed."""
        with self._db.transaction() as session:
            return _expire(session, now or utcnow())

    # -- agents ---------------------------------------------------------------------------------

    def register_agent(
        self,
        name: str,
        host: str,
        queues: Sequence[str],
        *,
        resources: Mapping[str, float] | None = None,
        concurrency: int = 1,
        pid: int | None = None,
        labels: Mapping[str, Any] | None = None,
    ) -> AgentRecord:
        """Record a starting agent that pulls from ``queues`` (which must exist, but for
        ``default``, made on first use)."""
        if isinstance(queues, str) or not queues:
            raise InvalidInput("An agent pulls from at least one queue: pass --queue NAME.")
        for queue in queues:
            validate_queue_name(queue)
        if not isinstance(concurrency, int) or not 1 <= concurrency <= 256:
            raise InvalidInput(f"An agent's concurrency is 1 to 256, not {concurrency!r}.")
        offered = validate_resources(dict(resources or {}))
        now = utcnow()
        with self._db.transaction() as session:
            known = set(session.scalars(select(QueueRow.name).where(QueueRow.name.in_(queues))))
            for queue in queues:
                if queue in known:
                    continue
                if queue != DEFAULT_QUEUE:
                    raise self._no_queue(queue)
                session.add(QueueRow(name=queue, priority=0, tags="[]", description=""))
            row = AgentRow(
                id=new_id(),
                name=name[:200] or host,
                host=host[:200],
                pid=pid,
                queues=json.dumps(list(dict.fromkeys(queues))),
                resources=json.dumps(offered, sort_keys=True),
                labels=json.dumps(dict(labels or {}), sort_keys=True),
                concurrency=concurrency,
                status="idle",
                current_tasks="[]",
                last_heartbeat=now,
                started_at=now,
            )
            session.add(row)
            session.flush()
            return _agent_record(row, now)

    def get_agent(self, agent_id: str) -> AgentRecord:
        with self._db.session() as session:
            row = session.get(AgentRow, agent_id)
            if row is None:
                raise NotFound(f"No agent has id {agent_id!r}.")
            return _agent_record(row, utcnow())

    def list_agents(self, *, include_stopped: bool = False) -> list[AgentRecord]:
        """Agents, most recently started first (stopped ones only when asked)."""
        query = select(AgentRow).order_by(AgentRow.started_at.desc(), AgentRow.id)
        if not include_stopped:
            query = query.where(AgentRow.status != "stopped")
        now = utcnow()
        with self._db.session() as session:
            return [_agent_record(r, now) for r in session.scalars(query)]

    def stop_agent(self, agent_id: str) -> AgentRecord:
        """Agent ``agent_id`` is leaving: its running tasks go back to their queues now."""
        now = utcnow()
        with self._db.transaction() as session:
            row = session.get(AgentRow, agent_id)
            if row is None:
                raise NotFound(f"No agent has id {agent_id!r}.")
            row.status = "stopped"
            row.current_tasks = "[]"
            row.last_heartbeat = now
            session.execute(
                update(TaskRow)
                .where(TaskRow.agent_id == agent_id, TaskRow.status == "running")
                .values(lease_expires_at=now - timedelta(microseconds=1))
                .execution_options(synchronize_session=False)
            )
        self.expire(now)
        return self.get_agent(agent_id)

    # -- autoscaler decisions -------------------------------------------------------------------

    def record_decision(
        self,
        queue: str,
        action: Literal["start", "stop", "hold"],
        reason: str,
        *,
        agent: str | None = None,
        depth: int = 0,
        agents: int = 0,
    ) -> Decision:
        """Append an autoscaler decision and its reason."""
        if action not in ("start", "stop", "hold"):
            raise InvalidInput(f"A decision is start, stop or hold, not {action!r}.")
        with self._db.transaction() as session:
            row = DecisionRow(
                queue=queue,
                action=action,
                reason=reason,
                agent=agent,
                depth=depth,
                agents=agents,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            return _decision(row)

    def list_decisions(self, *, queue: str | None = None, limit: int = 100) -> list[Decision]:
        """Decisions, newest first."""
        query = select(DecisionRow).order_by(DecisionRow.id.desc()).limit(max(1, limit))
        if queue is not None:
            query = query.where(DecisionRow.queue == queue)
        with self._db.session() as session:
            return [_decision(r) for r in session.scalars(query)]


def _decision(row: DecisionRow) -> Decision:
    return Decision(
        id=row.id,
        queue=row.queue,
        action=row.action,  # type: ignore[arg-type]
        reason=row.reason,
        agent=row.agent,
        depth=row.depth,
        agents=row.agents,
        created_at=row.created_at,
    )


def _expire(session: Session, now: datetime) -> int:
    """One UPDATE: every lapsed lease ends (cancelled, or failed on its last attempt) or goes
    back to its queue."""
    lapsed = and_(TaskRow.status == "running", TaskRow.lease_expires_at < now)
    cancelled = TaskRow.cancel_requested.is_(True)
    spent = TaskRow.attempts >= TaskRow.max_attempts
    ends = or_(cancelled, spent)
    result = session.execute(
        update(TaskRow)
        .where(lapsed)
        .values(
            status=case((cancelled, "cancelled"), (spent, "failed"), else_="queued"),
            error=case(
                (cancelled, "Cancelled; its agent stopped answering."),
                (spent, "Its agent stopped answering (the lease ran out) on every attempt."),
                else_=TaskRow.error,
            ),
            ended_at=case((ends, now), else_=None),
            agent_id=case((ends, TaskRow.agent_id), else_=None),
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
