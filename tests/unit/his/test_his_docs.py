"""docs/his-openapi.yaml stays in step with the server routes and the interface dataclasses."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

from app.his import interface
from doubles.his.server import create_his_server

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _spec() -> dict:
    return yaml.safe_load((DOCS / "his-openapi.yaml").read_text(encoding="utf-8"))


def test_openapi_paths_match_the_server(sim_url: str) -> None:
    app = create_his_server(sim_url, "a", "s")
    served = {
        (re.sub(r"<(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/his/v1")
        for method in rule.methods or ()
        if method in ("GET", "POST")
    }
    spec = _spec()
    assert spec["openapi"].startswith("3.0")
    # /api/his/v1/... are the platform's inbound API (tested in tests/functional/test_his_refunds.py)
    documented = {(path, method) for path, ops in spec["paths"].items() if path.startswith("/his/v1")
                  for method in ops if method in ("get", "post")}
    assert documented == served


def test_openapi_schemas_match_the_dataclasses() -> None:
    schemas = _spec()["components"]["schemas"]
    for name in dir(interface):
        cls = getattr(interface, name)
        if dataclasses.is_dataclass(cls) and isinstance(cls, type):
            fields = {f.name for f in dataclasses.fields(cls)}
            assert set(schemas[name]["properties"]) == fields, name
            for field in fields:
                if field.endswith("_fen"):
                    assert schemas[name]["properties"][field]["type"] == "integer"


def test_markdown_documents_every_endpoint() -> None:
    text = (DOCS / "his-api.md").read_text(encoding="utf-8")
    for path, ops in _spec()["paths"].items():
        for method in (m for m in ops if m in ("get", "post")):
            bare = path.split("{")[0]
            assert f"{method.upper()} {bare}" in text, (method, path)
