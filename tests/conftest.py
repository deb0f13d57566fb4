import pytest

from vmfleet.registry.db import Registry


@pytest.fixture
def reg():
    r = Registry.memory()
    yield r
    r.close()


@pytest.fixture
def git_fleet(tmp_path):
    """A git repository of configs with a dated history (tests.helpers.fleet.dated_fleet_repo)."""
    from tests.helpers.fleet import dated_fleet_repo

    return dated_fleet_repo(tmp_path / "fleet")


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind(request, tmp_path_factory):
    """The run fails if it leaves a domain, storage pool or volume, /tmp directory, sshd or QEMU
    of its own behind (tests.helpers.leaks: only this run's, never a concurrent run's)."""
    from tests.helpers import leaks
    from tests.helpers.deploy_env import system_uri

    basetemp = str(tmp_path_factory.getbasetemp()) + "/"  # pytest-14/ is not pytest-145/
    yield
    ran_integration = any(item.get_closest_marker("integration") for item in request.session.items)
    found = leaks.leftovers([leaks.RUN, basetemp], system_uri() if ran_integration else None)
    if found:
        pytest.fail("the tests left these behind:\n  " + "\n  ".join(found), pytrace=False)


def pytest_collection_modifyitems(items):
    """Integration tests first: they are the long ones (TCG boots), and scripts/test.sh runs files
    on parallel workers one file at a time, so a long file that starts last finishes last."""
    items.sort(key=lambda item: item.get_closest_marker("integration") is None)
