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
    """A figure the issue asks for, shown as PASS or MISS; nothing fails on it.

    `measured` is None when this run could not measure it; `note` says why, or what to keep in
    mind when reading the figure.
    """

    name: str
    measured: float | None
    goal: float
    at_most: bool = False
    unit: str = ""
    note: str = ""

    @property
    def met(self) -> bool:
        if self.measured is None:
            return False
        return self.measured <= self.goal if self.at_most else self.measured >= self.goal

    @property
    def verdict(self) -> str:
        if self.measured is None:
            return "n/a"
        return "PASS" if self.met else "MISS"

    def render(self) -> str:
        sign = "<=" if self.at_most else ">="
        value = "not measured" if self.measured is None else f"{self.measured:.2f}{self.unit}"
        note = f"; {self.note}" if self.note else ""
        goal = f"{self.goal:g}{self.unit}"
        return f"  {self.verdict:4}  {self.name}: {value} (target {sign} {goal}){note}"


def summary(targets: list[Target]) -> str:
    """One line: how many targets passed, and the ones that did not."""
    passed = sum(target.met for target in targets)
    line = f"Summary: {passed} of {len(targets)} targets PASS"
    others = [
        f"{target.name} {target.verdict}"
        + ("" if target.measured is None else f" {target.measured:.2f}{target.unit}")
        for target in targets
        if not target.met
    ]
    return line + (f"; not met: {', '.join(others)}" if others else "")


# What a group of benchmarks prints: its sections, and the targets it checked.
Rendered = tuple[list[str], list[Target]]


def ms(microseconds: float) -> str:
    return f"{microseconds / 1000:.1f} ms"


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline else "n/a"


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"
