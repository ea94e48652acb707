"""Settings from the environment: defaults, secrets from files, clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from dondoc.settings import Settings
from storage.errors import ConfigurationError

SECRET = "s" * 40


def test_defaults_are_the_embedded_demo() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///dondoc.db"
    assert settings.smtp is None and settings.imap is None and settings.identity is None


def test_mail_settings_and_secrets_from_files(tmp_path: Path) -> None:
    password = tmp_path / "smtp-password"
    password.write_text("mật-khẩu-bí-mật\n", encoding="utf-8")
    settings = Settings.from_env(
        {
            "DONDOC_SMTP_HOST": "mail.sonla.gov.vn",
            "DONDOC_SMTP_SECURITY": "SSL",
            "DONDOC_SMTP_USERNAME": "cchc@sonla.gov.vn",
            "DONDOC_SMTP_PASSWORD_FILE": str(password),
            "DONDOC_SMTP_PER_MINUTE": "20",
            "DONDOC_MAIL_FROM": "cchc@sonla.gov.vn",
            "DONDOC_MAIL_FROM_NAME": "Sở Nội vụ tỉnh Sơn La",
            "DONDOC_SECRET_KEY": SECRET,
            "DONDOC_IMAP_HOST": "mail.sonla.gov.vn",
        }
    )
    smtp, identity = settings.require_mail()
    assert (smtp.port, smtp.security, smtp.per_minute, smtp.connections) == (465, "ssl", 20, 2)
    assert smtp.password == "mật-khẩu-bí-mật"
    assert "mật-khẩu" not in repr(smtp) and SECRET not in repr(identity)
    assert identity.secret == SECRET.encode() and identity.from_name == "Sở Nội vụ tỉnh Sơn La"
    assert settings.imap is not None and (settings.imap.port, settings.imap.security) == (
        993,
        "ssl",
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DONDOC_SMTP_HOST": "x", "DONDOC_SMTP_PORT": "abc"}, "DONDOC_SMTP_PORT"),
        ({"DONDOC_SMTP_HOST": "x", "DONDOC_SMTP_SECURITY": "tls13"}, "DONDOC_SMTP_SECURITY"),
        ({"DONDOC_MAIL_FROM": "a@b.vn", "DONDOC_SECRET_KEY": "short"}, "DONDOC_SECRET_KEY"),
        ({"DONDOC_DATABASE_URL_FILE": "/nonexistent/url"}, "DONDOC_DATABASE_URL_FILE"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)
    assert named in caught.value.message_vi
    assert "short" not in caught.value.message_vi


def test_mail_commands_say_what_is_missing() -> None:
    with pytest.raises(ConfigurationError, match="DONDOC_SMTP_HOST"):
        Settings.from_env({}).require_mail()
