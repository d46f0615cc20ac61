"""A comin host's Prometheus exporter for tests: a real HTTP server on 127.0.0.1.

It answers `GET /metrics` with what comin writes (`comin_deployment_info{commit_id, status}`
among its other metrics), or with whatever the test sets: a status, a body, a slow drip.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def comin_metrics(commit: str | None, status: str = "done") -> str:
    """Exporter text as comin writes it, with its neighbours, after a deployment of `commit`."""
    lines = [
        "# HELP comin_build_info Build info for comin.",
        "# TYPE comin_build_info gauge",
        'comin_build_info{version="0.8.0"} 1',
        "# HELP comin_deployment_info Info of the last deployment.",
        "# TYPE comin_deployment_info gauge",
    ]
    if commit is not None:
        lines.append(f'comin_deployment_info{{commit_id="{commit}",status="{status}"}} 1')
    lines += [
        "# HELP comin_fetch_count Number of fetches per status",
        "# TYPE comin_fetch_count counter",
        'comin_fetch_count{remote_name="origin",status="succeeded"} 12',
        "# HELP comin_last_deployment_failed Whether the last deployment failed (1) or not (0).",
        "# TYPE comin_last_deployment_failed gauge",
        f"comin_last_deployment_failed {1 if status == 'failed' else 0}",
    ]
    return "\n".join(lines) + "\n"


class Exporter:
    """Serves `body` with `status`; `drip` seconds between bytes makes a slow exporter."""

    def __init__(self) -> None:
        self.body = comin_metrics(None)
        self.status = 200
        self.drip = 0.0
        self.requests = 0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                exporter.requests += 1
                data = exporter.body.encode()
                self.send_response(exporter.status if self.path == "/metrics" else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not exporter.drip:
                    self.wfile.write(data)
                    return
                for byte in data:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(exporter.drip)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def deployed(self, commit: str, status: str = "done") -> None:
        self.body = comin_metrics(commit, status)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
