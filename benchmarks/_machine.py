"""What every benchmark prints about the machine it ran on, so its figures can be compared."""

from __future__ import annotations

import os
import platform
import subprocess

__all__ = ["machine", "load"]


def machine() -> str:
    """Cores, CPU model, memory and Python version, in one line."""
    model = "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores, {model}, {total:.0f} GiB RAM, Python {platform.python_version()}"
    )


def load() -> str:
    """The 1, 5 and 15 minute load averages: how busy the machine was."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
