"""`gitops-bot worker`: the one writer, draining the queue into commits until stopped."""

from __future__ import annotations

import argparse
import signal
import threading


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("worker", help="run the writer that commits queued events")
    parser.set_defaults(func=run)


def run(_args: argparse.Namespace) -> int:
    from gitops_bot import nixeval  # noqa: PLC0415
    from gitops_bot.backends import open_state_repo  # noqa: PLC0415
    from gitops_bot.config import Settings  # noqa: PLC0415
    from gitops_bot.evaluation import LocalEvaluator  # noqa: PLC0415
    from gitops_bot.queue import Store  # noqa: PLC0415
    from gitops_bot.writer import Writer, writer_lock  # noqa: PLC0415

    settings = Settings()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with (
        writer_lock(settings.state_dir),
        Store(settings.database_path, synchronous=settings.synchronous) as store,
    ):
        store.migrate()
        repo = open_state_repo(settings)
        evaluating = None
        if settings.backend == "local" and LocalEvaluator.available():
            evaluator = LocalEvaluator(settings.writer_clone)
            evaluating = threading.Thread(
                target=evaluator.run_until, args=(stop, settings), name="evaluator", daemon=True
            )
            evaluating.start()
        try:
            Writer(store=store, repo=repo, settings=settings).run(stop)
        finally:
            repo.close()
            stop.set()
            if evaluating is not None:
                evaluating.join(timeout=nixeval.EVAL_TIMEOUT)
    return 0
