"""The web service as deployed: uvicorn on a loopback port, the CLI commands, the settings."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from dondoc.cli import app as cli_app
from dondoc.settings import Settings
from storage.db import session_factory
from storage.errors import ConfigurationError
from storage.models import Campaign
from tests.sample import PROVINCE_TOML
from tests.test_web_fixtures import (  # noqa: F401 - fixtures
    SECRET_KEY,
    roster_campaign_fixture,
)
from web.app import create_app
from web.config import WebConfig
from web.hooks import signed_headers, webhook_secret
from web.server import WebServer


async def test_served_by_uvicorn_on_loopback_until_stop(
    engine: AsyncEngine, roster_campaign: Campaign
) -> None:
    code = roster_campaign.code
    server = WebServer("127.0.0.1", 0)
    assert server.port > 0
    stop = asyncio.Event()
    app = create_app(session_factory(engine), WebConfig(secret_key=SECRET_KEY, port=server.port))
    serving = asyncio.create_task(server.run(app, stop))
    base = f"http://127.0.0.1:{server.port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        health = await client.get("/healthz")
        assert (health.status_code, health.json()["status"]) == (200, "ok")
        body = json.dumps({"email": "hoatt@snv.gov.vn"}).encode()
        headers = signed_headers(webhook_secret(SECRET_KEY, code), body, datetime.now(UTC))
        answer = await client.post(f"/hooks/{code}/answered", content=body, headers=headers)
        assert answer.json() == {"status": "answered"}
        assert "server" not in answer.headers
    stop.set()
    await asyncio.wait_for(serving, 10)
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=base, timeout=2) as client:
            await client.get("/healthz")


async def test_a_port_in_use_is_a_clear_error() -> None:
    first = WebServer("127.0.0.1", 0)
    try:
        with pytest.raises(ConfigurationError) as refused:
            WebServer("127.0.0.1", first.port)
        assert "DONDOC_WEB_PORT" in refused.value.message_vi
    finally:
        first.socket.close()


def test_the_web_settings() -> None:
    default = Settings.from_env({}).web
    assert (default.host, default.port, default.public_url) == (
        "127.0.0.1",
        8080,
        "http://127.0.0.1:8080",
    )
    assert not default.secure_cookies and default.secret_key is None
    web = Settings.from_env(
        {
            "DONDOC_WEB_HOST": "10.20.30.40",
            "DONDOC_WEB_PORT": "9000",
            "DONDOC_WEB_BASE_URL": "https://dondoc.snv.sonla.gov.vn/",
            "DONDOC_SECRET_KEY": "s" * 40,
        }
    ).web
    assert (web.host, web.port, web.public_url) == (
        "10.20.30.40",
        9000,
        "https://dondoc.snv.sonla.gov.vn",
    )
    assert web.secure_cookies and web.secret_key == b"s" * 40
    assert "s" * 40 not in repr(web)
    with pytest.raises(ConfigurationError, match="DONDOC_WEB_BASE_URL"):
        Settings.from_env({"DONDOC_WEB_BASE_URL": "dondoc.snv.gov.vn"})
    with pytest.raises(ConfigurationError, match="DONDOC_WEB_PORT"):
        Settings.from_env({"DONDOC_WEB_PORT": "70000"})
    with pytest.raises(ConfigurationError, match="DONDOC_SECRET_KEY"):
        create_app(session_factory(None), WebConfig(secret_key=b"short"))  # type: ignore[arg-type]


def test_campaign_secret_prints_what_the_webhook_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DONDOC_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("DONDOC_SECRET_KEY", raising=False)
    runner = CliRunner()
    assert runner.invoke(cli_app, ["init"]).exit_code == 0
    toml = tmp_path / "dot.toml"
    toml.write_text(PROVINCE_TOML, encoding="utf-8")
    assert runner.invoke(cli_app, ["campaign", "create", str(toml)]).exit_code == 0

    refused = runner.invoke(cli_app, ["campaign", "secret", "cchc-2024-tinh"])
    assert refused.exit_code == 1 and "DONDOC_SECRET_KEY" in refused.output

    monkeypatch.setenv("DONDOC_SECRET_KEY", SECRET_KEY.decode())
    shown = runner.invoke(cli_app, ["campaign", "secret", "cchc-2024-tinh"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[0] == webhook_secret(SECRET_KEY, "cchc-2024-tinh")
    unknown = runner.invoke(cli_app, ["campaign", "secret", "khong-co"])
    assert unknown.exit_code == 1
