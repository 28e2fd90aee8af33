"""Check the answers inside cookiecutter's own process, before it creates any folder.

cookiecutter renders `__answers_checked` (last in cookiecutter.json) with this filter once every
answer is known. A bad answer prints one line and ends the process with status 1: nothing is
written, and cookiecutter adds no "Stopping generation" line or traceback of its own, which it
does when a hook script fails. The check itself is `problem` in hooks/pre_gen_project.py.
cruft puts the template folder on sys.path too (create, update, diff), so it finds this module.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from jinja2 import Environment
from jinja2.ext import Extension

HOOK = Path(__file__).resolve().parent / "hooks" / "pre_gen_project.py"


def _load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_template_pre_gen_project", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_answers(answers: Mapping[str, object]) -> str:
    message = _load_hook().problem(answers)
    if message is not None:
        print(f"error: {message}", file=sys.stderr, flush=True)
        raise SystemExit(1)  # not an Exception: cookiecutter and cruft let it through untouched
    return "yes"


def absolute_path(path: str) -> str:
    return str(Path(path).resolve())


class AnswersExtension(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["check_answers"] = check_answers
        environment.filters["absolute_path"] = absolute_path
