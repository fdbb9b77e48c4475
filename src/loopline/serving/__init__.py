"""Model serving: endpoints, traffic routes, micro-batching, protocols, rollouts, batch scoring."""

from __future__ import annotations

__all__: list[str] = []
