"""`gitops-bot serve`: gunicorn web workers, plus the writer as a supervised child process."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="serve the webhook endpoint (and run the writer)")
    parser.add_argument("--bind", help="address:port (default 127.0.0.1:8080)")
    parser.add_argument("--workers", type=int, help="web worker processes (default 4)")
    parser.add_argument(
        "--gunicorn-config",
        type=Path,
        default=os.environ.get("GITOPS_BOT_GUNICORN_CONFIG") or None,
        help="a gunicorn config file (.py); default $GITOPS_BOT_GUNICORN_CONFIG. "
        "Order: our defaults, this file, GUNICORN_CMD_ARGS, then --bind/--workers",
    )
    parser.add_argument(
        "--no-writer",
        dest="writer",
        action="store_false",
        help="web only; run `gitops-bot worker` separately",
    )
    parser.set_defaults(func=run)


class WriterSupervisor:
    """Keeps one `gitops-bot worker` child running; restarts it if it dies."""

    def __init__(self) -> None:
        # gunicorn forks web workers from this process, and they unwind through our
        # `finally` when they exit: only the process that started the writer may stop it.
        self._owner = os.getpid()
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="writer-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            self._process = subprocess.Popen([sys.executable, "-m", "gitops_bot.cli", "worker"])
            started = time.monotonic()
            code = self._process.wait()
            if self._stopping.is_set():
                return
            if code == 0:
                # The writer exits cleanly only when asked to (SIGTERM, or Ctrl-C reaching
                # the whole process group): that is a stop, not a crash.
                log.info("writer stopped")
                return
            log.error("writer exited with %s; restarting", code)
            # A writer that dies at once would otherwise spin.
            self._stopping.wait(max(0.0, 2.0 - (time.monotonic() - started)))

    def stop(self) -> None:
        if os.getpid() != self._owner:
            return
        self._stopping.set()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()


def run(args: argparse.Namespace) -> int:
    from gitops_bot import logs  # noqa: PLC0415
    from gitops_bot.config import ConfigError, Settings  # noqa: PLC0415
    from gitops_bot.server.serving import Server  # noqa: PLC0415

    try:
        settings = Settings().require_secrets()
    except ConfigError as problem:
        print(f"gitops-bot serve: {problem}", file=sys.stderr)
        return 2
    config_file: Path | None = args.gunicorn_config
    if config_file is not None and not config_file.is_file():
        print(f"gitops-bot serve: --gunicorn-config: no such file: {config_file}", file=sys.stderr)
        return 2
    logs.protect(settings.secret_values())
    if settings.demo:
        print(
            "demo mode: secrets are in "
            f"{settings.demo_secret_path('webhook_secret').parent} (never in production)",
            file=sys.stderr,
        )
    flags = {"bind": args.bind, "workers": args.workers}
    server = Server(settings, config_file=config_file, flags=flags)
    supervisor = WriterSupervisor()
    if args.writer:
        supervisor.start()
    try:
        server.run()
    finally:
        supervisor.stop()
    return 0
