"""Code version of an asset = hash of the SQL files and Python modules it runs.

Editing a query, a library module or a reference table changes the code version and
marks the asset and its descendants stale in the UI (the hooli pattern).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from kommunebench.paths import REPO_ROOT

SQL_DIR = REPO_ROOT / "sql"


def sql_text(name: str) -> str:
    """The text of ``sql/<name>.sql`` (one statement per file)."""
    path = SQL_DIR / f"{name}.sql"
    if not path.exists():
        raise FileNotFoundError(f"SQL file {path} not found")
    return path.read_text(encoding="utf-8")


def code_version(*, sql: tuple[str, ...] = (), modules: tuple[str, ...] = (), files: tuple[Path, ...] = ()) -> str:
    h = hashlib.sha256()
    for name in sql:
        h.update(name.encode())
        h.update((SQL_DIR / f"{name}.sql").read_bytes())
    for mod in modules:
        base = REPO_ROOT / mod.replace(".", "/")
        if base.with_suffix(".py").exists():
            h.update(base.with_suffix(".py").read_bytes())
        elif base.is_dir():
            for p in sorted(base.rglob("*.py")):
                h.update(p.read_bytes())
        else:
            raise FileNotFoundError(f"module {mod} not found for the code version")
    for f in files:
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:16]
