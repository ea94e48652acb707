"""Settings from the environment, read once at start-up and passed down explicitly.

Secrets may also come from files (``DONDOC_DATABASE_URL_FILE``), so they need not sit in the
environment of every process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from storage.errors import ConfigurationError

DEFAULT_DATABASE_URL = "sqlite:///dondoc.db"


def _value(env: Mapping[str, str], name: str) -> str | None:
    if path := env.get(f"{name}_FILE"):
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(
                f"Không đọc được tệp {path} (biến {name}_FILE): {exc.strerror}.",
                f"cannot read {name}_FILE {path!r}: {exc.strerror}",
            ) from exc
    return env.get(name) or None


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(database_url=_value(env, "DONDOC_DATABASE_URL") or DEFAULT_DATABASE_URL)
