"""The report and the exports are published as one unit (one atomic switch of a link)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kommunebench.release import current_release, publish_release


def writer(tag: str):
    def write(folder):
        (folder / "report.html").write_text(f"report {tag}")
        (folder / "exports").mkdir()
        (folder / "exports" / "league.csv").write_text(f"exports {tag}")
    return write


def seen(root):
    return (root / "report.html").read_text(), (root / "exports" / "league.csv").read_text()


def test_a_release_switches_report_and_exports_together(tmp_path):
    root = tmp_path / "outputs"
    publish_release(root, "run-a", writer("a"))
    assert seen(root) == ("report a", "exports a")
    publish_release(root, "run-b", writer("b"))
    assert seen(root) == ("report b", "exports b")
    assert current_release(root) == (root / "releases" / "run-b").resolve()
    assert sorted(p.name for p in (root / "releases").iterdir()) == ["run-b"]  # the older release is gone


def test_a_failure_while_writing_keeps_the_previous_release(tmp_path):
    root = tmp_path / "outputs"
    publish_release(root, "run-a", writer("a"))

    def broken(folder):
        writer("b")(folder)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        publish_release(root, "run-b", broken)
    assert seen(root) == ("report a", "exports a")
    # the next release removes the partial one and says so
    rel = publish_release(root, "run-c", writer("c"))
    assert rel.removed and ".run-b.partial" in rel.removed[0]
    assert seen(root) == ("report c", "exports c")


def test_a_kill_before_the_switch_keeps_the_previous_release(tmp_path):
    root = tmp_path / "outputs"
    publish_release(root, "run-a", writer("a"))
    code = ("import sys; from pathlib import Path; sys.path.insert(0, 'tests/unit'); "
            "from test_release import writer; from kommunebench.release import publish_release; "
            f"publish_release(Path({str(root)!r}), 'run-b', writer('b'))")
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, KOMMUNEBENCH_FAILPOINTS="reports_switch"))
    assert proc.returncode == -9
    assert seen(root) == ("report a", "exports a")
    publish_release(root, "run-c", writer("c"))
    assert seen(root) == ("report c", "exports c")


def test_the_older_layout_of_real_files_is_replaced_by_links(tmp_path):
    root = tmp_path / "outputs"
    (root / "exports").mkdir(parents=True)
    (root / "exports" / "old.csv").write_text("old")
    (root / "report.html").write_text("old report")
    publish_release(root, "run-a", writer("a"))
    assert seen(root) == ("report a", "exports a")
    assert (root / "exports").is_symlink() and (root / "report.html").is_symlink()
