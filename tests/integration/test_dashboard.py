"""The read-only dashboard over a sample database: pages, pictures, auth, access log, server."""

from __future__ import annotations

import logging
import re
import socket
import warnings
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from config.settings import Settings
from dicom_node.web import DashboardError, DashboardServer, create_app
from dicom_node.web.sample import SENTINEL_PATIENT_ID, SENTINEL_PATIENT_NAME, populate_sample
from storage.db import Database

with warnings.catch_warnings():  # starlette asks for httpx2; the httpx it supports works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Database, Path, list[int]]:
    data_dir = tmp_path_factory.mktemp("dash")
    db = Database(f"sqlite:///{data_dir / 'node.sqlite3'}")
    db.migrate()
    ids = populate_sample(db, data_dir)
    yield db, data_dir, ids
    db.dispose()


def _client(sample: tuple[Database, Path, list[int]], token: str | None = None) -> TestClient:
    db, data_dir, _ = sample
    settings = Settings(storage={"data_dir": data_dir}, dashboard={"token": token})
    return TestClient(create_app(settings, db, None))


def test_list_shows_grades_flags_thumbnails_and_segment_diagrams(sample) -> None:
    _, _, ids = sample
    html = _client(sample).get("/").text
    for aid in ids:
        assert f'href="/analyses/{aid}"' in html
        assert f'src="/analyses/{aid}/thumb.png"' in html
    assert "RESCAN" in html
    assert html.count('class="segdiag"') >= 3  # echo rows: six segments + two annulus discs
    assert 'data-region="annulus_right"' in html
    assert "#ED1B24" in html or "#F46523" in html  # grade colours


def test_flagged_filter_keeps_only_flagged_rows(sample) -> None:
    html = _client(sample).get("/?flagged=1").text
    rows = re.findall(r'<tr class="row([^"]*)"', html)
    assert rows and all("flagged" in r for r in rows)
    assert len(rows) == 4  # two rescans, one not assessable, one failed


def test_analysis_page_has_cine_plot_regions_and_outputs(sample) -> None:
    _, _, ids = sample
    c = _client(sample)
    html = c.get(f"/analyses/{ids[1]}").text
    assert 'id="frame-plot"' in html and html.count('class="series"') == 8
    assert 'id="cine"' in html and "RESCAN recommended" in html
    assert "association rejected" in html  # the failed delivery is visible
    gif = c.get(f"/analyses/{ids[1]}/cine.gif")
    assert gif.status_code == 200 and gif.content[:6] == b"GIF89a"
    png = c.get(f"/analyses/{ids[0]}/thumb.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_mr_page_shows_reformats_and_octants(sample) -> None:
    _, _, ids = sample
    c = _client(sample)
    html = c.get(f"/analyses/{ids[3]}").text
    assert 'class="octdiag"' in html
    srcs = re.findall(r'src="(/analyses/\d+/outputs/\d+\.png)"', html)
    assert len(srcs) == 3
    assert c.get(srcs[0]).content[:4] == b"\x89PNG"


def test_not_assessable_and_failed_fall_back_to_the_source_frame(sample) -> None:
    _, _, ids = sample
    c = _client(sample)
    assert "not assessable" in c.get(f"/analyses/{ids[5]}").text
    assert c.get(f"/analyses/{ids[5]}/thumb.png").status_code == 200
    assert c.get(f"/analyses/{ids[6]}/cine.gif").status_code == 200


def test_trends_per_station_and_per_calling_ae(sample) -> None:
    c = _client(sample)
    by_station = c.get("/trends").text
    assert 'data-source="ECHO-1"' in by_station and 'data-source="MR-1"' in by_station
    by_aet = c.get("/trends?by=aet&days=7").text
    assert 'data-source="US_CART_1"' in by_aet and 'data-source="MR_SCANNER"' in by_aet
    assert "50%" in by_aet  # MR_SCANNER: one rescan of two
    assert by_aet.count('class="trendchart"') == 3 and 'class="rescan-bar"' in by_aet


def test_urls_use_internal_ids_and_pages_carry_no_uids(sample) -> None:
    c = _client(sample)
    for path in ("/", "/?flagged=1", "/trends", "/analyses/2", "/analyses/4"):
        html = c.get(path).text
        assert "2.25." not in html, path
        hrefs = re.findall(r'(?:href|src)="([^"]+)"', html)
        assert all(re.fullmatch(r"[/?=&\w.\-]*", h) for h in hrefs), hrefs


def test_unknown_ids_are_404(sample) -> None:
    c = _client(sample)
    assert c.get("/analyses/999999").status_code == 404
    assert c.get("/analyses/999999/thumb.png").status_code == 404
    assert c.get("/analyses/1/outputs/999999.png").status_code == 404
    assert c.get("/analyses/1/nothing.bmp").status_code == 404
    assert c.get("/analyses/not-a-number").status_code == 404


def test_token_bearer_query_then_cookie(sample) -> None:
    c = _client(sample, token="s3cret-token")
    assert c.get("/").status_code == 401
    assert c.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert c.get("/healthz").status_code == 200
    first = c.get("/trends?token=s3cret-token")
    assert first.status_code == 200 and "HttpOnly" in first.headers["set-cookie"]
    assert c.get("/analyses/1").status_code == 200  # the cookie now authorises the links


def test_token_is_required_off_loopback() -> None:
    with pytest.raises(ValidationError, match="token is required"):
        Settings(dashboard={"enabled": True, "bind_address": "0.0.0.0"})
    Settings(dashboard={"enabled": True, "bind_address": "0.0.0.0", "token": "t"})


def test_server_thread_serves_and_logs_no_identifiers_or_tokens(sample, caplog) -> None:
    db, data_dir, ids = sample
    settings = Settings(
        storage={"data_dir": data_dir}, dashboard={"enabled": True, "port": free_port(), "token": "tok-123"}
    )
    caplog.set_level(logging.DEBUG)
    server = DashboardServer(settings, db, None).start()
    try:
        base = server.url
        assert base.startswith("http://127.0.0.1:")
        r = httpx.get(base + "?token=tok-123", timeout=10)
        assert r.status_code == 200 and SENTINEL_PATIENT_ID not in r.text  # the list shows no patient IDs
        with httpx.Client(base_url=base, headers={"Authorization": "Bearer tok-123"}, timeout=10) as c:
            assert c.get(f"/analyses/{ids[0]}").status_code == 200
            assert c.get(f"/analyses/{ids[0]}/cine.gif").status_code == 200
        assert httpx.get(base + "trends", timeout=10).status_code == 401
    finally:
        server.stop()
    # the server side only (the test's own HTTP client logs its URLs)
    logs = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("dicom_node", "uvicorn")))
    assert f"GET /analyses/{ids[0]} 200" in logs
    for secret in ("tok-123", SENTINEL_PATIENT_ID, SENTINEL_PATIENT_NAME, "Sentinel", "2.25."):
        assert secret not in logs


def test_server_reports_a_port_in_use(sample) -> None:
    db, data_dir, _ = sample
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = Settings(storage={"data_dir": data_dir}, dashboard={"enabled": True, "port": port})
        with pytest.raises(DashboardError, match="could not listen"):
            DashboardServer(settings, db, None).start(timeout_s=5)
