"""The real-Guix tier (``-m realguix``): runs only when asked for by marker and when
scripts/real-guix.sh has built a Guix; otherwise every test here is skipped at once, so the
default suite does not get slower."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import corpus
from tests.helpers import real_guix as real


def pytest_collection_modifyitems(config, items):
    asked = "realguix" in (config.getoption("markexpr") or "")
    built = real.find_built() if asked else None
    why = ("the real-Guix tier runs only with -m realguix (VMFLEET_GUIX_SOURCE=… scripts/real-guix.sh)"
           if not asked else
           f"no built Guix in {real.cache_root()} (build one: VMFLEET_GUIX_SOURCE=/path/to/guix.git "
           "scripts/real-guix.sh)" if built is None else None)
    if why:
        for item in items:
            if item.get_closest_marker("realguix"):
                item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="session")
def built_guix():
    built = real.find_built()
    if built is None:
        pytest.skip("no built Guix: run scripts/real-guix.sh")
    with real.daemon(built):
        yield built


@pytest.fixture(scope="session")
def real_guix(built_guix):
    return real.real_side(built_guix)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    """The corpus laid out with its absolute names made real, a stand-in store and a channels
    file at the built revision; removed at the end."""
    base = tmp_path_factory.mktemp("realguix")
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def corpus_dir(workdir):
    return corpus.copy_corpus(workdir / "corpus", workdir / "absroot")


@pytest.fixture(scope="session")
def standin(workdir):
    return real.standin_side(workdir / "standin-store")


@pytest.fixture(scope="session")
def channels(workdir, built_guix):
    return real.pinned_channels(workdir / "channels.scm", built_guix.commit)


@pytest.fixture(scope="session")
def evaluations(real_guix, standin, channels, corpus_dir):
    """(case, real run, stand-in run) for every case: the real side runs one at a time beside
    the stand-in (two cores)."""
    def both(case):
        def one(side):
            return side.evaluate(channels, case.config, case.cwd, load_path=case.load_path,
                                 expression=case.expression)
        return case, one(real_guix), one(standin)

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(both, real.all_cases(corpus_dir)))
