"""Every setting the service reads is documented in .env.example, and nothing else is."""

import re

from {{ cookiecutter.package_name }}.service import SERVICE
from {{ cookiecutter.package_name }}.settings import Settings
from tests.conftest import PROJECT_ROOT

# Passwords of a local Postgres and Redis that the deploy files read from .env; the service does not.
LOCAL_SERVICE_PASSWORDS = {"POSTGRES_PASSWORD", "REDIS_PASSWORD"}


def setting_names() -> set[str]:
    """Every setting's variable: the service's, then each feature's, with its prefix."""
    names = {name.upper() for name in Settings.model_fields}
    for feature in SERVICE.load_features():
        for model in feature.settings:
            prefix = str(model.model_config.get("env_prefix") or "").upper()
            names |= {prefix + name.upper() for name in model.model_fields}
    return names


def test_env_example_lists_exactly_the_settings() -> None:
    text = (PROJECT_ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    assert listed - LOCAL_SERVICE_PASSWORDS == setting_names()
