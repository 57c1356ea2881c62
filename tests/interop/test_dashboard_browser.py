"""The dashboard in headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

Loads the list with a token, follows the links (the token becomes a cookie), opens a flagged
analysis, and checks that its overlay and its per-frame plot are really rendered. With
``--screenshots DIR`` (``make screenshots``) it also saves the pages as PNGs.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from config.settings import Settings
from dicom_node.web import DashboardServer
from dicom_node.web.sample import populate_sample
from storage.db import Database

pytestmark = pytest.mark.interop

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "browser-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("browser")
    db = Database(f"sqlite:///{data_dir / 'node.sqlite3'}")
    db.migrate()
    populate_sample(db, data_dir, frames=16)
    settings = Settings(
        storage={"data_dir": data_dir}, dashboard={"enabled": True, "port": _free_port(), "token": TOKEN}
    )
    server = DashboardServer(settings, db, None).start()
    yield server.url
    server.stop()
    db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).is_file(), (
        "Debian's chromium is missing: `make test` installs it (scripts/test-services)"
    )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _loaded(page, selector: str) -> bool:  # noqa: ANN001 — a Playwright Page
    return bool(page.eval_on_selector(selector, "el => el.complete && el.naturalWidth > 0"))


def test_list_flagged_analysis_overlay_and_plot(
    dashboard: str, browser: Browser, screenshot_dir: Path | None
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{dashboard}?token={TOKEN}")
        assert page.title().startswith("Recent analyses")
        rows = page.locator("#analyses tbody tr")
        assert rows.count() == 7
        page.wait_for_function("[...document.querySelectorAll('img.thumb')].every(i => i.complete)")
        assert (
            page.eval_on_selector_all("img.thumb", "els => els.filter(e => e.naturalWidth > 0).length") == 7
        )
        assert page.locator("svg.segdiag polygon").count() >= 18
        if screenshot_dir:
            page.screenshot(path=str(screenshot_dir / "dashboard-list.png"), full_page=True)

        page.click("text=Flagged")  # a plain link: the cookie set by ?token= authorises it
        flagged = page.locator("#analyses tbody tr.flagged")
        assert flagged.count() == 4
        rescan_echo = page.locator("#analyses tbody tr", has=page.locator(".flag.rescan")).filter(
            has_text="echo"
        )
        rescan_echo.first.locator("td a").first.click()
        page.wait_for_selector("#frame-plot")
        assert "RESCAN" in page.inner_text("#rescan")
        page.wait_for_function("document.getElementById('cine').complete")
        assert _loaded(page, "#cine"), "the cine overlay did not render"
        assert page.locator("#frame-plot polyline.series").count() == 8
        assert page.locator("#frame-plot line.ed").count() >= 1
        if screenshot_dir:
            page.screenshot(path=str(screenshot_dir / "dashboard-analysis.png"), full_page=True)

        page.click("text=Trends")
        assert page.locator("table.trend").count() >= 3
        if screenshot_dir:
            page.screenshot(path=str(screenshot_dir / "dashboard-trends.png"), full_page=True)
    finally:
        page.close()


def test_without_token_the_browser_gets_401(dashboard: str, browser: Browser) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(dashboard)
        assert response is not None and response.status == 401
    finally:
        context.close()
