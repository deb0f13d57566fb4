import pytest

from tests.helpers.fleet import channels_scm, os_config
from tests.helpers.pins import C_2023_03, V1_4_0
from vmfleet.errors import SchemeError, UsageError
from vmfleet.registry import generations
from vmfleet.registry.generations import Inputs

C1, C2 = V1_4_0, C_2023_03
KEY = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2n1jeq3y0HHqkYGmXkJj5cSgu0kDm2Jz3wPE3oqJ1E test\n"


def inputs(packages=("nginx",), commit=C1, key=KEY):
    return Inputs("web.scm", os_config("web", packages), channels_scm(commit), {"vmfleet.pub": key})


def test_record_stores_everything_needed_to_rebuild(reg, tmp_path):
    gen, created = generations.record(reg, "web", inputs(), current_from="2023-06-01T00:00:00Z")
    assert created and gen.label == "web@1" and gen.guix_commit == C1
    assert "nginx" in gen.summary["packages"]
    config, channels = generations.materialize(reg, gen, tmp_path / "out")
    assert config.read_text() == os_config("web", ("nginx",))
    assert C1 in channels.read_text()
    assert (tmp_path / "out" / "vmfleet.pub").read_bytes() == KEY


def test_unchanged_inputs_record_nothing(reg):
    generations.record(reg, "web", inputs(), current_from="2023-06-01T00:00:00Z")
    gen, created = generations.record(reg, "web", inputs(), current_from="2023-07-01T00:00:00Z")
    assert not created and gen.number == 1


def test_a_changed_local_file_is_a_new_generation(reg):
    generations.record(reg, "web", inputs(), current_from="2023-06-01T00:00:00Z")
    gen, created = generations.record(reg, "web", inputs(key=KEY.replace(b"test", b"other")),
                                      current_from="2023-07-01T00:00:00Z")
    assert created and gen.number == 2


def test_unpinned_channel_is_refused_unless_allowed(reg):
    with pytest.raises(UsageError, match="no commit"):
        generations.record(reg, "web", inputs(commit=None), current_from="2023-06-01T00:00:00Z")
    assert reg.query("SELECT * FROM generations") == []
    gen, _ = generations.record(reg, "web", inputs(commit=None), current_from="2023-06-01T00:00:00Z",
                                allow_unpinned=True)
    assert gen.unpinned


@pytest.mark.parametrize("name", ["../x", "we/b", "a b", "Web", "-web", ""])
def test_bad_system_names(reg, name):
    with pytest.raises(UsageError, match="invalid system name"):
        generations.record(reg, name, inputs(), current_from="2023-06-01T00:00:00Z")


def test_not_an_operating_system(reg):
    bad = Inputs("web.scm", "(define x 1)\n", channels_scm(C1))
    with pytest.raises(SchemeError, match="operating-system"):
        generations.record(reg, "web", bad, current_from="2023-06-01T00:00:00Z")


def test_read_inputs_reports_missing_local_file(tmp_path):
    (tmp_path / "web.scm").write_text(os_config("web"))
    (tmp_path / "channels.scm").write_text(channels_scm(C1))
    with pytest.raises(UsageError, match=r'local-file "vmfleet.pub" not found \(looked for /'):
        generations.read_inputs(tmp_path / "web.scm", tmp_path / "channels.scm")


def test_local_file_outside_config_dir_is_recorded_and_laid_out(reg, tmp_path):
    """Guix reads ../ names (guix/gexp.scm: relative to the config's directory): so does
    vmfleet, and a build finds the file at the same relative place."""
    (tmp_path / "sys").mkdir()
    (tmp_path / "sys" / "web.scm").write_text(os_config("web", key_file="../keys/key.pub"))
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "key.pub").write_bytes(KEY)
    (tmp_path / "channels.scm").write_text(channels_scm(C1))
    got = generations.read_inputs(tmp_path / "sys" / "web.scm", tmp_path / "channels.scm",
                                  cwd=tmp_path / "sys")
    assert got.config_name == "sys/web.scm" and got.files == {"keys/key.pub": KEY}
    gen, _ = generations.record(reg, "web", got, current_from="2023-06-01T00:00:00Z")
    lay = generations.layout(reg, gen, tmp_path / "out")
    assert lay.run_dir == "sys" and lay.config == "web.scm"
    assert (tmp_path / "out" / "sys" / "../keys/key.pub").read_bytes() == KEY
    assert lay.channels == "../vmfleet-pinned-channels.scm"


def test_describe_change(reg):
    g1, _ = generations.record(reg, "web", inputs(("nginx", "curl")), current_from="2023-06-01T00:00:00Z")
    g2, _ = generations.record(reg, "web", inputs(("nginx", "git"), commit=C2),
                               current_from="2023-07-01T00:00:00Z")
    change = generations.describe_change(g1, g2)
    assert f"guix {V1_4_0[:7]}→{C_2023_03[:7]}" in change and "+git" in change and "-curl" in change


def test_a_plain_config_keeps_the_digest_it_had_before_issue_8():
    """Registries recorded before config repositories were supported: re-adding the same
    files must find the same generation, so the digest of a plain config is unchanged."""
    import hashlib

    from vmfleet.registry.db import dumps

    i = inputs()
    old = hashlib.sha256(dumps({
        "config": hashlib.sha256(i.config_text.encode()).hexdigest(),
        "channels": hashlib.sha256(i.channels_text.encode()).hexdigest(),
        "files": {p: hashlib.sha256(c).hexdigest() for p, c in sorted(i.files.items())},
    }).encode()).hexdigest()
    assert i.digest() == old
    assert Inputs(i.config_name, i.config_text, i.channels_text, i.files,
                  load_path=("modules",)).digest() != old


def test_a_config_named_like_an_option_reaches_guix_as_a_file(reg, tmp_path):
    named = Inputs("--expression=(x).scm", os_config("web", key_file=None), channels_scm(C1))
    gen, _ = generations.record(reg, "web", named, current_from="2023-06-01T00:00:00Z")
    lay = generations.layout(reg, gen, tmp_path / "out")
    assert lay.config == "./--expression=(x).scm"
    assert (tmp_path / "out" / lay.config).is_file()
