import pytest

from vmfleet.registry.db import Registry


@pytest.fixture
def reg():
    r = Registry.memory()
    yield r
    r.close()


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind(request, tmp_path_factory):
    """The run fails if it leaves a domain, storage pool or volume, /tmp directory, sshd or QEMU
    of its own behind (tests.helpers.leaks: only this run's, never a concurrent run's)."""
    from tests.helpers import leaks
    from tests.helpers.deploy_env import system_uri

    basetemp = str(tmp_path_factory.getbasetemp())
    yield
    ran_integration = any(item.get_closest_marker("integration") for item in request.session.items)
    found = leaks.leftovers([leaks.RUN, basetemp], system_uri() if ran_integration else None)
    if found:
        pytest.fail("the tests left these behind:\n  " + "\n  ".join(found), pytrace=False)
