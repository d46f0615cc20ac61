# The bot itself, built from pyproject.toml with nixpkgs' Python packages. The flake exposes it
# as packages.<system>.default and through overlays.default as pkgs.gitops-bot.
{
  lib,
  python3Packages,
  git,
  nix,
}:
python3Packages.buildPythonApplication {
  pname = "gitops-bot";
  version = (lib.importTOML ../pyproject.toml).project.version;
  pyproject = true;

  # Only what the wheel is built from: tenants/, tests/ and docs/ never reach the store path.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      ../README.md
      ../LICENSE
      ../gitops_bot
    ];
  };

  build-system = [ python3Packages.setuptools ];

  dependencies = with python3Packages; [
    flask
    pydantic
    pydantic-settings
    gitpython
    pygithub
    standardwebhooks
    gunicorn
    prometheus-client
    dnspython
    shtab
  ];

  # The writer runs git for the state repo and nix-instantiate for the host check.
  makeWrapperArgs = [
    "--prefix"
    "PATH"
    ":"
    (lib.makeBinPath [
      git
      nix
    ])
  ];

  # The test suite needs nginx, chromium and a nixpkgs checkout: it runs in `make test`.
  doCheck = false;
  pythonImportsCheck = [ "gitops_bot" ];

  meta = {
    description = "Turns signed signup webhooks into reviewed, auditable tenant files in a NixOS state repo";
    license = lib.licenses.mit;
    mainProgram = "gitops-bot";
  };
}
