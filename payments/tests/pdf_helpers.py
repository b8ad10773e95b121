"""Reading PDFs back in the tests with poppler's pdftotext (poppler-utils; CI installs it)."""

import re
import shutil
import subprocess

import pytest

PDFTOTEXT = shutil.which("pdftotext")
needs_pdftotext = pytest.mark.skipif(
    PDFTOTEXT is None,
    reason="pdftotext is not installed (apt-get install poppler-utils; .ci/run installs it): "
    "the PDFs' content cannot be read back",
)
_SPACES = re.compile(r"[ \u00a0\u202f\t]+")


def pdf_text(content: bytes) -> str:
    """The PDF's text laid out as on the page (one table row a line), runs of spaces (no-break
    ones included) as one space."""
    assert content.startswith(b"%PDF-"), content[:20]
    out = subprocess.run(
        [PDFTOTEXT, "-layout", "-enc", "UTF-8", "-", "-"], input=content, capture_output=True, check=True, timeout=30
    ).stdout.decode("utf-8")
    return "\n".join(_SPACES.sub(" ", line).strip() for line in out.splitlines() if line.strip())


def line_with(text: str, label: str) -> str:
    """The one line of the text that starts with `label` (a table row or a labelled fact)."""
    found = [line for line in text.splitlines() if line.startswith(label)]
    assert len(found) == 1, (label, found, text)
    return found[0]
