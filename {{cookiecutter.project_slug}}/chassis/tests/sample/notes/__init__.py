"""Notes: a route that accepts a job, a task that writes one row per job, and a cron task."""

from chassis.service import Feature

from sample.notes.tasks import NotesSettings, tally_notes, write_note

feature = Feature(
    name="notes",
    router="sample.notes.router:router",
    tasks=[write_note, tally_notes],
    settings=[NotesSettings],
    models=["sample.notes.models"],
)
