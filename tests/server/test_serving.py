"""How `serve` configures gunicorn: the order settings apply in, and what it leaves alone."""

from __future__ import annotations

import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from gitops_bot.config import Settings
from gitops_bot.server.serving import Server
from gitops_bot.server.worker import BufferingThreadWorker
from helpers import free_port
from served import bot_env, start_serve, wait_ready


def test_our_defaults_then_file_then_env_then_flags(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    config = tmp_path / "gunicorn.conf.py"
    config.write_text('bind = "127.0.0.1:1111"\nkeepalive = 7\nmax_requests = 1000\n')
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--bind 127.0.0.1:2222 --max-requests 50")
    from_env = Server(settings, config_file=config, flags={"bind": None, "workers": None})
    assert from_env.cfg.bind == ["127.0.0.1:2222"]
    assert (from_env.cfg.keepalive, from_env.cfg.max_requests) == (7, 50)
    assert from_env.cfg.workers == 4
    assert issubclass(from_env.cfg.worker_class, BufferingThreadWorker)
    assert from_env.cfg.control_socket_disable
    assert from_env.cfg.forwarded_allow_ips == []
    flags = Server(settings, config_file=config, flags={"bind": "127.0.0.1:3333", "workers": 2})
    assert (flags.cfg.bind, flags.cfg.workers) == (["127.0.0.1:3333"], 2)


def test_gunicorns_own_config_flag_in_the_env_is_read(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "other.conf.py"
    config.write_text("timeout = 99\n")
    monkeypatch.setenv("GUNICORN_CMD_ARGS", f"-c {config}")
    assert Server(settings, config_file=None, flags={}).cfg.timeout == 99


def refused_login_log(tmp_path: Path, settings: Settings, **env: str) -> str:
    """Serve with a throwaway HOME, try a wrong admin token with a forged X-Forwarded-For."""
    home = tmp_path / "home"
    home.mkdir()
    full_env = bot_env(settings, tmp_path, HOME=str(home), **env)
    full_env.pop("XDG_RUNTIME_DIR", None)
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = start_serve(full_env, port, log, workers=1)
        try:
            wait_ready(f"http://127.0.0.1:{port}", process, log_path)
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/admin/login",
                data=urllib.parse.urlencode({"token": "wrong"}).encode(),
                headers={"X-Forwarded-For": "203.0.113.9"},
            )
            try:
                urllib.request.urlopen(request, timeout=30).close()
            except urllib.error.HTTPError as refused:
                refused.close()
            # gunicorn's control socket would be $HOME/.gunicorn/gunicorn.ctl.
            assert list(home.iterdir()) == []
        finally:
            process.terminate()
            process.wait(timeout=60)
    return log_path.read_text(errors="replace")


@pytest.mark.slow
def test_a_forged_forwarded_for_is_ignored_and_home_stays_empty(
    settings: Settings, tmp_path: Path
) -> None:
    log = refused_login_log(tmp_path, settings)
    assert "admin login refused from 127.0.0.1" in log
    assert "203.0.113.9" not in log


@pytest.mark.slow
def test_a_trusted_proxy_gives_the_clients_address(settings: Settings, tmp_path: Path) -> None:
    log = refused_login_log(tmp_path, settings, GUNICORN_CMD_ARGS="--forwarded-allow-ips 127.0.0.1")
    assert "admin login refused from 203.0.113.9" in log
