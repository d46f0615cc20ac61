"""The liveness probe and watch against a real HTTPS site on 127.0.0.1 with a CA the test makes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tls_site import Behaviour, Silent, Site, TestCA

from gitops_bot.deploy.liveness import LivenessPolicy, LivenessWatch
from gitops_bot.deploy.probe import Prober, ProbeSpec

NAME = "acme.tenants.example.com"


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "ca")


@pytest.fixture
def site(ca: TestCA) -> Iterator[Site]:
    served = Site(*ca.issue(NAME, "shop.acme.example"))
    yield served
    served.close()


def to_loopback(*names: str) -> Callable[[str, int], list[str]]:
    """The resolver map: these names are 127.0.0.1, every other name does not exist."""

    def resolve(name: str, port: int) -> list[str]:
        if name not in names:
            raise OSError(-2, "Name or service not known")
        return ["127.0.0.1"]

    return resolve


def prober(ca: TestCA, *names: str) -> Prober:
    return Prober(resolve=to_loopback(*(names or (NAME, "shop.acme.example"))), ca_file=ca.bundle)


def spec(port: int, **fields: object) -> ProbeSpec:
    return ProbeSpec(port=port, timeout=2.0, **fields)  # type: ignore[arg-type]


def test_a_working_site_is_ok_and_is_asked_for_by_its_name(ca: TestCA, site: Site) -> None:
    result = prober(ca).probe(NAME, spec(site.port))
    assert result.ok, result.detail
    assert result.status == 200
    assert site.hosts == [NAME]


def test_a_certificate_for_another_name_fails_at_tls(ca: TestCA, tmp_path: Path) -> None:
    other = Site(*ca.issue("someone-else.tenants.example.com"))
    try:
        result = prober(ca).probe(NAME, spec(other.port))
    finally:
        other.close()
    assert result.stage == "tls"
    assert result.detail.startswith(f"TLS: certificate verification failed for {NAME}: ")
    assert "mismatch" in result.detail.lower()


def test_a_certificate_from_an_unknown_ca_fails_at_tls(ca: TestCA, tmp_path: Path) -> None:
    stranger = Site(*TestCA(tmp_path / "other-ca").issue(NAME))
    try:
        result = prober(ca).probe(NAME, spec(stranger.port))
    finally:
        stranger.close()
    assert result.stage == "tls"
    assert "unable to get local issuer certificate" in result.detail


def test_a_502_fails_at_status_and_says_what_was_expected(ca: TestCA, site: Site) -> None:
    site.behaviour = Behaviour(status=502)
    result = prober(ca).probe(NAME, spec(site.port))
    assert result.stage == "status"
    assert result.status == 502
    assert result.detail == "HTTP: GET / answered 502 Bad Gateway, expected 200-399"


def test_the_path_and_the_expected_answers_are_the_plans(ca: TestCA, site: Site) -> None:
    site.behaviour = Behaviour(status=401)
    login = spec(site.port, path="/healthz", expected=frozenset({200, 401}))
    assert prober(ca).probe(NAME, login).ok
    assert not prober(ca).probe(NAME, spec(site.port, path="/healthz")).ok


def test_a_site_that_never_answers_times_out_in_plain_words(ca: TestCA) -> None:
    silent = Silent()
    try:
        result = prober(ca).probe(NAME, ProbeSpec(port=silent.port, timeout=0.5))
    finally:
        silent.close()
    assert result.stage == "tls"
    assert result.detail == "TLS: no handshake within 0.5 s"


def test_a_slow_answer_past_the_timeout_fails_at_http(ca: TestCA, site: Site) -> None:
    site.behaviour = Behaviour(delay=1.5)
    result = prober(ca).probe(NAME, ProbeSpec(port=site.port, timeout=0.5))
    assert result.stage == "http"
    assert "no answer to GET / within 0.5 s" in result.detail


def test_dns_and_tcp_failures_name_what_failed(ca: TestCA) -> None:
    unknown = prober(ca).probe("nobody.tenants.example.com", ProbeSpec(port=1))
    assert unknown.stage == "dns"
    assert unknown.detail.startswith("DNS: nobody.tenants.example.com does not resolve")
    silent = Silent()
    port = silent.port
    silent.close()  # nothing listens there now
    refused = prober(ca).probe(NAME, ProbeSpec(port=port, timeout=1))
    assert refused.stage == "tcp"
    assert "connection refused" in refused.detail


def test_a_path_that_would_split_the_request_line_is_refused() -> None:
    with pytest.raises(ValueError, match="probe path"):
        ProbeSpec(path="/ HTTP/1.0\r\nX: y")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_live_needs_every_name_to_answer_twice_in_a_row(ca: TestCA, site: Site) -> None:
    clock = FakeClock()
    policy = LivenessPolicy(interval=5, specs={"pro": spec(site.port)})
    watch = LivenessWatch(prober(ca), policy, clock=clock)
    watch.watch("acme", [NAME, "shop.acme.example"], "pro")
    assert watch.run_once() == []  # one success each: not yet
    assert watch.run_once() == []  # not due again before the interval
    clock.now += 5
    [verdict] = watch.run_once()
    assert verdict.slug == "acme"
    assert verdict.status == "live"
    assert watch.watching == frozenset()
    assert site.requests == 4
    assert sorted(set(site.hosts)) == [NAME, "shop.acme.example"]


def test_one_failure_between_successes_starts_the_count_again(ca: TestCA, site: Site) -> None:
    clock = FakeClock()
    watch = LivenessWatch(prober(ca), LivenessPolicy(specs={"pro": spec(site.port)}), clock=clock)
    watch.watch("acme", [NAME], "pro")
    for status in (200, 502, 200):
        site.behaviour = Behaviour(status=status)
        assert watch.run_once() == []
        clock.now += 60
    [verdict] = watch.run_once()
    assert verdict.status == "live"


def test_slow_start_then_failed_past_the_deadline_then_live_after_all(
    ca: TestCA, site: Site
) -> None:
    clock = FakeClock()
    policy = LivenessPolicy(
        deadline=120, interval=5, max_interval=60, specs={"pro": spec(site.port)}
    )
    watch = LivenessWatch(prober(ca), policy, clock=clock)
    site.behaviour = Behaviour(status=502)  # nginx is up, the app is not yet
    watch.watch("acme", [NAME], "pro")
    verdicts = []
    probes = 0
    while clock.now < 1000 + 119:
        verdicts += watch.run_once()
        probes = site.requests
        due = watch.next_due()
        assert due is not None
        clock.now = max(due, clock.now + 0.001)
    assert verdicts == []
    # Backing off: far fewer probes than one per 5 s interval over two minutes.
    assert probes < 120 / 5
    clock.now = 1000 + 121
    [failed] = watch.run_once()
    assert failed.status == "failed"
    assert failed.detail == "HTTP: GET / answered 502 Bad Gateway, expected 200-399"
    assert watch.run_once() == []  # reported once, still watched
    site.behaviour = Behaviour()
    for _ in range(2):
        due = watch.next_due()
        assert due is not None
        clock.now = due
        verdicts = watch.run_once()
    assert [v.status for v in verdicts] == ["live"]


def test_probes_run_at_most_concurrency_at_a_time(ca: TestCA) -> None:
    names = [f"t{number}.tenants.example.com" for number in range(12)]
    wide = Site(*ca.issue(*names))
    try:
        policy = LivenessPolicy(concurrency=3, specs={"pro": spec(wide.port)})
        wide.behaviour = Behaviour(delay=0.2)
        watch = LivenessWatch(prober(ca, *names), policy, clock=FakeClock())
        for number, name in enumerate(names):
            watch.watch(f"t{number}", [name], "pro")
        watch.run_once()
        assert wide.requests == 12
        assert wide.most_in_flight <= 3
    finally:
        wide.close()
