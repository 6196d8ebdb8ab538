"""Small copies of the demo federation for tests that break or change tenant files."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TENANTS = REPO / "tenants"
AARHUS, HORSENS = "0751-aarhus", "0615-horsens"


def copy_federation(target: Path, *folders: str) -> Path:
    """``federation.toml`` plus the named kommune folders, in ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(TENANTS / "federation.toml", target / "federation.toml")
    for folder in folders:
        shutil.copytree(TENANTS / folder, target / folder)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
