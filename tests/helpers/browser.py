"""The browser tests' shared steps: a member of staff signs in to the back-office."""

from __future__ import annotations

from tests.backoffice_helpers import PASSWORDS


def sign_in(page, base: str, username: str, password: str | None = None) -> None:
    page.goto(f"{base}/logout/")
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password or PASSWORDS[username])
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_load_state()
