"""Monitoring: the evaluation store, drift and live-quality statistics, monitors, alerts, reports."""

from __future__ import annotations

__all__: list[str] = []
