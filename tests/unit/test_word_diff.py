"""The human config diff shows, for a long changed field, the part that differs (issue 8)."""

from tests.helpers.pins import V1_4_0
from tests.unit.test_cli_registry import KEY, vm  # noqa: F401  (fixture)
from vmfleet.diff.human import _change_text

BOOT = ('(bootloader-configuration (bootloader grub-bootloader) (targets \'("/dev/vda")) '
        '(keyboard-layout (keyboard-layout "us" "altgr-intl")) (timeout 5))')


def test_a_long_field_shows_the_differing_words_not_the_first_characters():
    after = BOOT.replace("/dev/vda", "/dev/sda")
    shown = _change_text(BOOT, after)
    assert '[-"/dev/vda"-]' in shown and '{+"/dev/sda"+}' in shown
    assert len(shown) < len(BOOT)  # context, not both values whole


def test_a_change_at_the_end_of_a_long_field_is_visible():
    after = BOOT.replace("(timeout 5)", "(timeout 10)")
    assert "[-5-] {+10+}" in _change_text(BOOT, after)


def test_short_fields_show_both_sides():
    assert _change_text('"web"', '"db"') == '"web" → "db"'
    assert _change_text(None, '"db"') == '(none) → "db"'


def test_show_prints_scheme_not_python(vm, tmp_path):  # noqa: F811
    from tests.helpers.fleet import channels_scm, os_config

    (tmp_path / "web.scm").write_text(os_config("web").replace(
        '(timezone "Europe/Berlin")\n', ""))
    (tmp_path / "vmfleet.pub").write_text(KEY)
    (tmp_path / "channels.scm").write_text(channels_scm(V1_4_0))
    assert vm("add", "web", str(tmp_path / "web.scm"), "--channels",
              str(tmp_path / "channels.scm"))[0] == 0
    _, out, _ = vm("show", "web")
    assert '(host-name "web", timezone #f)' in out
    assert "'web'" not in out and "None" not in out
