import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


@pytest.fixture
def shared_data():
  """The team's ../shared/data folder; tests that need it skip without it."""
  if not os.path.isdir(SHARED_DATA):
    pytest.skip("../shared/data is not present")
  return SHARED_DATA


def pytest_configure(config):
  # Registered, not deselected: slow tests (e.g. two-worker training) run in CI too;
  # `-m "not slow"` skips them locally.
  config.addinivalue_line("markers", "slow: long end-to-end test (runs by default, in CI too)")
