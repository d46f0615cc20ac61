# NixOS VM test of the module's promise: a host running two tenants switches, through a
# specialisation, to three tenants plus a custom domain, and nothing that ran restarts.
# It asserts the InvocationID of both tenant services, postgresql.service and nginx.service
# (a reload keeps it, a restart replaces it), that nginx logged no stop, and that the new
# tenant answers through nginx on its subdomain and its custom domain. A second switch
# suspends one tenant: its route answers 503 and the others keep running.
#
# Needs KVM: `nix build .#checks.x86_64-linux.tenants-no-restart -L`. Machines without KVM
# or nixpkgs (like this project's dev boxes) only parse it; see docs/nixos.md.
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "saas-tenants-no-restart";

  nodes.machine =
    { lib, pkgs, ... }:
    let
      fixtures = ./fixtures;
      # No ACME server is reachable from the VM. The acme-<cert>.service units still write
      # their self-signed placeholders, which is what nginx serves here; the real orders are
      # kept from running so a failed order cannot fail the switch.
      noOrder = name: {
        "acme-order-renew-${name}".unitConfig.ConditionPathExists = "/run/acme-orders-enabled";
      };
    in
    {
      imports = [ ../module.nix ];
      virtualisation.memorySize = 2048;

      services.saasTenants = {
        enable = true;
        hostName = "machine";
        tenantsDir = fixtures + "/before";
        inventoryFile = fixtures + "/inventory.json";
        app.package = pkgs.callPackage ../demo-app.nix { };
        tls.wildcard.dnsProvider = "rfc2136";
        generatedSecrets = [ "session-key" ];
      };
      security.acme = {
        acceptTerms = true;
        defaults.email = "ops@tenants.test";
      };
      systemd.services = noOrder "tenants.test";
      environment.systemPackages = [ pkgs.curl ];

      specialisation.three-tenants.configuration = {
        services.saasTenants.tenantsDir = lib.mkForce (fixtures + "/after");
        systemd.services = noOrder "shop.charlie.test";
      };
      specialisation.bravo-suspended.configuration = {
        services.saasTenants.tenantsDir = lib.mkForce (fixtures + "/suspended");
        systemd.services = noOrder "shop.charlie.test";
      };
    };

  testScript =
    { nodes, ... }:
    let
      toplevel = nodes.machine.system.build.toplevel;
      threeTenants = "${toplevel}/specialisation/three-tenants";
      bravoSuspended = "${toplevel}/specialisation/bravo-suspended";
    in
    ''
      def get(host, path="/"):
          return machine.succeed(
              f"curl -sSk -o /dev/stdout -w '\\n%{{http_code}}' "
              f"--resolve {host}:443:127.0.0.1 https://{host}{path}"
          )


      def invocation_ids(units):
          return {
              unit: machine.succeed(
                  f"systemctl show --property=InvocationID --value {unit}"
              ).strip()
              for unit in units
          }


      def journal_cursor():
          return machine.succeed(
              "journalctl --show-cursor -n 0 -o cat | sed -n 's/^-- cursor: //p'"
          ).strip()


      def switch(toplevel):
          status, output = machine.execute(
              f"{toplevel}/bin/switch-to-configuration test 2>&1"
          )
          print(output)
          assert status == 0, f"switch-to-configuration exited {status}"
          return output


      def assert_not_acted_on(output, units):
          # s-t-c prints one line per action: "stopping/restarting/reloading the following units: ..."
          for line in output.splitlines():
              if line.startswith(("stopping the following", "restarting the following")):
                  for unit in units:
                      assert unit not in line, f"{unit} in: {line}"


      machine.start()
      machine.wait_for_unit("multi-user.target")
      for slug in ["alpha", "bravo"]:
          machine.wait_for_unit(f"tenant-{slug}.service")
          machine.wait_for_unit(f"tenant-{slug}-db.service")
          machine.wait_until_succeeds(
              f"curl -sSk --resolve {slug}.tenants.test:443:127.0.0.1 "
              f"https://{slug}.tenants.test/ | grep -q 'hello from {slug}'"
          )
      machine.wait_for_unit("postgresql.service")
      machine.wait_for_unit("nginx.service")

      with subtest("sockets are reachable by nginx's group and nobody else"):
          machine.succeed("stat -c '%U %G %a' /run/tenants/alpha | grep -qx 'tenant-alpha nginx 2750'")
          machine.fail("runuser -u tenant-bravo -- test -x /run/tenants/alpha")
          machine.succeed("test -s /var/lib/tenants/alpha/secrets/session-key")

      with subtest("each tenant reaches its own database only"):
          machine.succeed("runuser -u tenant-alpha -- psql -h /run/postgresql -d tenant-alpha -c 'select 1'")
          machine.fail("runuser -u tenant-bravo -- psql -h /run/postgresql -d tenant-alpha -c 'select 1'")

      watched = [
          "tenant-alpha.service",
          "tenant-bravo.service",
          "postgresql.service",
          "nginx.service",
      ]

      with subtest("adding a tenant and a custom domain restarts nothing that runs"):
          before = invocation_ids(watched)
          assert all(before.values()), before
          cursor = journal_cursor()
          output = switch("${threeTenants}")
          assert_not_acted_on(output, watched)
          assert invocation_ids(watched) == before, "an existing unit was restarted"
          machine.fail(f"journalctl --after-cursor='{cursor}' -u nginx.service | grep -q 'Stopping'")
          machine.wait_for_unit("tenant-charlie.service")
          machine.wait_until_succeeds(
              "curl -sSk --resolve charlie.tenants.test:443:127.0.0.1 "
              "https://charlie.tenants.test/ | grep -q 'hello from charlie'"
          )
          machine.wait_until_succeeds(
              "curl -sSk --resolve shop.charlie.test:443:127.0.0.1 "
              "https://shop.charlie.test/ | grep -q 'hello from charlie'"
          )
          machine.succeed("runuser -u tenant-charlie -- psql -h /run/postgresql -d tenant-charlie -c 'select 1'")

      with subtest("suspending a tenant stops it, answers 503, and leaves the others alone"):
          others = ["tenant-alpha.service", "tenant-charlie.service", "postgresql.service", "nginx.service"]
          before = invocation_ids(others)
          output = switch("${bravoSuspended}")
          assert_not_acted_on(output, others)
          assert invocation_ids(others) == before, "an unrelated unit was restarted"
          machine.fail("systemctl is-active tenant-bravo.service")
          assert get("bravo.tenants.test").endswith("\n503"), "suspended tenant must answer 503"
          assert get("nobody.tenants.test").endswith("\n404"), "unknown tenant must answer 404"
          machine.succeed("test -d /var/lib/tenants/bravo")
    '';
}
