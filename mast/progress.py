"""Rich progress bars for long steps.

Library code never imports rich: a long-running function takes an optional
``progress`` callable ``progress(step, completed, total)`` and calls it as it
goes.  :func:`progress_bar` supplies one that draws a bar per step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()


@contextmanager
def progress_bar() -> Iterator:
    """Yield a ``progress(step, completed, total)`` callable bound to a rich display."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(step: str, completed: float, total: float) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=completed, total=total)

        yield update
