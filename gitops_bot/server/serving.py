"""The gunicorn application behind `gitops-bot serve`, and the order its settings apply in."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gunicorn.app.base import Application

from gitops_bot import logs
from gitops_bot.config import Settings
from gitops_bot.server.app import create_app
from gitops_bot.server.proxy import behind_proxies
from gitops_bot.server.worker import bounded_worker

CONFIG_ENV = "GITOPS_BOT_GUNICORN_CONFIG"
# A sender's signed POST arrives in milliseconds; ten seconds leaves room for a slow link.
REQUEST_READ_TIMEOUT = 10.0


def defaults(settings: Settings) -> dict[str, Any]:
    """What `serve` sets before any config file, GUNICORN_CMD_ARGS or flag is read."""
    options: dict[str, Any] = {
        "bind": "127.0.0.1:8080",
        "workers": 4,
        "worker_class": bounded_worker(
            read_timeout=REQUEST_READ_TIMEOUT, max_body_bytes=settings.max_body_bytes
        ),
        "threads": 4,
        "accesslog": None,
        "logconfig_dict": logs.gunicorn_logconfig(),
        # gunicorn's default socket is per user ($HOME/.gunicorn), shared by every bot the
        # user runs; `serve` has no use for it and writes nothing outside its state dir.
        "control_socket_disable": True,
    }
    if "FORWARDED_ALLOW_IPS" not in os.environ:
        # No proxy is trusted until one is named: the port may face the internet directly.
        options["forwarded_allow_ips"] = ""
    return options


class Server(Application):  # type: ignore[misc]
    """Settings apply in order: ours, the config file, GUNICORN_CMD_ARGS, then `serve`'s flags."""

    def __init__(
        self, settings: Settings, *, config_file: Path | None, flags: dict[str, Any]
    ) -> None:
        self.settings = settings
        self.config_file = config_file
        self.flags = flags
        super().__init__()

    def init(self, parser: Any, opts: Any, args: Any) -> None:  # noqa: ARG002 (gunicorn's hook)
        return None

    def load_config(self) -> None:
        for key, value in defaults(self.settings).items():
            self.cfg.set(key, value)
        env_args = self.cfg.parser().parse_args(self.cfg.get_cmd_args_from_env())
        for location in (self.config_file, env_args.config):
            if location is not None:
                self.load_config_from_file(str(location))
        for key, value in vars(env_args).items():
            if value is not None and key not in ("args", "config"):
                self.cfg.set(key.lower(), value)
        for key, value in self.flags.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        app = create_app(self.settings)
        # Flask documents wrapping wsgi_app in place, for middleware such as ProxyFix.
        app.wsgi_app = behind_proxies(  # type: ignore[method-assign,assignment]
            app.wsgi_app, list(self.cfg.forwarded_allow_ips)
        )
        return app
