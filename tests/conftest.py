import pytest

from vmfleet.registry import Registry


@pytest.fixture
def reg():
    r = Registry.memory()
    yield r
    r.close()
