"""Every test here runs with one torch thread (fixture in test/unit/conftest.py)."""
import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    yield
