"""Reading comin's exporter over real HTTP: the last deployment, bounded in size and time."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from comin_exporter import Exporter, comin_metrics

from gitops_bot.deploy.comin import HostDeployment, ScrapeError, parse, scrape, split_address

COMMIT = "4f2b81f0c3d9a8e7b6a5f4e3d2c1b0a9f8e7d6c5"


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    served = Exporter()
    yield served
    served.close()


def test_the_last_deployment_is_read_from_comins_metrics(exporter: Exporter) -> None:
    exporter.deployed(COMMIT)
    deployment = scrape(exporter.address, timeout=2)
    assert deployment == HostDeployment(commit=COMMIT, status="done")
    assert deployment.done
    assert not deployment.failed
    exporter.deployed(COMMIT, "failed")
    failed = scrape(exporter.address, timeout=2)
    assert failed is not None
    assert failed.failed


def test_a_host_that_has_not_deployed_yet_reports_nothing(exporter: Exporter) -> None:
    assert scrape(exporter.address, timeout=2) is None


def test_labels_in_any_order_with_escapes_and_a_timestamp() -> None:
    labels = f'status="done", commit_id="{COMMIT}",x="a\\"b,c"'
    text = f"comin_deployment_info{{{labels}}} 1 1700000000\n"
    assert parse(text) == HostDeployment(commit=COMMIT, status="done")
    # A series reset to 0 is not the current deployment.
    assert parse(f'comin_deployment_info{{commit_id="{COMMIT}",status="done"}} 0\n') is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('comin_deployment_info{commit_id="main",status="done"} 1', "no commit_id and status"),
        (f'comin_deployment_info{{commit_id="{COMMIT}"}} 1', "no commit_id and status"),
        (f'comin_deployment_info{{commit_id="{COMMIT}" status="done"}} 1', "labels comin"),
        (f'comin_deployment_info{{commit_id="{COMMIT}",status="done"}} one', "not a number"),
    ],
)
def test_what_comin_does_not_write_is_a_scrape_error(text: str, says: str) -> None:
    with pytest.raises(ScrapeError, match=says):
        parse(comin_metrics(None) + text + "\n")


def test_an_error_status_names_the_address(exporter: Exporter) -> None:
    exporter.status = 503
    with pytest.raises(ScrapeError, match=rf"{exporter.address}/metrics answered 503"):
        scrape(exporter.address, timeout=2)


def test_an_endless_answer_is_cut_off(exporter: Exporter) -> None:
    exporter.body = "# " + "x" * 300_000 + "\n"
    with pytest.raises(ScrapeError, match="more than 262144 bytes"):
        scrape(exporter.address, timeout=5)


def test_a_slow_drip_is_bounded_by_the_whole_timeout(exporter: Exporter) -> None:
    exporter.deployed(COMMIT)
    exporter.drip = 0.02  # a byte each 20 ms: every read is quick, the whole is not
    started = time.monotonic()
    with pytest.raises(ScrapeError, match=r"took longer than 0\.3 s"):
        scrape(exporter.address, timeout=0.3, max_bytes=1 << 20)
    assert time.monotonic() - started < 2


def test_nothing_listening_is_a_scrape_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(ScrapeError, match=f"127.0.0.1:{port}/metrics: "):
        scrape(f"127.0.0.1:{port}", timeout=1)


def test_addresses_split_like_the_inventory_writes_them() -> None:
    assert split_address("10.0.0.2:4243") == ("10.0.0.2", 4243)
    assert split_address("[fd00::2]:4243") == ("fd00::2", 4243)
    assert split_address("web-2.fleet.example.net:9100") == ("web-2.fleet.example.net", 9100)
