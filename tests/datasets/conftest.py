"""Fixtures of the dataset tests."""

import pytest


@pytest.fixture
def home(monkeypatch, tmp_path):
    """An empty HOME (so an empty cache) and no DEEPGRAD_DATA."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DEEPGRAD_DATA", raising=False)
    return tmp_path / "home"
