"""Per-app access to the settings and the queue store, one SQLite connection per thread."""

from __future__ import annotations

import threading

from flask import Flask, current_app

from gitops_bot.config import Settings
from gitops_bot.store import outbox
from gitops_bot.store.counters import Counters
from gitops_bot.store.queue import Store


def settings() -> Settings:
    value: Settings = current_app.extensions["gitops_bot.settings"]
    return value


def counters() -> Counters:
    """This process's door to the counters all processes share."""
    value: Counters = current_app.extensions["gitops_bot.counters"]
    return value


def store() -> Store:
    """This thread's Store for the current app.

    Connections are kept for the life of the worker thread rather than opened per
    request: opening one and closing the last one (a WAL checkpoint) cost more than
    the request itself.
    """
    local: threading.local = current_app.extensions["gitops_bot.stores"]
    opened: Store | None = getattr(local, "store", None)
    if opened is None:
        opened = local.store = Store(settings().database_path, synchronous=settings().synchronous)
    return opened


def init_app(app: Flask, app_settings: Settings) -> None:
    app.extensions["gitops_bot.settings"] = app_settings
    app.extensions["gitops_bot.counters"] = Counters(app_settings.database_path)
    app.extensions["gitops_bot.stores"] = threading.local()
    with Store(app_settings.database_path, synchronous=app_settings.synchronous) as db:
        db.migrate()
        # The writer's process sets this too; both read the same settings.
        outbox.enable(db.connection, app_settings.notify_url is not None)
