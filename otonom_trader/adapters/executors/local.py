"""The local executor: every chunk in this process, in order (the kernel is parallel)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class LocalExecutor:
    name = "local"
    notes: tuple[str, ...] = ()  # the evaluator's own notes are all there is

    @staticmethod
    def needs_values(combinations) -> bool:
        """The chunks come with their values (``map`` evaluates them as they are)."""
        return True

    def map(self, evaluator, chunks: Iterable, combinations=None) -> Iterator:
        """``evaluator.evaluate`` of each chunk, in chunk order (``combinations``: unused)."""
        for chunk in chunks:
            yield evaluator.evaluate(chunk.run_numbers, chunk.values)

    def close(self) -> None:
        pass
