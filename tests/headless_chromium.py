"""Render a report page in headless Chromium (Debian's ``chromium``) and read back what the page's script measured.

The pages mark ``<body>`` with ``data-images-loaded="OK/ALL"`` and ``data-scroll-width`` (the document's width in CSS
pixels) once loaded; ``--dump-dom`` returns the DOM after that. Tests use :data:`requires_chromium` to skip with a named
reason where no browser is installed (``.ci/run`` installs one).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--hide-scrollbars")  # fmt: skip


def chromium_binary() -> str | None:
    for name in (
        os.environ.get("DEXEGO_CHROMIUM", ""),
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


requires_chromium = pytest.mark.skipif(
    chromium_binary() is None, reason="no chromium binary (apt-get install chromium, or set DEXEGO_CHROMIUM)"
)


def dump_dom(page: Path, profile_dir: Path, width: int = 1280, height: int = 900) -> str:
    """The DOM of ``page`` after load, in a ``width`` x ``height`` window, with a fresh profile in ``profile_dir``."""
    command = [chromium_binary(), *FLAGS, f"--user-data-dir={profile_dir}", f"--window-size={width},{height}",
               "--dump-dom", Path(page).resolve().as_uri()]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=True).stdout


def measured(dom: str) -> tuple[int, int, int]:
    """(images loaded, images on the page, document scroll width) as the page's load handler recorded them."""
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    width = re.search(r'data-scroll-width="(\d+)"', dom)
    assert loaded and width, "the page's load handler did not run"
    return int(loaded.group(1)), int(loaded.group(2)), int(width.group(1))
