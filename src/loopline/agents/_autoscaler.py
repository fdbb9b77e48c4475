"""The autoscaler: watches queue depth and agent load, starts and stops agents via a provider.

Each look (a *tick*) reads the queues' depth and the agents the provider runs, then decides:

- fewer agents than ``min_agents``: start one;
- tasks wait, no agent is free to take them and fewer than ``max_agents`` run: start enough
  for the waiting tasks (agents that started but have not registered yet count as free);
- an agent has been idle ``idle_timeout`` seconds, nothing waits, and more than
  ``min_agents`` run: stop it;
- otherwise hold.

Every start and stop is recorded in the store with its reason (``loopline autoscaler`` prints
them too, and the UI lists them); a hold is recorded when its reason changes, not every tick.

Writing a provider for a cloud is one class with three methods (see :class:`Provider`).
"""

from __future__ import annotations

import contextlib
import math
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from loopline.agents._types import AgentRecord, Decision, QueueRecord
from loopline.errors import InvalidInput, ServerUnreachable, StorageError

if TYPE_CHECKING:
    from loopline.config import Settings

__all__ = ["Provider", "LocalProcessProvider", "Policy", "Autoscaler", "ScalerStore"]


class Provider(Protocol):
    """Starts and stops agents somewhere: local processes, VMs, pods.

    An agent started by a provider registers under the ``name`` it was given, which is how the
    autoscaler recognises it in the store. A cloud provider is one class; the whole of one for
    a VM API looks like this::

        class VmProvider:
            def __init__(self, api, image, server_url):
                self.api, self.image, self.url = api, image, server_url

            def start(self, name, queues):
                args = " ".join(f"--queue {q}" for q in queues)
                self.api.create_vm(
                    name=name, image=self.image,
                    startup=f"loopline agent {args} --name {name} --server {self.url}",
                )

            def stop(self, name):
                self.api.delete_vm(name)

            def running(self):
                return [vm.name for vm in self.api.list_vms(prefix="loopline-")]
    """

    def start(self, name: str, queues: Sequence[str]) -> None:
        """Start an agent called ``name`` pulling from ``queues`` (return without waiting)."""
        ...

    def stop(self, name: str) -> None:
        """Stop agent ``name`` (SIGTERM or equivalent: it hands its tasks back)."""
        ...

    def running(self) -> list[str]:
        """Names of the agents this provider started that still run."""
        ...


class ScalerStore(Protocol):
    """What the autoscaler needs of a backend."""

    def list_queues(self) -> list[QueueRecord]: ...

    def list_agents(self, *, include_stopped: bool = False) -> list[AgentRecord]: ...

    def record_decision(
        self,
        queue: str,
        action: str,
        reason: str,
        *,
        agent: str | None = None,
        depth: int = 0,
        agents: int = 0,
    ) -> Decision: ...


@dataclass(frozen=True, slots=True)
class Policy:
    """Bounds and patience of an autoscaler."""

    min_agents: int = 0
    max_agents: int = 4
    idle_timeout: float = 300.0
    tasks_per_agent: int = 1
    """Tasks an agent takes at a time (its concurrency): waiting tasks per agent to start."""

    def __post_init__(self) -> None:
        if not 0 <= self.min_agents <= self.max_agents or self.max_agents < 1:
            raise InvalidInput(
                f"Autoscaler bounds need 0 <= min <= max and max >= 1, not min={self.min_agents} "
                f"max={self.max_agents}."
            )
        if self.idle_timeout < 0 or self.tasks_per_agent < 1:
            raise InvalidInput("The idle timeout is >= 0 s and tasks per agent >= 1.")


@dataclass
class _Seen:
    idle_since: float | None = None
    started: float = field(default_factory=time.monotonic)


class Autoscaler:
    """Keeps between ``policy.min_agents`` and ``policy.max_agents`` agents on ``queues``.

    Example:
        >>> scaler = Autoscaler(backend, LocalProcessProvider(settings), ["gpu"], Policy(0, 4, 300))
        >>> scaler.tick()        # one look: the decisions it made
        [Decision(queue='gpu', action='start', reason='3 tasks wait and no agent is free', ...)]
    """

    def __init__(
        self,
        store: ScalerStore,
        provider: Provider,
        queues: Sequence[str],
        policy: Policy | None = None,
        *,
        log: Any = None,
    ) -> None:
        if not queues:
            raise InvalidInput("An autoscaler watches at least one queue: pass --queue NAME.")
        self.store = store
        self.provider = provider
        self.queues = list(queues)
        self.policy = policy or Policy()
        self.label = ",".join(self.queues)
        self._seen: dict[str, _Seen] = {}
        self._last_hold = ""
        self._log = log or (lambda text: print(text, flush=True))

    def run(self, stop: threading.Event, *, interval: float = 5.0) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set (the store being unreachable
        for a while is waited out)."""
        while not stop.is_set():
            try:
                self.tick()
            except (ServerUnreachable, StorageError) as exc:
                self._log(f"store unreachable: {exc}")
            stop.wait(interval)

    def tick(self) -> list[Decision]:
        """Look once and act; answer the decisions recorded."""
        policy = self.policy
        now = time.monotonic()
        depth = sum(q.depth for q in self.store.list_queues() if q.name in self.queues)
        alive = set(self.provider.running())
        for gone in set(self._seen) - alive:
            del self._seen[gone]
        registered = {a.name: a for a in self.store.list_agents() if a.name in alive}
        free = 0
        for name in alive:
            seen = self._seen.setdefault(name, _Seen())
            agent = registered.get(name)
            if agent is None or agent.status == "idle":  # starting, or waiting for work
                free += 1 if agent is None else agent.concurrency
                if agent is not None and seen.idle_since is None:
                    seen.idle_since = now
            else:
                free += max(0, agent.concurrency - len(agent.current_tasks))
                seen.idle_since = None
        count = len(alive)
        made: list[Decision] = []
        if count < policy.min_agents:
            made.append(
                self._start(
                    f"{count} agents run, fewer than the minimum {policy.min_agents}", depth, count
                )
            )
        elif depth > free and count < policy.max_agents:
            wanted = math.ceil((depth - free) / policy.tasks_per_agent)
            for _ in range(min(wanted, policy.max_agents - count)):
                reason = (
                    f"{depth} tasks wait, agents are free for {free}; "
                    f"{count} of at most {policy.max_agents} run"
                )
                made.append(self._start(reason, depth, count))
                count += 1
        elif depth == 0 and count > policy.min_agents:
            for name in sorted(alive):
                seen = self._seen[name]
                if count <= policy.min_agents:
                    break
                if seen.idle_since is not None and now - seen.idle_since >= policy.idle_timeout:
                    idle = now - seen.idle_since
                    made.append(
                        self._stop(
                            name,
                            f"idle for {idle:.0f} s (timeout {policy.idle_timeout:g} s), "
                            "nothing waits",
                            depth,
                            count,
                        )
                    )
                    count -= 1
        if not made:
            if depth > free:
                reason = f"{depth} tasks wait but {count} agents run, the maximum"
            elif depth:
                reason = f"{depth} tasks wait; agents are free for them"
            else:
                reason = f"nothing waits; {count} agents run"
            if reason != self._last_hold:
                self._last_hold = reason
                made.append(self._record("hold", reason, None, depth, count))
        else:
            self._last_hold = ""
        return made

    def _start(self, reason: str, depth: int, count: int) -> Decision:
        name = f"loopline-agent-{uuid.uuid4().hex[:8]}"
        self.provider.start(name, self.queues)
        self._seen[name] = _Seen()
        return self._record("start", reason, name, depth, count)

    def _stop(self, name: str, reason: str, depth: int, count: int) -> Decision:
        decision = self._record("stop", reason, name, depth, count)  # first: stopping waits
        self.provider.stop(name)
        self._seen.pop(name, None)
        return decision

    def _record(
        self,
        action: Literal["start", "stop", "hold"],
        reason: str,
        agent: str | None,
        depth: int,
        count: int,
    ) -> Decision:
        decision = self.store.record_decision(
            self.label, action, reason, agent=agent, depth=depth, agents=count
        )
        self._log(f"{action} {agent or ''}: {reason}".replace("  ", " "))
        return decision


class LocalProcessProvider:
    """Agents as processes on this machine (``loopline agent ...``), stopped with SIGTERM.

    Example:
        >>> provider = LocalProcessProvider(settings, concurrency=2)
        >>> provider.start("agent-1", ["default"])
        >>> provider.running()
        ['agent-1']
    """

    def __init__(
        self,
        settings: Settings,
        *,
        resources: Mapping[str, float] | None = None,
        concurrency: int = 1,
        lease_seconds: float = 30.0,
        poll_seconds: float = 0.5,
        grace_seconds: float = 10.0,
    ) -> None:
        self.settings = settings
        self.resources = dict(resources or {})
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.grace_seconds = grace_seconds
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, queues: Sequence[str]) -> None:
        from loopline.pipelines._templates import settings_env

        command = [sys.executable, "-m", "loopline", "agent", "--name", name]
        for queue in queues:
            command += ["--queue", queue]
        for key, amount in self.resources.items():
            command += ["--resource", f"{key}={amount:g}"]
        command += [
            "--concurrency", str(self.concurrency),
            "--lease", str(self.lease_seconds),
            "--poll", str(self.poll_seconds),
        ]  # fmt: skip
        log = self.settings.home / "agents" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self._processes[name] = subprocess.Popen(
                command,
                env={**settings_env(self.settings), "LOOPLINE_QUIET": "1"},
                cwd=Path.cwd(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, name: str) -> None:
        process = self._processes.pop(name, None)
        if process is None:
            return
        with contextlib.suppress(OSError):
            process.terminate()
        try:
            process.wait(self.grace_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                process.kill()
            process.wait()

    def running(self) -> list[str]:
        for name, process in list(self._processes.items()):
            if process.poll() is not None:
                del self._processes[name]
        return sorted(self._processes)

    def close(self) -> None:
        """Stop every agent this provider started."""
        for name in list(self._processes):
            self.stop(name)
