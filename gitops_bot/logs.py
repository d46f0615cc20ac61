"""Structured logs: one JSON object per line, with the event, tenant and delivery, and no secret."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final

# Fields a line carries when it concerns one event, one tenant or one HTTP delivery
# (an outgoing notification's message id, or a GitHub webhook's X-GitHub-Delivery).
CONTEXT_FIELDS: Final = ("event_id", "slug", "delivery_id")

_context: ContextVar[Mapping[str, str] | None] = ContextVar("gitops_bot_log_context", default=None)

# Secrets known by value (the settings' own), added by protect(); patterns catch the rest.
_known_secrets: set[str] = set()
_REDACTED: Final = "[redacted]"
_PATTERNS: Final = (
    # Standard Webhooks secrets, and GitHub's token formats (installation, personal,
    # OAuth, user-to-server, refresh, fine-grained).
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), _REDACTED),
    (re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]+"), _REDACTED),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]+"), _REDACTED),
    # JWTs, such as a GitHub App's signed requests for installation tokens.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), _REDACTED),
    # An Authorization header's value, however it is quoted or printed.
    (
        re.compile(
            r"""(?i)(authorization['"]?\s*[:=]\s*['"]?)"""
            r"""(?:(?:bearer|basic|token)\s+)?[^\s'",;}]+"""
        ),
        rf"\1{_REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), rf"\1 {_REDACTED}"),
    # Credentials inside a URL: https://user:password@host.
    (re.compile(r"(://[^/\s:@]+:)[^/\s@]+@"), rf"\1{_REDACTED}@"),
)


def protect(secrets: Iterable[str]) -> None:
    """Never let these values into a log line of this process, whatever logs them."""
    for secret in secrets:
        if secret:
            _known_secrets.add(secret)
            # A library may log the key without its prefix.
            if secret.startswith("whsec_") and len(secret) > len("whsec_"):
                _known_secrets.add(secret.removeprefix("whsec_"))


def redact(text: str) -> str:
    """`text` with every known secret and everything shaped like a credential hidden."""
    # Longest first, so that a secret containing another is hidden whole.
    for secret in sorted(_known_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, _REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Put `fields` (event_id, slug, delivery_id) on every line logged inside this block."""
    token = _context.set(_merged(fields))
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: str | None) -> None:
    """Put `fields` on every later line of this request; `clear()` ends it."""
    _context.set(_merged(fields))


def clear() -> None:
    # Worker threads serve one request after another: nothing may leak into the next.
    _context.set(None)


def _merged(fields: Mapping[str, str | None]) -> dict[str, str]:
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields: {sorted(unknown)}")
    current = dict(_context.get() or {})
    current.update({key: value for key, value in fields.items() if value is not None})
    return current


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _context.get() or {}
        for field in CONTEXT_FIELDS:
            # extra={"slug": ...} on the call wins over the surrounding context.
            value = getattr(record, field, None) or context.get(field)
            if value is not None:
                entry[field] = str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps({key: _redacted(value) for key, value in entry.items()})


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def configure(level: int = logging.INFO) -> None:
    """Send every log line of this process to stderr as JSON.

    Like logging.basicConfig, it leaves a root logger alone that already has handlers:
    then whoever embeds the bot (or pytest) has chosen where logs go.
    """
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)


def gunicorn_logconfig() -> dict[str, Any]:
    """gunicorn's logging in the same JSON shape (it would install its own format otherwise)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
        },
    }
