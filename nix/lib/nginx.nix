# nginx and ACME values: the shared routing every subdomain tenant uses, and one virtual host
# and certificate per custom domain. Builtins only.
let
  inherit (builtins) listToAttrs replaceStrings;

  escapeRegex = s: replaceStrings [ "." ] [ "\\." ] s;

  # Set once, for every fleet: a bucket of 512 bytes holds the longest name DNS allows
  # (253 bytes plus nginx's per-entry overhead, rounded up to the cache line), and the
  # max size lets nginx find a table for the largest host the inventory allows. Neither
  # depends on the tenants, so adding one never changes them. tests/system/test_nginx_config.py proves
  # both with Debian's nginx.
  hashSizes = {
    serverNamesHashBucketSize = 512;
    serverNamesHashMaxSize = 65536;
  };

  # What nginx does when the tenant's socket does not answer: the route marker, written by the
  # tenant's own route unit, tells a suspended tenant (503) from an unknown name (404). The
  # text is the same for every tenant, so no tenant change edits nginx's configuration.
  unavailableLocation = ''
    default_type text/html;
    add_header Cache-Control "no-store" always;
    if (-f /run/tenant-routes/$tenant/suspended) {
      return 503 "<!doctype html><title>Suspended</title><h1>This site is suspended</h1><p>Please contact support.</p>\n";
    }
    if (-f /run/tenant-routes/$tenant/active) {
      return 502 "<!doctype html><title>Unavailable</title><h1>This site is starting or unavailable</h1><p>Please retry in a minute.</p>\n";
    }
    return 404 "<!doctype html><title>Not found</title><h1>No site here</h1>\n";
  '';

  proxyLocations = socketExpr: {
    "/" = {
      proxyPass = "http://unix:${socketExpr}:";
      recommendedProxySettings = true;
      extraConfig = ''
        error_page 502 504 = @tenant_unavailable;
      '';
    };
    "@tenant_unavailable".extraConfig = unavailableLocation;
  };

  # services.nginx.virtualHosts entries of one tenant: its custom domains only. The
  # certificate is referenced by path, not through enableACME/useACMEHost, so nginx.service
  # itself never learns about per-tenant certificates (see docs/nixos.md).
  tenantVirtualHosts = settings: p:
    listToAttrs (
      map (domain: {
        name = domain;
        value = {
          onlySSL = true;
          sslCertificate = "/var/lib/acme/${domain}/fullchain.pem";
          sslCertificateKey = "/var/lib/acme/${domain}/key.pem";
          extraConfig = ''
            set $tenant ${p.slug};
          '';
          locations = proxyLocations p.socket;
        };
      }) p.route.customDomains
    );

  # security.acme.certs entries of one tenant: HTTP-01 through the shared port-80 server.
  tenantCertificates = settings: p:
    listToAttrs (
      map (domain: {
        name = domain;
        value = {
          webroot = settings.acmeWebroot;
          group = settings.nginxGroup;
          reloadServices = [ "nginx.service" ];
        } // settings.customDomainCertificate;
      }) p.route.customDomains
    );

  # The fleet-wide nginx parts. They depend on the base domain and settings only.
  sharedVirtualHosts = settings: baseDomain: {
    "tenants-wildcard" = {
      serverName = "~^(?<tenant>[a-z0-9-]+)\\.${escapeRegex baseDomain}$";
      onlySSL = true;
      useACMEHost = baseDomain;
      locations = proxyLocations "/run/tenant-sockets/$tenant.sock";
    };
    "tenants-default" = {
      serverName = "_";
      default = true;
      rejectSSL = true;
      locations."^~ /.well-known/acme-challenge/".root = settings.acmeWebroot;
      locations."/".return = "301 https://$host$request_uri";
    };
  };
in
{
  inherit
    escapeRegex
    hashSizes
    tenantVirtualHosts
    tenantCertificates
    sharedVirtualHosts
    ;
}
