"""`gitops-bot worker`: the one writer, with the notifier, the probe and rollouts beside it."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitops_bot.config import Settings
    from gitops_bot.deploy.live import LiveRunner
    from gitops_bot.deploy.rollout import RolloutRunner


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("worker", help="run the writer that commits queued events")
    parser.set_defaults(func=run)


def run(_args: argparse.Namespace) -> int:
    from gitops_bot import logs  # noqa: PLC0415
    from gitops_bot.backends.factory import open_state_repo  # noqa: PLC0415
    from gitops_bot.config import Settings  # noqa: PLC0415
    from gitops_bot.nix import nixeval  # noqa: PLC0415
    from gitops_bot.nix.evaluation import LocalEvaluator  # noqa: PLC0415
    from gitops_bot.store import outbox  # noqa: PLC0415
    from gitops_bot.store.queue import Store  # noqa: PLC0415
    from gitops_bot.writer.writer import Writer, writer_lock  # noqa: PLC0415

    settings = Settings()
    if settings.notify_url is not None:
        settings = settings.require_secrets(only=["notify_secret"])
    logs.protect(settings.secret_values())
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with (
        writer_lock(settings.state_dir),
        Store(settings.database_path, synchronous=settings.synchronous) as store,
    ):
        store.migrate()
        outbox.enable(store.connection, settings.notify_url is not None)
        # Started under the writer's lock, so that a second worker waiting for it never
        # delivers the same messages at the same time.
        notifier = _start_notifier(settings, stop)
        verifier = _start_verifier(settings, stop)
        repo = open_state_repo(settings)
        evaluator, evaluating = None, None
        if settings.backend == "local" and LocalEvaluator.available():
            evaluator = LocalEvaluator(settings.writer_clone)
            evaluating = threading.Thread(
                target=evaluator.run_until, args=(stop, settings), name="evaluator", daemon=True
            )
            evaluating.start()
        prober, probing = _start_prober(settings, stop)
        # Rollouts wait on the probe's verdicts and queue through the writer, beside both.
        roller, rolling = _start_roller(settings, stop)
        try:
            Writer(store=store, repo=repo, settings=settings).run(stop)
        finally:
            repo.close()
            stop.set()
            if notifier is not None:
                notifier.join(timeout=15)
            verifier.join(timeout=settings.dns_timeout * 2 + 1)
            if evaluating is not None:
                evaluating.join(timeout=nixeval.EVAL_TIMEOUT)
            if probing is not None:
                probing.join(timeout=settings.probe_timeout * 4)
            rolling.join(timeout=15)
    # A clean exit means "asked to stop" to `serve`, which then does not restart us.
    failed = (
        (evaluator is not None and evaluator.failed)
        or (prober is not None and prober.failed)
        or roller.failed
    )
    return 1 if failed else 0


def _start_prober(
    settings: Settings, stop: threading.Event
) -> tuple[LiveRunner | None, threading.Thread | None]:
    """The liveness probe as a thread, when it is on: probes never delay a commit."""
    from gitops_bot.backends.factory import open_state_repo  # noqa: PLC0415
    from gitops_bot.deploy.live import LiveRunner  # noqa: PLC0415
    from gitops_bot.deploy.pull import PullTracker  # noqa: PLC0415

    if not settings.probe:
        return None, None
    # Its own state repo, for the prober's thread: what comin hosts run is matched to
    # tenants' commits there, never through the writer's.
    pull = PullTracker(
        lambda: open_state_repo(settings),
        interval=settings.comin_interval,
        timeout=settings.comin_timeout,
    )
    prober = LiveRunner(settings, pull=pull)
    probing = threading.Thread(target=prober.run_until, args=(stop,), name="prober", daemon=True)
    probing.start()
    return prober, probing


def _start_roller(
    settings: Settings, stop: threading.Event
) -> tuple[RolloutRunner, threading.Thread]:
    from gitops_bot.deploy.rollout import RolloutRunner  # noqa: PLC0415

    roller = RolloutRunner(settings)
    rolling = threading.Thread(target=roller.run_until, args=(stop,), name="rollout", daemon=True)
    rolling.start()
    return roller, rolling


def _start_notifier(settings: Settings, stop: threading.Event) -> threading.Thread | None:
    """The notifier as a thread: a slow landing page never holds up a commit."""
    from gitops_bot.intake.notify import Notifier  # noqa: PLC0415

    if settings.notify_url is None or settings.notify_secret is None:
        return None
    notifier = Notifier(
        database=settings.database_path,
        url=settings.notify_url,
        secret=settings.notify_secret.get_secret_value(),
        attempts=settings.notify_attempts,
        synchronous=settings.synchronous,
    )
    thread = threading.Thread(target=notifier.run, args=(stop,), name="notifier", daemon=True)
    thread.start()
    return thread


def _start_verifier(settings: Settings, stop: threading.Event) -> threading.Thread:
    """The domain verifier as a thread of the one worker: one process asks DNS, not every web
    worker, and a slow resolver never holds up a commit."""
    from gitops_bot.writer.verifier import run_verifier  # noqa: PLC0415

    thread = threading.Thread(
        target=run_verifier, args=(settings, stop), name="verifier", daemon=True
    )
    thread.start()
    return thread
