import pytest

from vmfleet.registry.db import Registry


@pytest.fixture
def reg():
    r = Registry.memory()
    yield r
    r.close()
