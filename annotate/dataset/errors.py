"""The one error the dataset code raises: a list of problems, each naming its place in the input."""

from __future__ import annotations

# Long lists help nobody: the first problems are enough to fix the file and try again.
MAX_LISTED = 20


class DatasetError(Exception):
    """Bad input or a collision; nothing was written. `problems` are human-readable, each with its place."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        listed = self.problems[:MAX_LISTED]
        more = len(self.problems) - len(listed)
        text = "\n".join(listed)
        if more:
            text += f"\n... and {more} more problem{'s' if more != 1 else ''}"
        return text


class Problems:
    """Collects validation problems so a whole file is checked before anything is reported."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise DatasetError(self.items)
