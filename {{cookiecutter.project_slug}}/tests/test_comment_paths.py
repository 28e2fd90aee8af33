"""Every file a comment or a docstring names exists: a module that moves takes its mentions along.

A name is looked up beside the file that mentions it, then under the chassis package, the app
package, the chassis project and the project root, so `web/metrics.py`, `jobs/_worker/metrics.py`,
`digests/settings.py` and `migrations/env.py` all resolve. Migrations are left out: each
describes the tree as it was when it was written, and is never edited afterwards.
"""

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import PROJECT_ROOT

CHASSIS = PROJECT_ROOT / "chassis"
SCANNED = [CHASSIS, PROJECT_ROOT / "src", PROJECT_ROOT / "tests", PROJECT_ROOT / "bench"]
BASES = [
    CHASSIS / "src" / "chassis",
    PROJECT_ROOT / "src" / "{{ cookiecutter.package_name }}",
    CHASSIS,
    PROJECT_ROOT,
]
SKIPPED_PARTS = {".venv", "__pycache__", "migrations"}
EXTENSIONS = "py|toml|ini|cfg|yaml|yml|json|md|sh|txt|lock|example"
# A file name, with or without its folders. Not a piece of a longer path or URL: what precedes it
# is neither a name character, a dot, a slash nor a dash.
FILE_REFERENCE = re.compile(rf"(?<![\w./-])((?:[\w.-]+/)*[\w.-]+\.(?:{EXTENSIONS}))(?![\w/])")


def prose(source: str) -> Iterator[tuple[int, str]]:
    """The comments and docstrings of a module, with the line each starts on."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    documented = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, documented) and (docstring := ast.get_docstring(node, clean=False)):
            yield node.body[0].lineno, docstring


def missing_references(path: Path) -> list[str]:
    """`path:line: name` for each file its prose names that is nowhere to be found."""
    shown = path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path.name
    return [
        f"{shown}:{line}: {name}"
        for line, text in prose(path.read_text())
        for name in FILE_REFERENCE.findall(text)
        if not any((base / name).exists() for base in [path.parent, *BASES])
    ]


def scanned_modules() -> list[Path]:
    return [
        path
        for folder in SCANNED
        for path in sorted(folder.rglob("*.py"))
        if not SKIPPED_PARTS & set(path.relative_to(PROJECT_ROOT).parts)
    ]


def test_every_file_named_in_a_comment_exists() -> None:
    stale = [reference for path in scanned_modules() for reference in missing_references(path)]
    assert stale == [], "comments name files that are not there:\n" + "\n".join(stale)


def test_a_comment_naming_a_moved_file_is_found(tmp_path: Path) -> None:
    module = tmp_path / "moved.py"
    module.write_text('"""Served by `web/metrics.py`."""\n\n# The limiter lives in core/gcra.py.\n')
    assert missing_references(module) == ["moved.py:3: core/gcra.py"]


def test_the_scan_covers_the_chassis_and_the_app() -> None:
    folders = {path.relative_to(PROJECT_ROOT).parts[0] for path in scanned_modules()}
    assert {"chassis", "src", "tests"} <= folders
