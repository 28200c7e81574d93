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


# The prompts of the notebook's code cells, in order ("[ ]:", "[*]:", "[3]:").
PROMPTS = "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map((p) => p.textContent)"

# What cells printed to stderr, tracebacks included (Lab renders both with this type).
ERROR_OUTPUT = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_lab(root: Path, scratch: Path, timeout: float = 120) -> tuple[subprocess.Popen, str, str]:
    """Start JupyterLab serving `root` (its log and workspaces in `scratch`); return the process, URL and token."""
    port, token = free_port(), secrets.token_hex(16)
    log = scratch / "lab.log"
    settings = scratch / "lab-user-settings" / "@jupyterlab"
    for plugin, values in {
        "apputils-extension/notification": '{"fetchNews": "false", "checkForUpdates": false}',  # no news toast
        "notebook-extension/tracker": '{"autoStartDefaultKernel": true}',  # no "Select Kernel" dialog
    }.items():
        (settings / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{plugin}.jupyterlab-settings").write_text(values)
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
            f"--LabApp.user_settings_dir={scratch / 'lab-user-settings'}",
            "--ServerApp.open_browser=False",
            "--LabApp.expose_app_in_browser=True",  # `window.jupyterapp`: run_all waits on Lab's own kernel state
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


# Resolves when Lab's notebook widget has a kernel that is connected and idle (Lab started with
# expose_app_in_browser, so its application object is `window.jupyterapp`).
KERNEL_READY = """async () => {
  const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!widget || !widget.sessionContext) return false;
  await widget.sessionContext.ready;
  const kernel = widget.sessionContext.session && widget.sessionContext.session.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""


def run_all(page: Any, base: str, token: str, notebook: str, artifacts: Path, run_timeout_ms: int = 300_000) -> None:
    """Open `notebook` (a path below the server's root) in Lab and run every cell, waiting on the page until each
    code cell has run once; on failure, raise with the cells' prompts and what the cells printed to stderr.

    Runs start only once Lab's own session reports its kernel connected and idle: on a loaded machine a "Run All"
    taken earlier can be lost (and Lab would ask "Select Kernel" if not told to start the default one). A run that
    still does not start is tried again.
    """
    page.goto(f"{base}/lab/tree/{notebook}?token={token}")
    page.locator(".jp-Notebook:visible").first.wait_for(timeout=60_000)
    accept = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
    attempts = 5
    for attempt in range(attempts):
        if accept.count():
            accept.first.click()
            with contextlib.suppress(Exception):  # a dialog that stays is clicked again on the next round
                accept.first.wait_for(state="detached", timeout=30_000)
        try:
            page.wait_for_function(KERNEL_READY, timeout=120_000, polling=250)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_function(f"({CELLS_STATE})() !== 'unrun'", timeout=30_000)
            page.wait_for_function(f"({CELLS_STATE})() !== 'running'", timeout=run_timeout_ms)
        except Exception:
            artifacts.mkdir(exist_ok=True)
            page.screenshot(path=str(artifacts / f"lab-run-all-{attempt}.png"), full_page=False)
            continue
        if page.evaluate(CELLS_STATE) == "done":
            return
    prompts = page.evaluate(PROMPTS)
    errors = page.locator(ERROR_OUTPUT).all_inner_texts()
    raise AssertionError(
        f"the cells of {notebook} never all ran (prompts {prompts}); see {artifacts}/lab-run-all-*.png"
        + ("; stderr output:\n" + "\n".join(errors)[-3000:] if errors else "")
    )
