# NixOS VM test of services.gitops-bot: the control host boots with the bot behind nginx, the
# secrets arrive as files outside the store (as deployment keys would), and a signed signup
# sent through nginx is accepted (202) and committed by the writer to the local state repo.
#
# Needs KVM: `nix build .#checks.x86_64-linux.gitops-bot-accepts-a-signup -L`. Machines
# without KVM or nixpkgs (like this project's dev boxes) only parse it; see docs/operations.md.
{ pkgs, package }:
let
  secret = "whsec_" + "dGVzdC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==";
in
pkgs.testers.runNixOSTest {
  name = "gitops-bot-accepts-a-signup";

  nodes.control = {
    imports = [ ../gitops-bot.nix ];
    virtualisation.memorySize = 2048;
    services.gitops-bot = {
      enable = true;
      inherit package;
      nginx.virtualHost = "bot.test";
      webhookSecretFile = "/run/keys/webhook-secret";
      statusTokenFile = "/run/keys/status-token";
      adminTokenFile = "/run/keys/admin-token";
      # The local backend: the state repo is a bare repo in the state directory, seeded
      # from this flake's tenants/ and nix/.
      settings.seed_dir = "${../..}";
      # No nixpkgs inside the VM to evaluate nix/ with: the checker alone decides.
      settings.host_check = false;
    };
    # The units start once the keys are there, as with real deployment keys.
    systemd.services.gitops-bot-web.unitConfig.ConditionPathExists = "/run/keys/admin-token";
    systemd.services.gitops-bot-writer.unitConfig.ConditionPathExists = "/run/keys/admin-token";
    environment.systemPackages = [
      pkgs.curl
      pkgs.git
      pkgs.openssl
    ];
  };

  testScript = ''
    import base64, hashlib, hmac, json, time

    control.start()
    control.wait_for_unit("nginx.service")
    control.succeed(
        "install -d -m 0700 /run/keys",
        "printf %s '${secret}' > /run/keys/webhook-secret",
        "printf %s status-token-for-the-vm-test-0123456789 > /run/keys/status-token",
        "printf %s admin-token-for-the-vm-test-0123456789ab > /run/keys/admin-token",
        "chmod 0400 /run/keys/*",
        "systemctl start gitops-bot-web.service gitops-bot-writer.service",
    )
    control.wait_for_unit("gitops-bot-web.service")
    control.wait_for_unit("gitops-bot-writer.service")
    control.wait_for_open_port(8080)
    # Not readable by the bot's user except through its credentials directory.
    control.fail("runuser -u gitops-bot -- cat /run/keys/webhook-secret")

    body = json.dumps({
        "type": "tenant.signup",
        "timestamp": "2026-12-01T12:00:00Z",
        "data": {"slug": "vm-tenant", "plan": "pro"},
    })
    event_id = "msg_vm_test_1"
    stamp = str(int(time.time()))
    key = base64.b64decode("${secret}".removeprefix("whsec_"))
    signature = base64.b64encode(
        hmac.new(key, f"{event_id}.{stamp}.{body}".encode(), hashlib.sha256).digest()
    ).decode()
    control.succeed(f"printf %s '{body}' > /tmp/body.json")
    control.wait_until_succeeds(
        "curl -sS -o /dev/null -w '%{http_code}' -H 'Host: bot.test' "
        "-H 'Content-Type: application/json' "
        f"-H 'webhook-id: {event_id}' -H 'webhook-timestamp: {stamp}' "
        f"-H 'webhook-signature: v1,{signature}' --data-binary @/tmp/body.json "
        "http://127.0.0.1/v1/events | grep -qx 202"
    )
    control.wait_until_succeeds(
        "git -c safe.directory='*' -C /var/lib/gitops-bot/state.git "
        "show main:tenants/vm-tenant.json | grep -q vm-tenant"
    )
    # Through nginx, bodies over 64 KiB never reach the bot.
    control.succeed("head -c 70000 /dev/zero > /tmp/big")
    status = control.succeed(
        "curl -sS -o /dev/null -w '%{http_code}' -H 'Host: bot.test' "
        "--data-binary @/tmp/big http://127.0.0.1/v1/events"
    ).strip()
    assert status == "413", status
  '';
}
