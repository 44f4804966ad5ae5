"""Translation catalogues: msgids are the hospital's Chinese; English lives in translations/en.

  python scripts/i18n.py update        extract, update both catalogues, zh_CN msgstr = msgid
  python scripts/i18n.py check         list msgids without an English translation (exit 1 if any)
  python scripts/i18n.py apply F.json  write {"中文": "English"} pairs into the English catalogue
  python scripts/i18n.py build         update, then apply every translations/en_batches/*.json, then check

Each piece of work adds its English in its own batch file (no merge conflicts in the .po files).

Flask-AppBuilder's own English strings that its "zh" catalogue lacks ("Show", "Edit", "List Groups", the
user form's help …) are given their Chinese in translations/fab_zh_CN.json; ``update`` writes them into
both catalogues (the app's catalogue is merged after Flask-AppBuilder's, so it wins).

translations/zh_Hans_CN is a link to zh_CN: Babel parses "zh_CN" as zh_Hans_CN, and gettext looks only in
zh_Hans_CN/ and zh/ for it, so without the link the Chinese catalogue is never read.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
TR = ROOT / "translations"
BABEL = str(Path(sys.executable).parent / "pybabel")


def _po(locale: str) -> Path:
    return TR / locale / "LC_MESSAGES" / "messages.po"


def _load(path: Path):
    with path.open("rb") as fh:
        return read_po(fh, locale=path.parts[-3])


def _save(catalog, path: Path) -> None:
    with path.open("wb") as fh:
        write_po(fh, catalog, width=0, no_location=True, sort_output=True, omit_header=False)


def update() -> None:
    pot = TR / "messages.pot"
    subprocess.run([BABEL, "extract", "-F", str(ROOT / "babel.cfg"), "-k", "_l", "-k", "lazy_gettext",
                    "--no-location", "--sort-output", "-o", str(pot), "app", "h5"], cwd=ROOT, check=True,
                   capture_output=True)
    for locale in ("en", "zh_CN"):
        cmd = "update" if _po(locale).exists() else "init"
        args = [BABEL, cmd, "-i", str(pot), "-d", str(TR), "-l", locale]
        if cmd == "update":
            args += ["--no-fuzzy-matching", "--ignore-obsolete"]
        subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
    zh = _load(_po("zh_CN"))
    for message in zh:
        if message.id and not message.string:
            message.string = message.id
    _save(zh, _po("zh_CN"))
    add_framework_strings()


def add_framework_strings() -> None:
    """Flask-AppBuilder's English msgids with our Chinese (zh_CN) and themselves (en)."""
    pairs = json.loads((TR / "fab_zh_CN.json").read_text(encoding="utf-8"))
    for locale in ("zh_CN", "en"):
        catalog = _load(_po(locale))
        for msgid, chinese in pairs.items():
            text = chinese if locale == "zh_CN" else msgid
            if msgid in catalog:  # also used by our own templates (extracted): set, not merged
                catalog[msgid].string = text
            else:
                catalog.add(msgid, text)
        _save(catalog, _po(locale))


def missing() -> list[str]:
    return [m.id for m in _load(_po("en")) if m.id and not m.string]


def apply(path: str) -> None:
    pairs = json.loads(Path(path).read_text(encoding="utf-8"))
    en = _load(_po("en"))
    for message in en:
        if message.id in pairs:
            message.string = pairs[message.id]
            message.flags.discard("fuzzy")
    _save(en, _po("en"))


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "update":
        update()
    elif command == "apply":
        apply(sys.argv[2])
    elif command == "build":
        update()
        for batch in sorted((TR / "en_batches").glob("*.json")):
            apply(str(batch))
    gaps = missing()
    for gap in gaps:
        print("missing English:", gap)
    sys.exit(1 if command in ("check", "build") and gaps else 0)
