"""Automation: triggers, evaluation gates and the continuous-training / delivery controller."""

from __future__ import annotations
