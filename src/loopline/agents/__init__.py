"""Agents: queues with leases, the agent worker loop, and the autoscaler."""

from __future__ import annotations

__all__: list[str] = []
