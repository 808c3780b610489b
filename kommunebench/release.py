"""Publishing the report and the exports as one unit.

Both are written into a new release folder, ``<outputs>/releases/<id>/`` (first under a
temporary name, renamed when complete); then one atomic ``rename`` points the link
``<outputs>/current`` at it. ``<outputs>/report.html`` and ``<outputs>/exports`` are
links into ``current``, so a reader always sees the report and the exports of the same
run: a failure or a kill before the switch leaves the previous release in place, and
a partial release left by a killed run is removed (and named) by the next one.

On a filesystem without symbolic links this does not work; the outputs folder is a
local folder in every supported setup (Linux).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kommunebench.faults import failpoint

ENTRIES = ("report.html", "exports")


@dataclass
class Release:
    folder: Path
    removed: list[str] = field(default_factory=list)  # leftovers and older releases removed


def _link(path: Path, target: str) -> None:
    """Make ``path`` a symbolic link to ``target`` atomically (replacing a file or link)."""
    tmp = path.with_name(f".{path.name}.link-new")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    if path.is_dir() and not path.is_symlink():
        # the older layout: a real folder where the link goes (moved aside, then removed)
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def publish_release(root: Path, release_id: str, write: Callable[[Path], None]) -> Release:
    """Write a release with ``write(folder)`` and make it current in one atomic switch."""
    root = Path(root)
    releases = root / "releases"
    releases.mkdir(parents=True, exist_ok=True)
    removed = []
    for leftover in sorted(releases.glob(".*.partial")):
        shutil.rmtree(leftover, ignore_errors=True)
        removed.append(f"{leftover.name} (a partial release left by a run that did not finish)")
    partial = releases / f".{release_id}.partial"
    partial.mkdir()
    write(partial)
    final = releases / release_id
    if final.exists():
        shutil.rmtree(final)
    os.rename(partial, final)
    failpoint("reports_switch")  # tests: killed with the new release complete but not yet current
    _link(root / "current", f"releases/{release_id}")
    for name in ENTRIES:
        _link(root / name, f"current/{name}")
    for old in sorted(releases.iterdir()):
        if old.name != release_id and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return Release(final, removed)


def current_release(root: Path) -> Path | None:
    link = Path(root) / "current"
    return link.resolve() if link.is_symlink() else None
