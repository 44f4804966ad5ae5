"""Every message has its English: a page switched to English never shows a blank or stray Chinese."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_message_has_an_english_translation(tmp_path):
    result = subprocess.run([sys.executable, "scripts/i18n.py", "check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_catalogues_cover_the_source(tmp_path):
    """The .po files were rebuilt after the last change of a message in the code."""
    pot = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "lazy_gettext", "--no-location", "-o", str(pot), "app", "h5"],
                   cwd=ROOT, check=True, capture_output=True)
    from babel.messages.pofile import read_po

    source = {m.id for m in read_po(pot.open("rb")) if m.id}
    english = {m.id for m in read_po((ROOT / "translations/en/LC_MESSAGES/messages.po").open("rb")) if m.id}
    missing = source - english
    assert not missing, f"run `python scripts/i18n.py build`; not in the catalogue: {sorted(missing)[:10]}"


def test_the_chinese_catalogue_is_read_for_flask_appbuilders_own_words(app):
    """A checkout that turned translations/zh_Hans_CN (a link to zh_CN) into a plain file showed Cancel, Show and
    List Groups in English on every back-office page: Babel parses zh_CN as zh_Hans_CN and gettext looks there."""
    from flask_babel import gettext

    assert (ROOT / "translations" / "zh_Hans_CN").resolve() == (ROOT / "translations" / "zh_CN").resolve()
    with app.test_request_context("/"):
        assert (gettext("Cancel"), gettext("Show"), gettext("List Groups")) == ("取消", "查看", "用户组列表")
