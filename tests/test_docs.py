"""Every ```python block in README.md and docs/*.md runs, as a user would paste it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for i, match in enumerate(_BLOCK.finditer(page.read_text(encoding="utf-8"))):
            found.append((f"{page.relative_to(ROOT)}#{i + 1}", match.group(1)))
    return found


@pytest.mark.parametrize(("where", "code"), blocks(), ids=[w for w, _ in blocks()])
def test_documented_example_runs(where: str, code: str, tmp_path: Path) -> None:
    # A fresh interpreter in an empty folder with its own Loopline home: examples may not lean
    # on each other or on the developer's machine.
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LOOPLINE_HOME": str(tmp_path / "ll")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{where} failed:\n{result.stderr[-3000:]}"


def test_the_configuration_page_lists_every_setting() -> None:
    from loopline.config import VARIABLES

    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [name for name in VARIABLES if f"`{name}`" not in page]
    assert missing == []
