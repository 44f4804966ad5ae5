"""Every template keeps to the Content-Security-Policy (issue 15): an inline <script> carries the
response's nonce, and no element has an inline event handler or a javascript: URL — the browser would
refuse to run them, so a page would silently lose its behaviour."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(p for folder in ("app/templates", "h5/templates") for p in (ROOT / folder).rglob("*.html"))
SCRIPT = re.compile(r"<script\b([^>]*)>", re.I)
HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_template_keeps_to_the_csp(path):
    text = path.read_text(encoding="utf-8")
    for attrs in SCRIPT.findall(text):
        assert "src=" in attrs or 'nonce="{{ csp_nonce() }}"' in attrs, f"inline <script> without the nonce: {attrs}"
    assert not HANDLER.search(text), "inline event handler (onclick=...): use a static script"
    assert "javascript:" not in text.lower()
