"""The arq adapter was written against one arq release; an upgrade must start by rereading it."""

import inspect

import arq
from arq.worker import Worker as ArqWorker
from chassis.jobs._worker import _arq


def test_installed_arq_is_the_release_the_adapter_was_written_for() -> None:
    assert arq.VERSION == _arq.WRITTEN_FOR


def test_every_arq_method_the_adapter_overrides_still_exists() -> None:
    overridden = {
        name
        for name, member in vars(_arq.Worker).items()
        if inspect.isfunction(member) and not name.startswith("__")
    }
    ours = {"_forget_unsaved_jobs", "_redis_answers", "_redis_is_down"}
    assert overridden - ours <= set(dir(ArqWorker))
