"""Per-request access to the settings and the queue store, as flaskr's db.py does it."""

from __future__ import annotations

from flask import Flask, current_app, g

from gitops_bot import outbox
from gitops_bot.config import Settings
from gitops_bot.counters import Counters
from gitops_bot.queue import Store


def settings() -> Settings:
    value: Settings = current_app.extensions["gitops_bot.settings"]
    return value


def counters() -> Counters:
    """This process's door to the counters all processes share."""
    value: Counters = current_app.extensions["gitops_bot.counters"]
    return value


def store() -> Store:
    """The request's Store, opened on first use and closed when the request ends."""
    if "store" not in g:
        g.store = Store(settings().database_path, synchronous=settings().synchronous)
    value: Store = g.store
    return value


def _close_store(_exception: BaseException | None = None) -> None:
    if (opened := g.pop("store", None)) is not None:
        opened.close()


def init_app(app: Flask, app_settings: Settings) -> None:
    app.extensions["gitops_bot.settings"] = app_settings
    app.extensions["gitops_bot.counters"] = Counters(app_settings.database_path)
    app.teardown_appcontext(_close_store)
    with Store(app_settings.database_path, synchronous=app_settings.synchronous) as db:
        db.migrate()
        # The writer's process sets this too; both read the same settings.
        outbox.enable(db.connection, app_settings.notify_url is not None)
