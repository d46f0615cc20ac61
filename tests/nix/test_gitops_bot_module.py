"""services.gitops-bot (nix/gitops-bot.nix) through the real lib.evalModules, and its nginx edge."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from nix_helpers import NIXPKGS_LIB, eval_bot_module, needs_nix

pytestmark = [
    *needs_nix,
    pytest.mark.skipif(
        not (NIXPKGS_LIB and Path(NIXPKGS_LIB, "default.nix").is_file()),
        reason="set NIXPKGS_LIB to nixpkgs' lib/ folder to evaluate the module itself",
    ),
]

SECRETS = {
    "webhookSecretFile": "/run/keys/webhook-secret",
    "statusTokenFile": "/run/keys/status-token",
    "adminTokenFile": "/run/keys/admin-token",
}


def evaluate(config: str) -> dict[str, Any]:
    result = eval_bot_module(config)
    assert result.returncode == 0, result.stderr
    value: dict[str, Any] = json.loads(result.stdout)
    return value


def bot(*lines: str, secrets: dict[str, str] = SECRETS) -> str:
    settings = " ".join(f'{name} = "{path}";' for name, path in secrets.items())
    body = " ".join(lines)
    return (
        "{ services.gitops-bot = { enable = true; "
        f'nginx.virtualHost = "bot.example.com"; {settings} {body} }}; }}'
    )


def test_two_units_share_one_state_directory_and_get_every_secret_by_credential() -> None:
    result = evaluate(bot('githubTokenFile = "/run/keys/gh";', "settings.max_queue = 500;"))
    assert result["failedAssertions"] == []
    web, writer = result["services"]["gitops-bot-web"], result["services"]["gitops-bot-writer"]
    assert web["serviceConfig"]["ExecStart"] == (
        "/stub/gitops-bot/bin/gitops-bot serve --no-writer --bind 127.0.0.1:8080 --workers 4"
    )
    assert writer["serviceConfig"]["ExecStart"] == "/stub/gitops-bot/bin/gitops-bot worker"
    for unit in (web, writer):
        service = unit["serviceConfig"]
        assert service["StateDirectory"] == "gitops-bot"
        assert service["User"] == "gitops-bot"
        assert service["ProtectSystem"] == "strict"
        assert service["NoNewPrivileges"] is True
        # The names gitops_bot/config.py looks up in $CREDENTIALS_DIRECTORY.
        assert sorted(service["LoadCredential"]) == [
            "admin-token:/run/keys/admin-token",
            "github-token:/run/keys/gh",
            "status-token:/run/keys/status-token",
            "webhook-secret:/run/keys/webhook-secret",
        ]
        assert unit["environment"]["GITOPS_BOT_STATE_DIR"] == "/var/lib/gitops-bot"
        assert unit["environment"]["GITOPS_BOT_MAX_QUEUE"] == "500"
        # No secret, and no secret's path, in the environment (it is in /proc and the store).
        assert not any("/run/keys" in value for value in unit["environment"].values())
    assert "gitops-bot-web.service" in writer["after"]
    assert result["users"]["gitops-bot"]["isSystemUser"] is True
    assert result["groups"] == ["gitops-bot"]


def test_settings_become_gitops_bot_variables_in_the_form_config_py_reads() -> None:
    result = evaluate(
        bot(
            'settings = { backend = "github"; auto_merge = true; review_labels = [ "ops" "new" ];',
            "commit_window = 2.5; notify_url = null; };",
        )
    )
    environment = result["services"]["gitops-bot-web"]["environment"]
    assert environment["GITOPS_BOT_BACKEND"] == "github"
    assert environment["GITOPS_BOT_AUTO_MERGE"] == "true"
    # config.py's list form: names separated by commas.
    assert environment["GITOPS_BOT_REVIEW_LABELS"] == "ops,new"
    assert environment["GITOPS_BOT_COMMIT_WINDOW"] == "2.5"
    assert "GITOPS_BOT_NOTIFY_URL" not in environment


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (bot('settings.webhook_secret = "whsec_x";'), "must not hold a secret"),
        (bot('settings.admin_token_file = "/run/keys/a";'), "must not hold a secret"),
        (bot("settings.demo = true;"), "generates its own secrets"),
        (
            bot(secrets={**SECRETS, "adminTokenFile": "/nix/store/abc-admin-token"}),
            "adminTokenFile points into the Nix store",
        ),
        (
            bot(secrets={k: v for k, v in SECRETS.items() if k != "statusTokenFile"}),
            "statusTokenFile is required",
        ),
    ],
)
def test_a_host_that_would_leak_or_lack_a_secret_fails_evaluation(
    config: str, message: str
) -> None:
    failed = evaluate(config)["failedAssertions"]
    assert any(message in text for text in failed), failed


def test_a_secret_given_as_a_nix_path_is_refused_before_it_reaches_the_store() -> None:
    result = eval_bot_module(bot("adminTokenFile = ./secret;"), ".services")
    assert result.returncode != 0
    assert "adminTokenFile" in result.stderr


def test_nginx_fronts_the_bot_on_loopback_and_the_firewall_stays_closed_by_default() -> None:
    result = evaluate(bot())
    assert result["nginx"]["enable"] is True
    assert result["nginx"]["recommendedProxySettings"] is True
    vhost = result["nginx"]["virtualHosts"]["bot.example.com"]
    assert vhost["locations"]["/"]["proxyPass"] == "http://127.0.0.1:8080"
    assert "client_max_body_size 64k;" in vhost["locations"]["/"]["extraConfig"]
    assert vhost["forceSSL"] is False
    assert result["firewall"] == []
    # Only the local nginx's X-Forwarded-For is believed.
    environment = result["services"]["gitops-bot-web"]["environment"]
    assert environment["GUNICORN_CMD_ARGS"] == "--forwarded-allow-ips=127.0.0.1"

    opened = evaluate(bot("openFirewall = true;", "nginx.enableACME = true;"))
    assert opened["firewall"] == [80, 443]
    acme = opened["nginx"]["virtualHosts"]["bot.example.com"]
    assert acme["enableACME"] is True
    assert acme["forceSSL"] is True


@pytest.mark.skipif(
    shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
    reason="Debian's nginx is not installed",
)
def test_debian_nginx_accepts_the_edge_the_module_writes(tmp_path: Path) -> None:
    vhost = evaluate(bot())["nginx"]["virtualHosts"]["bot.example.com"]
    location = vhost["locations"]["/"]
    # The server block as nixpkgs' nginx module writes it for this vhost (listen, name,
    # extraConfig, then the location with proxy_pass before its extraConfig).
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events {}\n"
        f"http {{\n access_log off;\n client_body_temp_path {tmp_path}/body;\n"
        " server {\n  listen 127.0.0.1:18099;\n  server_name bot.example.com;\n"
        f"  {vhost['extraConfig']}\n"
        f"  location / {{\n   proxy_pass {location['proxyPass']};\n"
        f"   {location['extraConfig']}\n  }}\n }}\n}}\n"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
