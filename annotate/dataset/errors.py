"""The one error the dataset code raises: a list of problems, each naming its place in the input."""

from __future__ import annotations

# Long lists help nobody: the first problems are enough to fix the file and try again.
MAX_LISTED = 20


# A streamed file can be bad on every one of millions of lines: only this many problems are kept, the rest counted.
MAX_KEPT = 1000


class DatasetError(Exception):
    """Bad input or a collision; nothing was written. `problems` are human-readable, each with its place.

    `total`: how many problems there were when only the first `problems` were kept (default: as many as listed).
    """

    def __init__(self, problems: list[str] | str, *, total: int | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.total = max(total or 0, len(self.problems))
        super().__init__(self.message)

    @property
    def message(self) -> str:
        listed = self.problems[:MAX_LISTED]
        more = self.total - len(listed)
        text = "\n".join(listed)
        if more:
            text += f"\n... and {more} more problem{'s' if more != 1 else ''}"
        return text


class Problems:
    """Collects validation problems so a whole file is checked before anything is reported."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.count = 0

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_KEPT:
            self.items.append(message)

    def extend(self, messages: list[str]) -> None:
        for message in messages:
            self.add(message)

    def __bool__(self) -> bool:
        return bool(self.count)

    def raise_if_any(self) -> None:
        if self.count:
            raise DatasetError(self.items, total=self.count)
