# NixOS VM test of the module's promise: a host running two tenants switches, through
# specialisations, to four tenants (one of them `alpha-db`, beside `alpha`) and two custom
# domains, then suspends one tenant, then removes one, and nothing that ran restarts; then
# moves one tenant to another app release, which restarts that tenant's app and nothing else.
# It watches the InvocationID (a reload keeps it, a restart replaces it) of every existing
# tenant's app, socket, database and route units, of the ACME units, postgresql.service and
# nginx.service; that nginx logged no stop and its config reload succeeded; and that the
# tenants answer through nginx on their subdomains and custom domains.
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
      demoApp = pkgs.callPackage ../demo-app.nix { };
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
        app.package = demoApp;
        # Another store path for the same program: a release the switch must tell apart.
        app.releases."2026.12" = demoApp.overrideAttrs { name = "tenant-demo-app-2026.12"; };
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
        systemd.services = noOrder "shop.charlie.test" // noOrder "www.bravo.test";
      };
      specialisation.bravo-suspended.configuration = {
        services.saasTenants.tenantsDir = lib.mkForce (fixtures + "/suspended");
        systemd.services = noOrder "shop.charlie.test" // noOrder "www.bravo.test";
      };
      specialisation.charlie-removed.configuration = {
        services.saasTenants.tenantsDir = lib.mkForce (fixtures + "/removed");
        systemd.services = noOrder "www.bravo.test";
      };
      specialisation.alpha-db-released.configuration = {
        services.saasTenants.tenantsDir = lib.mkForce (fixtures + "/released");
        systemd.services = noOrder "www.bravo.test";
      };
    };

  testScript =
    { nodes, ... }:
    let
      toplevel = nodes.machine.system.build.toplevel;
      threeTenants = "${toplevel}/specialisation/three-tenants";
      bravoSuspended = "${toplevel}/specialisation/bravo-suspended";
      charlieRemoved = "${toplevel}/specialisation/charlie-removed";
      alphaDbReleased = "${toplevel}/specialisation/alpha-db-released";
    in
    ''
      def get(host, path="/"):
          return machine.succeed(
              f"curl -sSk -o /dev/stdout -w '\\n%{{http_code}}' "
              f"--resolve {host}:443:127.0.0.1 https://{host}{path}"
          )


      def answers(host, slug):
          machine.wait_until_succeeds(
              f"curl -sSk --resolve {host}:443:127.0.0.1 https://{host}/ "
              f"| grep -qx 'hello from {slug}'"
          )


      def tenant_units(slug):
          return [
              f"tenant-app@{slug}.service",
              f"tenant-app@{slug}.socket",
              f"tenant-db@{slug}.service",
              f"tenant-route@{slug}.service",
          ]


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


      def assert_kept(before, cursor):
          """Nothing watched restarted, nginx never stopped, and its reload went well."""
          assert invocation_ids(before) == before, "an existing unit was restarted"
          machine.fail(f"journalctl --after-cursor='{cursor}' -u nginx.service | grep -q 'Stopping'")
          result = machine.succeed("systemctl show -P Result nginx-config-reload.service").strip()
          assert result == "success", f"nginx's config reload: {result}"
          machine.succeed("systemctl is-active nginx.service")


      machine.start()
      machine.wait_for_unit("multi-user.target")
      for slug in ["alpha", "bravo"]:
          machine.wait_for_unit(f"tenant-app@{slug}.socket")
          machine.wait_for_unit(f"tenant-db@{slug}.service")
          answers(f"{slug}.tenants.test", slug)
      machine.wait_for_unit("postgresql.service")
      machine.wait_for_unit("nginx.service")
      machine.wait_for_unit("tenants-postgresql-public.service")

      with subtest("users have their pinned ids"):
          machine.succeed("test $(id -u tenant-alpha) = 1879048448")
          machine.succeed("test $(id -g tenant-alpha) = 1879048448")

      with subtest("sockets belong to systemd and nginx's group, in a folder tenants cannot write"):
          machine.succeed("stat -c '%U %G %a' /run/tenant-sockets | grep -qx 'root root 755'")
          machine.succeed(
              "stat -c '%U %G %a' /run/tenant-sockets/alpha.sock | grep -qx 'root nginx 660'"
          )
          machine.fail("runuser -u tenant-alpha -- touch /run/tenant-sockets/evil")
          machine.fail(
              "runuser -u tenant-bravo -- curl -sS --unix-socket /run/tenant-sockets/alpha.sock http://x/"
          )
          machine.succeed("test -s /var/lib/tenants/alpha/secrets/session-key")

      with subtest("a restart of the app drops no request: the socket holds them"):
          machine.succeed(
              "for i in $(seq 40); do curl -sSk --resolve alpha.tenants.test:443:127.0.0.1 "
              "https://alpha.tenants.test/ | grep -qx 'hello from alpha' || exit 1; done "
              "& sleep 0.2; systemctl restart tenant-app@alpha.service; wait $!"
          )

      with subtest("each tenant reaches its own database only"):
          machine.succeed("runuser -u tenant-alpha -- psql -d tenant-alpha -c 'select 1'")
          machine.fail("runuser -u tenant-bravo -- psql -d tenant-alpha -c 'select 1'")
          machine.fail("runuser -u tenant-bravo -- psql -d postgres -c 'select 1'")

      watched = [
          *tenant_units("alpha"),
          *tenant_units("bravo"),
          "postgresql.service",
          "nginx.service",
          "acme-tenants.test.service",
          "tenants-postgresql-public.service",
      ]

      with subtest("adding tenants, alpha-db beside alpha, and two custom domains restarts nothing"):
          before = invocation_ids(watched)
          assert all(before.values()), before
          cursor = journal_cursor()
          output = switch("${threeTenants}")
          assert_not_acted_on(output, watched)
          assert_kept(before, cursor)
          for slug in ["charlie", "alpha-db"]:
              machine.wait_for_unit(f"tenant-db@{slug}.service")
              answers(f"{slug}.tenants.test", slug)
          answers("alpha.tenants.test", "alpha")
          answers("shop.charlie.test", "charlie")
          answers("www.bravo.test", "bravo")
          machine.succeed("runuser -u tenant-alpha-db -- psql -d tenant-alpha-db -c 'select 1'")
          machine.succeed("runuser -u tenant-alpha -- psql -d tenant-alpha -c 'select 1'")

      more = [*watched, *tenant_units("charlie"), *tenant_units("alpha-db"), "acme-shop.charlie.test.service"]

      with subtest("suspending a tenant stops it, answers 503, and leaves the others alone"):
          others = [u for u in more if "@bravo" not in u]
          before = invocation_ids(others)
          cursor = journal_cursor()
          output = switch("${bravoSuspended}")
          assert_not_acted_on(output, others)
          assert_kept(before, cursor)
          machine.fail("systemctl is-active tenant-app@bravo.service")
          assert get("bravo.tenants.test").endswith("\n503"), "suspended tenant must answer 503"
          assert get("www.bravo.test").endswith("\n503"), "its custom domain too"
          assert get("nobody.tenants.test").endswith("\n404"), "unknown tenant must answer 404"
          machine.succeed("test -d /var/lib/tenants/bravo")

      with subtest("removing a tenant stops its units, keeps its data, and touches nobody else"):
          suspended = ["tenant-app@bravo.service", "tenant-app@bravo.socket"]
          others = [u for u in more if "charlie" not in u and u not in suspended]
          before = invocation_ids(others)
          cursor = journal_cursor()
          output = switch("${charlieRemoved}")
          assert_not_acted_on(output, others)
          assert_kept(before, cursor)
          for unit in tenant_units("charlie"):
              machine.fail(f"systemctl is-active {unit}")
          assert get("charlie.tenants.test").endswith("\n404"), "a removed tenant is unknown"
          machine.succeed("test -d /var/lib/tenants/charlie")
          machine.succeed("sudo -u postgres psql -tAc \"select 1 from pg_database where datname = 'tenant-charlie'\" | grep -qx 1")
          answers("alpha.tenants.test", "alpha")
          answers("alpha-db.tenants.test", "alpha-db")

      with subtest("moving one tenant to another release restarts its app and nothing else"):
          moved = "tenant-app@alpha-db.service"
          others = [u for u in more if "charlie" not in u and u not in suspended and u != moved]
          before = invocation_ids(others)
          app_before = invocation_ids([moved])
          cursor = journal_cursor()
          output = switch("${alphaDbReleased}")
          assert_not_acted_on(output, others)
          assert_kept(before, cursor)
          machine.wait_for_unit(moved)
          assert invocation_ids([moved]) != app_before, "the moved tenant's app kept running"
          machine.succeed(f"systemctl show -P ExecStart {moved} | grep -q tenant-demo-app-2026.12")
          answers("alpha-db.tenants.test", "alpha-db")
          answers("alpha.tenants.test", "alpha")
    '';
}
