"""Start and stop the Dagster UI (``kommunebench ui``) from a script or a test.

``start_ui`` runs ``kommunebench ui --port <port>`` (the command users type) in its own
process group with the given environment, and waits until the webserver answers
``GET /server_info``. ``stop_ui`` sends SIGTERM to that command and waits until every
process of its group (``dagster dev``, the webserver, the daemon, the code server and
run workers) has exited; only if some are still there after the timeout does it kill the
group, and it reports which processes it had to kill. ``graphql`` posts one query to the
webserver's GraphQL endpoint and raises on GraphQL errors.

No Dagster import: this only drives the command line and speaks HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kommunebench.paths import REPO_ROOT

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def ui_command(port: int) -> list[str]:
    """``kommunebench ui --port <port>`` with this interpreter's environment.

    The venv's ``kommunebench`` console script when there is one (what ``uv run
    kommunebench ui`` runs), else ``python -m kommunebench.cli``.
    """
    script = Path(sys.executable).parent / "kommunebench"
    head = [str(script)] if script.exists() else [sys.executable, "-m", "kommunebench.cli"]
    return [*head, "ui", "--port", str(port)]


@dataclass
class UIServer:
    """A running ``kommunebench ui``: its process (leader of its own process group) and URL."""

    process: subprocess.Popen
    port: int
    log_path: Path
    launched_at: float  # time.perf_counter() at launch
    stopped: bool = False
    killed: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pgid(self) -> int:
        return self.process.pid  # start_new_session: the command leads its own group

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(lines[-n:])


def group_processes(pgid: int) -> dict[int, str]:
    """Live (non-zombie) processes of process group ``pgid``: pid -> command line."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # fields after the parenthesised command name: state ppid pgrp ...
            state, _ppid, pgrp = stat[stat.rindex(")") + 2:].split()[:3]
            if int(pgrp) != pgid or state == "Z":
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue  # the process ended while we looked
        found[int(entry.name)] = cmd
    return found


def _server_info(url: str, timeout: float = 5.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=timeout) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
        return None


def launch_ui(env: Mapping[str, str], log_path: Path, *, port: int | None = None) -> UIServer:
    """Run ``kommunebench ui --port <port>`` on 127.0.0.1 in its own process group; do not wait.

    ``env`` is the whole environment of the command (pass ``KOMMUNEBENCH_HOME`` and
    ``DAGSTER_HOME`` in it); output goes to ``log_path``. Follow with
    :func:`wait_until_serving`.
    """
    port = port or free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ui_command(port), cwd=REPO_ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    return UIServer(proc, port, log_path, time.perf_counter())


def wait_until_serving(server: UIServer, timeout: float = 240.0) -> float:
    """Wait until ``GET /server_info`` answers as a Dagster webserver; return seconds since launch.

    Raises ``RuntimeError`` with the log's tail if the command exits first or does not
    serve within ``timeout`` seconds of launch (then it is stopped first).
    """
    deadline = server.launched_at + timeout
    while time.perf_counter() < deadline:
        if server.process.poll() is not None:
            code = server.process.returncode
            stop_ui(server)
            raise RuntimeError(f"`kommunebench ui` exited with code {code} before serving:\n{server.log_tail()}")
        info = _server_info(server.url)
        if info and "dagster_webserver_version" in info:
            return time.perf_counter() - server.launched_at
        time.sleep(0.5)
    stop_ui(server)
    raise RuntimeError(f"`kommunebench ui` did not serve {server.url}/server_info within {timeout:.0f} s:\n{server.log_tail()}")


def start_ui(env: Mapping[str, str], log_path: Path, *, port: int | None = None, timeout: float = 240.0) -> UIServer:
    """:func:`launch_ui` then :func:`wait_until_serving`."""
    server = launch_ui(env, log_path, port=port)
    wait_until_serving(server, timeout)
    return server


def stop_ui(server: UIServer, timeout: float = 60.0) -> list[str]:
    """SIGTERM to ``kommunebench ui``; wait until its whole process group has exited.

    Returns the command lines of the processes that were still alive after ``timeout``
    seconds and had to be killed with SIGKILL (empty when the stop was clean); they are
    also kept in ``server.killed``.
    """
    if server.stopped:
        return server.killed
    server.stopped = True
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
    deadline = time.perf_counter() + timeout
    try:
        server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    while time.perf_counter() < deadline and group_processes(server.pgid):
        time.sleep(0.25)
    left = group_processes(server.pgid)
    if left:
        server.killed = [f"{pid}: {cmd}" for pid, cmd in sorted(left.items())]
        try:
            os.killpg(server.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if server.process.poll() is None:
            server.process.wait(timeout=10)
    return server.killed


def graphql(url: str, query: str, variables: Mapping[str, Any] | None = None, *, timeout: float = 60.0) -> dict[str, Any]:
    """POST ``query`` to ``<url>/graphql``; return ``data``, or raise naming the GraphQL errors."""
    body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
    req = urllib.request.Request(f"{url}/graphql", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            answer = json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"GraphQL HTTP {e.code}: {e.read().decode(errors='replace')[:2000]}") from e
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {json.dumps(answer['errors'])[:2000]}")
    return answer["data"]
