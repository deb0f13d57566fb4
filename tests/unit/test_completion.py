"""Shell completion (issue 19: '_VMFLEET_COMPLETE=bash_source vmfleet' answered 'Shell source
not supported.'), --version, and help that reads naturally."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.deploy_env import make_fleet
from tests.helpers.fleet_env import fake_vm
from vmfleet.cli import completion, main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    yield from make_fleet(tmp_path, monkeypatch)


@pytest.fixture
def named(fleet):
    for name in ("web-1", "web-2", "db"):
        fake_vm(fleet.reg, fleet.conn, fleet.home, name, fleet.old, "local", domain=None)
    return fleet


def test_candidates_come_from_the_cli_and_the_registry(named):
    h = ["--home", str(named.home.root)]
    assert completion.candidates(["re"]) == ["redeploy", "report", "resolve"]
    assert completion.candidates(["fleet", ""]) == ["applies", "history", "show"]
    assert "--allow-downgrade" in completion.candidates(["redeploy", "--a"])
    assert completion.candidates([*h, "ssh", "web"]) == ["web-1", "web-2"]
    assert completion.candidates([*h, "deploy", "w"]) == ["web"]
    assert completion.candidates([*h, "redeploy", "web@"]) == ["web@1", "web@2"]
    assert completion.candidates([*h, "destroy", "web-1", "d"]) == ["db"]  # VM...: any position
    assert completion.candidates([*h, "deploy", "web", "--host", ""]) == ["local"]
    assert completion.candidates([*h, "plan", "--color", "a"]) == ["auto", "always"]
    assert completion.candidates(["--home", "/nonexistent", "ssh", ""]) == []


def test_completion_scripts_and_refusal(capsys):
    for shell in completion.SHELLS:
        assert main(["completion", shell]) == 0
        assert "vmfleet __complete" in capsys.readouterr().out
    assert main(["completion", "tcsh"]) == 2
    assert "use bash, zsh or fish" in capsys.readouterr().err


def _script(shell: str, named) -> tuple[str, dict]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "VMFLEET_HOME": str(named.home.root)}
    return subprocess.run([sys.executable, "-m", "vmfleet", "completion", shell], env=env,
                          capture_output=True, text=True, check=True).stdout, env


def test_bash_completes_vm_names_through_the_script(named, tmp_path):
    """The bash script, run by bash, calling the installed vmfleet."""
    script, env = _script("bash", named)
    probe = (script + '\nCOMP_WORDS=(vmfleet ssh "web-"); COMP_CWORD=2; _vmfleet_complete; '
             'printf "%s\\n" "${COMPREPLY[@]}"\n')
    out = subprocess.run(["bash", "--norc", "-c", probe], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.split() == ["web-1", "web-2"], out.stderr


def test_zsh_completes_vm_names_through_the_script(named):
    """The zsh script, run by zsh (no rc files), its function called as the completion system
    would: ``words`` and ``CURRENT`` set, ``compadd`` recording what it is given."""
    script, env = _script("zsh", named)
    probe = ("compdef() { : }\ncompadd() { [[ $1 == -a ]] && print -rl -- \"${(@P)2}\" }\n" + script
             + "\nwords=(vmfleet ssh web-); CURRENT=3; _vmfleet_complete\n")
    out = subprocess.run(["zsh", "-f", "-c", probe], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.split() == ["web-1", "web-2"], out.stderr


def test_fish_completes_vm_names_through_the_script(named):
    """The fish script, loaded by fish, asked as fish's own ``complete -C`` asks it."""
    script, env = _script("fish", named)
    probe = script + "\ncomplete -C 'vmfleet ssh web-'\n"
    out = subprocess.run(["fish", "--no-config", "-c", probe], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.split() == ["web-1", "web-2"], out.stderr


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("vmfleet ")


def help_of(capsys, *args) -> str:
    main([*args, "--help"])
    return capsys.readouterr().out


def test_help_reads_naturally(capsys):
    """Issue 19: '[[SPEC]...]...', '{SPEC}', '<str>', '<list[str]>' and a command list cut
    with '...'."""
    top = help_of(capsys)
    assert "<str>" not in top and "--home DIR" in top
    assert "..." not in top.split("Commands:")[1]
    assert "Remove VMs: their domains, disk overlays, console logs and" in top
    check = help_of(capsys, "check")
    assert "Usage: vmfleet check [OPTIONS] [SPEC]..." in check and "<list[str]>" not in check
    destroy = help_of(capsys, "destroy")
    assert "Usage: vmfleet destroy [OPTIONS] VM..." in destroy and "{" not in destroy
    deploy = help_of(capsys, "deploy")
    assert "Usage: vmfleet deploy [OPTIONS] SPEC\n" in deploy
    assert "--builder BUILDER" in deploy and "--vcpus N" in deploy and "<" not in deploy
    for name in ("apply", "plan", "ps", "prune", "redeploy", "inspect", "diff", "import"):
        text = help_of(capsys, *name.split())
        assert "<str>" not in text and "<int>" not in text and "<list" not in text, name
