"""The exception root of ``storage``: every error carries a Vietnamese text for people and an
English one for logs, so the CLI shows the first and logs the second."""

from __future__ import annotations


class DondocError(Exception):
    """Base of every error dondoc raises on purpose."""

    def __init__(self, message_vi: str, message_en: str | None = None) -> None:
        super().__init__(message_en or message_vi)
        self.message_vi = message_vi
        self.message_en = message_en or message_vi


class ConfigurationError(DondocError):
    """The settings or the environment are wrong (database URL, missing file...)."""


class NotFoundError(DondocError):
    """A campaign, unit or group named on the command line does not exist."""
