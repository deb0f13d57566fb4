"""Every corpus config (tests/corpus/manifest.toml) recorded through the library, checked
against the manifest: every input file (with its bytes), warnings, the -e expression,
refusals; and every channel file read as the manifest says."""

import os
import re
import tomllib
from pathlib import Path

import pytest

from tests.helpers.corpus import CORPUS, copy_corpus
from tests.helpers.fleet import channels_scm
from tests.helpers.pins import V1_4_0
from vmfleet.errors import UsageError
from vmfleet.guix import channel_files
from vmfleet.registry import generations

MANIFEST = tomllib.loads((CORPUS / "manifest.toml").read_text())
CONFIGS = MANIFEST["config"]
CHANNELS = MANIFEST["channels"]
C1 = V1_4_0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("corpus")
    abs_dir = base / "abs"
    root = copy_corpus(base / "corpus", abs_dir)
    (base / "channels.scm").write_text(channels_scm(C1))
    return root, abs_dir, base / "channels.scm"


def _norm(text: str) -> str:
    return text.lower().replace("-", " ")


def _read(corpus, entry):
    root, _, channels = corpus
    if "channels_file" in entry:
        channels = root / entry["channels_file"]
    cwd = root / entry["cwd"]
    load_path = [os.path.relpath(root / d, cwd) for d in entry.get("load_path", [])]
    inputs = generations.read_inputs(os.path.relpath(root / entry["path"], cwd), channels,
                                     load_path=load_path, cwd=cwd)
    analysis = generations.analyse(inputs)
    return inputs, analysis


def _recorded_files(root: Path, entry, inputs) -> dict[str, bytes]:
    """The recorded inputs as corpus-relative paths (absolute names kept as they are)."""
    config_abs = os.path.normpath(root / entry["path"])
    tree_root = config_abs[: -len(inputs.config_name)] if inputs.config_name != "." else config_abs
    out = {entry["path"]: inputs.config_text.encode()}
    for key, content in inputs.files.items():
        if key.startswith("/"):
            out[key] = content
        else:
            out[os.path.relpath(os.path.normpath(os.path.join(tree_root, key)), root)] = content
    return out


@pytest.mark.parametrize("entry", CONFIGS, ids=[c["path"] for c in CONFIGS])
def test_corpus_config(corpus, entry, reg):
    root, abs_dir, _ = corpus
    if "refusal" in entry:
        with pytest.raises(UsageError) as e:
            inputs, analysis = _read(corpus, entry)
            generations.record(reg, "sys", inputs, current_from="2024-01-01T00:00:00Z",
                               analysis=analysis)
        assert _norm(entry["refusal"]) in _norm(e.value.message), e.value.message
        if "refusal_hint" in entry:
            assert entry["refusal_hint"] in (e.value.hint or "")
        if "refusal_line" in entry:
            assert f":{entry['refusal_line']}:" in e.value.message
        assert reg.query("SELECT * FROM generations") == []
        assert "Traceback" not in e.value.message
        return
    inputs, analysis = _read(corpus, entry)
    gen, created = generations.record(reg, "sys", inputs, current_from="2024-01-01T00:00:00Z",
                                      analysis=analysis)
    assert created
    recorded = _recorded_files(root, entry, generations.inputs_of(reg, gen))
    expected = {p: (root / p).read_bytes() for p in entry["inputs"]}
    for a in entry.get("absolute_inputs", []):
        expected[a["written"].replace(MANIFEST["abs_placeholder"], str(abs_dir))] = \
            (root / a["source"]).read_bytes()
    assert recorded == expected
    got_warnings = set()
    for w in gen.warnings:
        m = re.fullmatch(r"(.*):(\d+): cannot tell which file (.*?) reads(?:: (.*))?", w)
        got_warnings.add((m.group(1), int(m.group(2)), m.group(3)))
        reason = next((x.get("reason") for x in entry.get("warnings", [])
                       if x["line"] == int(m.group(2)) and x["expression"] == m.group(3)), None)
        assert reason is None or reason in (m.group(4) or ""), (w, reason)
    assert got_warnings == {(os.path.relpath(w.get("file", entry["path"]), entry["cwd"]), w["line"],
                             w["expression"]) for w in entry.get("warnings", [])}
    assert gen.incomplete == bool(entry.get("warnings"))
    assert gen.layout.get("expression") == entry.get("expression")
    for name in entry.get("modules", []):
        rel = "/".join(name.strip("()").split()) + ".scm"
        assert any(p.endswith("/" + rel) for p in recorded), f"module {name} not recorded"
    assert summary_view(gen.summary) == expected_summary(entry.get("summary", {}))
    assert [re.search(r"module (\(.*?\)) is provided", n).group(1)
            for n in gen.summary.get("channel_modules_not_verified", [])] == \
        entry.get("unverified_modules", [])


SUMMARY_KEYS = ("host_name", "users", "packages", "packages_conditional", "packages_removed",
                "services", "services_conditional", "services_removed", "services_modified",
                "bases", "bootloader", "bootloader_conditional", "ssh_key_users")


def expected_summary(want: dict) -> dict:
    out = {k: sorted(want.get(k, [])) for k in SUMMARY_KEYS if k not in ("host_name", "bootloader")}
    return out | {"host_name": want.get("host_name"), "bootloader": want.get("bootloader"),
                  "partial": want.get("partial", False), "inherits": want.get("inherits")}


def summary_view(s: dict) -> dict:
    """The manifest's view of an OsSummary: names, with the lists a config builds on apart."""
    def named(items):
        return sorted(i for i in items if not i.startswith("%"))

    services = s.get("services", [])

    def types(kind):
        return sorted({x["type"] for x in services if x["kind"] in kind})

    bases = {i for key in ("packages", "users") for i in s.get(key, []) if i.startswith("%")}
    bases |= {x["type"] for x in services if x["kind"] == "base"}
    return {"host_name": s.get("host_name"), "bootloader": s.get("bootloader"),
            "users": named(s.get("users", [])), "packages": named(s.get("packages", [])),
            "packages_conditional": sorted(s.get("packages_conditional", [])),
            "packages_removed": sorted(s.get("packages_removed", [])),
            "bootloader_conditional": sorted(s.get("bootloader_conditional", [])),
            "services": types(("service", "simple-service")),
            "services_conditional": types(("conditional",)),
            "services_removed": types(("deleted",)), "services_modified": types(("modified",)),
            "bases": sorted(bases), "partial": s.get("partial", False),
            "inherits": s.get("inherits"),
            "ssh_key_users": sorted({u for u, _ in s.get("authorized_keys", [])})}


@pytest.mark.parametrize("entry", CHANNELS, ids=[c["path"] for c in CHANNELS])
def test_corpus_channels(entry):
    text = (CORPUS / entry["path"]).read_text()
    if "refusal" in entry:
        with pytest.raises(UsageError) as e:
            channel_files.parse_channels(text, entry["path"])
        assert _norm(entry["refusal"]) in _norm(e.value.message)
        return
    got = channel_files.parse_channels(text, entry["path"])
    assert [c.name for c in got] == [c["name"] for c in entry["channels"]]
    for channel, want in zip(got, entry["channels"], strict=True):
        if want["url"] == "%default":
            assert channel.canonical_url == channel_files.GUIX_URL
        else:
            assert channel.url == want["url"]
        assert channel.commit == want.get("commit")
        assert (channel.introduction.commit if channel.introduction else None) == \
            want.get("introduction")


def _record(corpus, reg, path):
    entry = next(c for c in CONFIGS if c["path"] == path)
    inputs, analysis = _read(corpus, entry)
    gen, _ = generations.record(reg, "sys", inputs, current_from="2024-01-01T00:00:00Z",
                                analysis=analysis)
    return gen, inputs


def test_absolute_names_are_laid_out_so_guix_reads_the_recorded_bytes(corpus, reg, tmp_path):
    root, abs_dir, _ = corpus
    gen, inputs = _record(corpus, reg, "os/absolute-key.scm")
    written = f"{abs_dir}/etc/vmfleet/root-ops.pub"
    assert f'"{written}"' in inputs.config_text          # what show --config prints
    lay = generations.layout(reg, gen, tmp_path / "build")
    copy = (tmp_path / "build" / lay.run_dir / lay.config).read_text()
    assert f'"{written}"' not in copy                  # the build copy reads the recorded file
    rel = f".vmfleet-absolute{written}"
    assert f'"{rel}"' in copy
    assert (tmp_path / "build" / lay.run_dir / rel).read_bytes() == \
        (root / "absroot/etc/vmfleet/root-ops.pub").read_bytes()


def test_the_configs_own_channels_file_is_never_replaced(corpus, reg, tmp_path):
    root, _, channels = corpus
    gen, _ = _record(corpus, reg, "os/pinned/config.scm")
    lay = generations.layout(reg, gen, tmp_path / "build")
    run = tmp_path / "build" / lay.run_dir
    assert (run / "channels.scm").read_bytes() == (root / "os/pinned/channels.scm").read_bytes()
    assert (run / lay.channels).read_text() == channels.read_text()
    assert lay.channels.endswith("vmfleet-pinned-channels.scm")
