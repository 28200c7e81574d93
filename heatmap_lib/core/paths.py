"""Where the package's own files are: templates, page scripts, and the repository's default parameter files."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = PACKAGE / "templates"
JS_DIR = TEMPLATES / "js"
PARAMS = PACKAGE.parent / "params"
