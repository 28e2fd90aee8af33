"""Plain-text tables and target lines for the benchmark output."""

from dataclasses import dataclass, field


@dataclass
class Table:
    title: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append(tuple(str(cell) for cell in cells))

    def render(self) -> str:
        widths = [
            max(len(row[i]) for row in [self.header, *self.rows]) for i in range(len(self.header))
        ]

        def line(row: tuple[str, ...]) -> str:
            first = row[0].ljust(widths[0])
            rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
            return "  " + "  ".join([first, *rest]).rstrip()

        out = [self.title, line(self.header), "  " + "-" * (sum(widths) + 2 * len(widths) - 2)]
        out += [line(row) for row in self.rows]
        out += [f"  {note}" for note in self.notes]
        return "\n".join(out)


@dataclass(frozen=True)
class Target:
    """A ratio the issue asks for, shown as met or missed; nothing fails on it."""

    name: str
    measured: float
    goal: float
    at_most: bool = False

    @property
    def met(self) -> bool:
        return self.measured <= self.goal if self.at_most else self.measured >= self.goal

    def render(self) -> str:
        sign = "<=" if self.at_most else ">="
        verdict = "met" if self.met else "MISSED"
        return f"  {verdict:6}  {self.name}: {self.measured:.2f} (target {sign} {self.goal:g})"


# What a group of benchmarks prints: its sections, and the targets it checked.
Rendered = tuple[list[str], list[Target]]


def ms(microseconds: float) -> str:
    return f"{microseconds / 1000:.1f} ms"


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline else "n/a"


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"
