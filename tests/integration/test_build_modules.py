"""A multi-module config repository imported from git history and built by the stand-in from
the registry alone, in an empty directory (issue 8)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.helpers import corpus
from tests.helpers.cli import in_process
from tests.helpers.standin import standin_env

pytestmark = pytest.mark.integration


@pytest.fixture
def fleet_repo(tmp_path, monkeypatch, capsys):
    """The stand-in, an initialised home (``vm`` runs vmfleet on it) and the example module
    repository as a git history."""
    for key, value in standin_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    vm = in_process(capsys, tmp_path / "home")
    history = corpus.build(tmp_path / "repo")
    assert vm("init")[0] == 0
    return vm, history


def test_fleet_repo_builds_from_the_registry_alone(fleet_repo, tmp_path, monkeypatch):
    vm, history = fleet_repo
    code, out, err = vm("import", str(history.repo), "-L", corpus.FLEET_LOAD_PATH[0],
                        "--system", f"web={corpus.FLEET_HOSTS['web']}",
                        "--channels", corpus.FLEET_CHANNELS, "--json")
    assert code == 0, err
    assert json.loads(out)[0]["recorded"] == ["web@1", "web@2", "web@3"]
    shutil.rmtree(history.repo)          # from here on, only the registry has the inputs
    monkeypatch.chdir(tmp_path)

    code, out, _ = vm("show", "web@3", "--inputs", "--json")
    roles = {r["path"]: r["role"] for r in json.loads(out)}
    assert roles[corpus.FLEET_HOSTS["web"]] == "config"
    assert roles[f"{corpus.FLEET_DIR}/acme/systems/base.scm"] == "module"
    assert roles[f"{corpus.FLEET_DIR}/acme/systems/accounts.scm"] == "include"
    assert roles["systems/vmfleet.pub"] == "local-file"

    code, out, err = vm("build", "web@3", "--json")
    assert code == 0, err
    build = json.loads(out)
    assert build["status"] == "succeeded"
    tail = build["command"][build["command"].index("--"):]
    assert tail == ["--", "system", "image", "-t", "qcow2", "--save-provenance",
                    "-L", corpus.FLEET_DIR, corpus.FLEET_HOSTS["web"]]
    assert build["command"][build["command"].index("-C") + 1] == "vmfleet-pinned-channels.scm"


def test_a_module_only_os_builds_with_an_expression_and_inspect_takes_the_registrys_config(
        fleet_repo, tmp_path, monkeypatch):
    """`--system NAME=FILE:VARIABLE` of a module that only defines its OS: vmfleet builds it
    with -e '(@ (module) VARIABLE)' (guix/scripts/system.scm@6298c3ffd965:1051), the image's
    provenance then says (configuration-file #f) with no configuration.scm
    (gnu/services.scm@8e2f32cee982:480), and inspect --config prints the registry's config."""
    vm, history = fleet_repo
    base = f"{corpus.FLEET_DIR}/acme/systems/base.scm"
    code, out, err = vm("import", str(history.repo), "-L", corpus.FLEET_LOAD_PATH[0],
                        "--system", f"base={base}:%acme-base-os",
                        "--channels", corpus.FLEET_CHANNELS, "--json")
    assert code == 0, err
    monkeypatch.chdir(tmp_path)
    code, out, err = vm("build", "base", "--json")
    assert code == 0, err
    command = json.loads(out)["command"]
    assert command[command.index("-e") + 1] == "(@ (acme systems base) %acme-base-os)"
    # -L absolute with -e: Guix's current-source-directory needs it (build/builds.py)
    load_dir = command[command.index("-L") + 1]
    assert load_dir.startswith("/") and load_dir.endswith("/" + corpus.FLEET_LOAD_PATH[0])
    code, out, err = vm("inspect", "base", "--config")
    assert code == 0, err
    assert "(define-module (acme systems base)" in out
    assert "built from an expression" in err and "registry's record of base" in err
    code, out, err = vm("inspect", "base", "--json")
    assert code == 0, err
