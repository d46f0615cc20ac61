"""A stand-in for nixops and colmena on PATH: it records each call and fails when told to."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

_SCRIPT = """
import json, os, sys
from pathlib import Path

call = {
    "argv": [os.path.basename(sys.argv[0]), *sys.argv[1:]],
    "cwd": os.getcwd(),
    "sees_github_token": "GITHUB_TOKEN" in os.environ,
}
with open(os.environ["FAKE_ENGINE_LOG"], "a") as log:
    log.write(json.dumps(call) + "\\n")
exit_file = Path(os.environ["FAKE_ENGINE_EXIT"])
sys.exit(int(exit_file.read_text()) if exit_file.exists() else 0)
"""


class FakeEngine:
    """Executables `nixops` and `colmena` in a bin/ folder put first on PATH."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bin, self.log, self.exit_file = root / "bin", root / "calls.jsonl", root / "exit"
        self.bin.mkdir(parents=True)
        for name in ("nixops", "colmena"):
            script = self.bin / name
            script.write_text(f"#!{sys.executable}\n{_SCRIPT}")
            script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}")
        monkeypatch.setenv("FAKE_ENGINE_LOG", str(self.log))
        monkeypatch.setenv("FAKE_ENGINE_EXIT", str(self.exit_file))

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def argvs(self) -> list[list[str]]:
        return [call["argv"] for call in self.calls()]

    def fail_with(self, code: int) -> None:
        self.exit_file.write_text(str(code))

    def succeed(self) -> None:
        self.exit_file.unlink(missing_ok=True)
