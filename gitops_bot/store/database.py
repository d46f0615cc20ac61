"""The SQLite file every process shares: one connection, and writers taking turns."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from gitops_bot.store import migrations


class Database:
    """One connection to the SQLite file shared by every web worker and the writer.

    Open one per thread (sqlite3 connections are not shared between threads).
    """

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        # isolation_level=None: transactions are explicit, so BEGIN IMMEDIATE means what it says.
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        # Writers queue on this lock before they ask SQLite for its own (see transaction).
        self._write_lock = os.open(
            path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
        try:
            self._use_wal()
        except BaseException:
            self.close()
            raise

    def _use_wal(self) -> None:
        """Switch a fresh file to WAL, once, while no other process is doing the same.

        WAL is persistent, so only the first opener changes anything. The switch needs an
        exclusive lock for which SQLite may answer "database is locked" at once rather
        than wait, as it did when gunicorn booted four workers on a fresh file: taking
        our turn first leaves SQLite nobody to race. Only then: a file already in WAL
        must open without waiting for a writer's turn, which may be this very thread's.
        """
        if self._journal_mode() == "wal":
            return
        with self._turn():
            if self._journal_mode() != "wal":
                self._db.execute("PRAGMA journal_mode = WAL")

    def _journal_mode(self) -> str:
        (mode,) = self._db.execute("PRAGMA journal_mode").fetchone()
        return str(mode)

    def close(self) -> None:
        self._db.close()
        os.close(self._write_lock)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """For the modules that own their own tables (outbox, errors) and read models."""
        return self._db

    def migrate(self) -> None:
        """Bring the file's schema up to date, under the writers' lock and in one transaction,
        so workers starting together migrate it once and nobody reads a half-migrated file."""
        with self._turn():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                migrations.upgrade(self._db, self._path)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """This connection's turn to write, in the order writers asked for it."""
        fcntl.flock(self._write_lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._write_lock, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock up front, so concurrent intakes serialise.

        Nested use joins the outer transaction. Writers first wait their turn on a file
        lock, which the kernel hands to the next waiter the moment it is released: SQLite's
        own busy handler instead sleeps and retries (up to 100 ms a time), which under a
        burst of signups leaves the lock idle while every writer sleeps, and starves some.
        """
        if self._db.in_transaction:
            yield self._db
            return
        with self._turn():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _scalar(self, sql: str, *args: object) -> Any:
        row = self._db.execute(sql, args).fetchone()
        return None if row is None else row[0]
