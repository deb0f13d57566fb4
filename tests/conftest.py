import os
import shutil
from pathlib import Path

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


@pytest.fixture(scope="session", autouse=True)
def standin_store(nothing_left_behind):
    """The guix stand-in's store for the tests that do not give it one: one per test process,
    removed at the end. (Its default, ~/.cache/vmfleet-standin/store, grew by every run's
    builds: 5 GB after a day of runs.) Named for the run, so a failed removal is reported."""
    from tests.helpers import leaks

    store = Path(f"/tmp/vmfleet-test-standin-{leaks.RUN}-{os.getpid()}")
    saved = os.environ.get("VMFLEET_STANDIN_STORE")
    os.environ["VMFLEET_STANDIN_STORE"] = str(store)
    yield store
    if saved is None:
        os.environ.pop("VMFLEET_STANDIN_STORE", None)
    else:
        os.environ["VMFLEET_STANDIN_STORE"] = saved
    shutil.rmtree(store, ignore_errors=True)


def pytest_collection_modifyitems(items):
    """Integration tests first: they are the long ones (TCG boots), and scripts/test.sh runs files
    on parallel workers one file at a time, so a long file that starts last finishes last."""
    items.sort(key=lambda item: item.get_closest_marker("integration") is None)
