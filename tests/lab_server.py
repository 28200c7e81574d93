"""A real JupyterLab on loopback, and running a notebook's cells in it from Playwright (tests and benchmarks)."""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

# Where the notebook's code cells are: some queued or running ("[*]"), all run ("[3]"), or some not run ("[ ]").
CELLS_STATE = """() => {
  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map((p) => p.textContent);
  if (prompts.some((t) => t.includes('*'))) return 'running';
  if (prompts.length && prompts.every((t) => /\\[\\d+\\]/.test(t))) return 'done';
  return 'unrun';
}"""


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_lab(root: Path, scratch: Path, timeout: float = 120) -> tuple[subprocess.Popen, str, str]:
    """Start JupyterLab serving `root` (its log and workspaces in `scratch`); return the process, URL and token."""
    port, token = free_port(), secrets.token_hex(16)
    log = scratch / "lab.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=",
            f"--LabApp.workspaces_dir={scratch / 'lab-workspaces'}",  # no tabs restored from another run
            "--ServerApp.open_browser=False",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        cwd=root,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            return proc, base, token
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(log.read_text()) from None
            time.sleep(0.5)  # polling a server that is starting: the condition is checked, the pause only paces it
    proc.kill()
    raise RuntimeError("JupyterLab did not start: " + log.read_text()[-2000:])


def stop_lab(proc: subprocess.Popen) -> None:
    """Stop the server (killed if it does not stop in 15 s)."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def run_all(page: Any, url: str, artifacts: Path, run_timeout_ms: int = 300_000) -> None:
    """Open the notebook at `url` and run every cell, until every code cell has run once (waiting on the page).

    Lab asks which kernel ("Select Kernel") when its list of kernels came late; accepting its default (Python 3)
    starts a new kernel, which forgets a run queued before. On a loaded machine "Run All" can also be taken before
    the session is wired up and do nothing. So: run all, and run again until every code cell has run.
    """
    page.goto(url)
    page.locator(".jp-Notebook:visible").first.wait_for(timeout=60_000)
    idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first
    accept = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
    for attempt in range(4):
        idle.wait_for(timeout=120_000)
        if accept.count():
            accept.first.click()
            with contextlib.suppress(Exception):  # a dialog that stays is clicked again on the next round
                accept.first.wait_for(state="detached", timeout=30_000)
            continue
        try:
            page.get_by_role("menuitem", name="Run", exact=True).click(timeout=30_000)
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click(timeout=30_000)
            page.wait_for_function(f"({CELLS_STATE})() !== 'unrun'", timeout=20_000)
            page.wait_for_function(f"({CELLS_STATE})() !== 'running'", timeout=run_timeout_ms)
        except Exception:
            artifacts.mkdir(exist_ok=True)
            page.screenshot(path=str(artifacts / f"lab-run-all-{attempt}.png"), full_page=False)
            if attempt == 3:
                raise
            continue
        if page.evaluate(CELLS_STATE) == "done":
            return
    raise AssertionError(f"the cells of {url} never all ran; see {artifacts}/lab-run-all-*.png")
