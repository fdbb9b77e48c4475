"""Settings for a CLI invocation: the environment, with the command line's overrides on top."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer

from loopline.config import Settings

__all__ = ["CliState", "settings_from"]


@dataclass
class CliState:
    """What the root command's options set for every sub-command."""

    overrides: dict[str, str] = field(default_factory=dict)


def settings_from(ctx: typer.Context, **overrides: str | None) -> Settings:
    """Resolve settings once for this command: environment < root options < command options."""
    state = ctx.find_object(CliState) or CliState()
    return Settings.from_env(overrides={**state.overrides, **overrides})
