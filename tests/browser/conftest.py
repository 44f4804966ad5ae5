"""Browser tests: Playwright driving Debian's Chromium against the app served on a local port.

Chromium is installed through apt when missing (the test set-up's job, so a fresh machine works).
Pages are checked at a 375 px WeChat-sized viewport; screenshots go to tests/browser/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-quic", "--no-first-run"]
SHOTS = Path(__file__).parent / "screenshots"
WECHAT_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Mobile/15E148 MicroMessenger/8.0.50(0x1800322c) NetType/WIFI Language/zh_CN")
ALIPAY_UA = ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0 "
             "Mobile Safari/537.36 AlipayClient/10.5.36.8000 Language/zh-Hans")


def _ensure_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if not sudo and shutil.which("apt-get") is None:
        pytest.fail("Debian's chromium is missing and apt-get is unavailable: install chromium")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "chromium", "fonts-noto-cjk"], check=True)


@pytest.fixture()
def browser_mode(app, live_server, clean_db):
    """While a browser test runs, forms are CSRF-protected as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


@pytest.fixture(scope="session")
def browser():
    _ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


def _context(browser, user_agent: str):
    return browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=2,
                               is_mobile=True, has_touch=True, user_agent=user_agent, locale="zh-CN")


@pytest.fixture()
def wechat_page(browser, live_server, browser_mode):
    context = _context(browser, WECHAT_UA)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture()
def alipay_page(browser, live_server, browser_mode):
    context = _context(browser, ALIPAY_UA)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture()
def desktop_page(browser, live_server, browser_mode):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def shot(page, name: str) -> Path:
    """Save a full-page screenshot for a human to look at."""
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_fits_375(page) -> None:
    """Nothing on the page is wider than the 375 px WeChat viewport (no sideways scrolling)."""
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"page is {overflow}px wider than the viewport"


@pytest.fixture()
def wide_page(browser, live_server, browser_mode):
    """A back-office page at 1440 px, as finance and IT staff work."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()
