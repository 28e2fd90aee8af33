"""The sample's one feature."""

from sample import notes

FEATURES = [notes.feature]
