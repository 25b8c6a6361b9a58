"""A progress display for long CLI work: a ``rich`` bar on a terminal, plain lines elsewhere.

Callers report ``progress(done, total, what)``; each new ``what`` is a new bar (or line). Off a
terminal (a log, a pipe, CI) a line is printed when a stage starts, every 10 % and when it ends,
so logs stay short.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

import click

Progress = Callable[[int, int, str], None]


@contextmanager
def progress_display(*, err: bool = True) -> Iterator[Progress]:
    stream = sys.stderr if err else sys.stdout
    if stream.isatty():
        with _rich(stream) as report:
            yield report
    else:
        yield _plain(err)


@contextmanager
def _rich(stream) -> Iterator[Progress]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn
    with Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
             console=Console(file=stream), transient=False) as bar:
        tasks: dict[str, int] = {}

        def report(done: int, total: int, what: str) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=max(total, 1))
            bar.update(tasks[what], completed=done if total else 1, total=max(total, 1))
        yield report


def _plain(err: bool) -> Progress:
    shown: dict[str, int] = {}

    def report(done: int, total: int, what: str) -> None:
        tenth = 10 if total <= 0 else (done * 10) // total
        if shown.get(what) == tenth:
            return
        if what in shown and tenth < shown[what]:
            return  # a restarted count: only forward steps are shown
        shown[what] = tenth
        click.echo(f"{what}: {done}/{total}", err=err)
    return report
