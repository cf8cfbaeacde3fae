"""HTML to PDF with Debian's headless Chromium.

Decision (see docs/audit.md): the PDF is printed by the same browser the
report is tested in, Debian's ``chromium`` package (``apt-get install
chromium``), with ``--headless --print-to-pdf``.  WeasyPrint was the other
option (pango is on the machine) but it would be one more pinned Python
dependency with its own CSS engine, so the PDF could differ from what the
browser test checks.  No Python dependency is added.  When Chromium is not
installed, :class:`PdfUnavailableError` says how to install it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


class PdfUnavailableError(RuntimeError):
    """No headless Chromium to print the PDF with."""


def find_chromium() -> str | None:
    """Path of a Chromium binary: ``MAST_CHROMIUM``, else the first on PATH."""
    env = os.environ.get("MAST_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def html_to_pdf(html_path: Path, pdf_path: Path, timeout: float = 120.0) -> Path:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium.

    Raises
    ------
    PdfUnavailableError
        When no Chromium is installed (with the command to install it), or
        when Chromium ran but wrote no PDF.
    """
    binary = find_chromium()
    if binary is None:
        raise PdfUnavailableError(
            "cannot make the PDF: headless Chromium is not installed. Install it with "
            "`apt-get install -y chromium` (or set MAST_CHROMIUM), or ask for HTML only "
            "(pdf=False / mast audit without --pdf)."
        )
    with tempfile.TemporaryDirectory(prefix="mast-chromium-") as profile:
        cmd = [
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path}",
            Path(html_path).resolve().as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if not pdf_path.exists() or pdf_path.stat().st_size == 0:
        raise PdfUnavailableError(
            f"Chromium ({binary}) did not write a PDF (exit {proc.returncode}): "
            f"{proc.stderr.strip()[-500:]}"
        )
    return pdf_path
