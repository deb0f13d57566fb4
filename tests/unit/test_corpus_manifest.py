"""tests/corpus/manifest.toml agrees with the files it describes (issue 8's corpus).

The manifest is the spec of how vmfleet must record each corpus config; these checks keep the
spec honest (files exist, every config is listed, keys are known, warning lines point at the
expression) without testing product behaviour.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
MANIFEST = CORPUS / "manifest.toml"

TOP_KEYS = {"schema", "abs_placeholder", "abs_source", "config", "channels", "known_keys"}
CONFIG_KEYS = {"path", "kind", "idioms", "load_path", "cwd", "expression", "modules", "inputs",
               "input_dirs", "absolute_inputs", "warnings", "refusal", "refusal_hint",
               "refusal_line", "note", "summary", "channels_file", "unverified_modules"}
KINDS = {"os", "module-os", "not-os", "malformed"}
SUMMARY_KEYS = {"host_name", "users", "packages", "packages_conditional", "packages_removed",
                "services", "services_conditional", "services_removed", "services_modified",
                "bases", "bootloader", "bootloader_conditional", "ssh_key_users",
                "permit_root_login", "partial", "inherits"}
ABSOLUTE_KEYS = {"written", "source"}
WARNING_KEYS = {"line", "expression", "file", "reason"}
CHANNELS_KEYS = {"path", "idioms", "channels", "refusal", "note"}
CHANNEL_KEYS = {"name", "url", "branch", "commit", "introduction"}

# Idioms issue 8 names; each must be exercised by at least one config or channels file.
REQUIRED_IDIOMS = {
    "module", "inherit-base-os", "include", "load", "local-file-relative", "local-file-absolute",
    "dotdot", "recursive-directory", "current-filename", "defined-string-name",
    "own-channels-file", "computed-unresolvable", "desktop-remove-modify", "target-conditional",
    "let-service", "package-map", "package-delete", "specifications->packages", "append",
    "cons-star", "defined-names", "prefix-import", "grub-efi", "wheel-user-keys",
    "root-login-keys", "module-defines-os", "deploy-machine-list", "helper-module",
    "home-environment", "reader-error", "nested-modify-services", "remove-filter",
    "module-closure", "include-in-module", "local-file-in-module",
    # channel files
    "describe-f-channels", "inherit-car-default-channels", "inherit-default-guix-channel",
    "cons-star-default-channels", "append-default-channels", "cons-default-channels",
    "non-guix-introduction", "unpinned",
}

# Real commits of the guix channel (docs/guix-facts.md, "Pins"): pins must use these.
REAL_GUIX_COMMITS = {
    "6298c3ffd9654d3231a6f25390b056483e8f407c", "b94cf161d066b0fc1f3830ac38fbc98597a1f922",
    "a099685659b4bfa6b3218f84953cbb7ff9e88063", "a0178d34f582b50e9bdbb0403943129ae5b560ff",
    "8e2f32cee982d42a79e53fc1e9aa7b8ff0514714", "cebcf3533ab83233121434254a6ae7b8c35cfa1f",
    "76e39909e886bb51cf9b2fa03a1523545faca880", "60c97924e9519361494aaf0686e28eb831a42315",
    "dc4c48f10281007a0ab3541b8a64198c60c6d5b0", "858dd7e721d69a6087375395037a86640418f1fb",
    "dd7e39ccfdd23a388dfa6b7665de466691bc6cda", "ab06c318d05c5af140ea8c5c9dd26f69bc167e55",
    "230aa373f315f247852ee07dff34146e9b480aec",
}
GUIX_INTRODUCTION = "9edb3f66fd807b096b48283debdcddccfea34bad"
# Real commits of other channels: sops-guix (github.com/fishinthecalculator/sops-guix), one
# whose modules/sops/secrets.scm exists.
REAL_CHANNEL_COMMITS = {"d988b2b31b9a51f081c88758649a2ff4064762de"}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return tomllib.loads(MANIFEST.read_text())


def _configs(manifest):
    return manifest["config"]


def test_known_keys_everywhere(manifest):
    assert set(manifest) <= TOP_KEYS
    assert manifest["schema"] == 1
    known = manifest["known_keys"]
    assert set(known["top"]) == TOP_KEYS and set(known["config"]) == CONFIG_KEYS
    assert set(known["summary"]) == SUMMARY_KEYS and set(known["kinds"]) == KINDS
    assert set(known["channels"]) == CHANNELS_KEYS and set(known["channel"]) == CHANNEL_KEYS
    for cfg in _configs(manifest):
        assert set(cfg) <= CONFIG_KEYS, (cfg["path"], set(cfg) - CONFIG_KEYS)
        assert cfg["kind"] in KINDS, cfg["path"]
        assert set(cfg.get("summary", {})) <= SUMMARY_KEYS, cfg["path"]
        for item in cfg.get("absolute_inputs", []):
            assert set(item) == ABSOLUTE_KEYS, cfg["path"]
        for item in cfg.get("warnings", []):
            assert {"line", "expression"} <= set(item) <= WARNING_KEYS, cfg["path"]
    for entry in manifest["channels"]:
        assert set(entry) <= CHANNELS_KEYS, entry["path"]
        for ch in entry.get("channels", []):
            assert set(ch) <= CHANNEL_KEYS and {"name", "url"} <= set(ch), entry["path"]


def test_at_least_45_configs_and_unique_paths(manifest):
    paths = [c["path"] for c in _configs(manifest)]
    assert len(paths) >= 45
    assert len(set(paths)) == len(paths)


def test_every_listed_file_exists(manifest):
    for cfg in _configs(manifest):
        where = cfg["path"]
        assert (CORPUS / where).is_file(), where
        assert cfg["inputs"][0] == where, f"{where}: the config itself comes first in inputs"
        for rel in cfg["inputs"]:
            assert (CORPUS / rel).is_file(), f"{where}: input {rel} missing"
        for rel in cfg.get("input_dirs", []):
            assert (CORPUS / rel).is_dir(), f"{where}: directory {rel} missing"
        for rel in cfg["load_path"] + [cfg["cwd"]]:
            assert (CORPUS / rel).is_dir(), f"{where}: {rel} is not a directory"
        for item in cfg.get("absolute_inputs", []):
            assert (CORPUS / item["source"]).is_file(), where
            assert item["source"].startswith(manifest["abs_source"] + "/")
            assert item["written"] == (manifest["abs_placeholder"]
                                       + item["source"][len(manifest["abs_source"]):])
    for entry in manifest["channels"]:
        assert (CORPUS / entry["path"]).is_file(), entry["path"]


def test_recursive_directories_are_listed_file_by_file(manifest):
    for cfg in _configs(manifest):
        for rel in cfg.get("input_dirs", []):
            tree = {p.relative_to(CORPUS).as_posix() for p in (CORPUS / rel).rglob("*") if p.is_file()}
            assert tree and tree <= set(cfg["inputs"]), (cfg["path"], tree - set(cfg["inputs"]))


def test_every_corpus_file_is_accounted_for(manifest):
    listed = {c["path"] for c in _configs(manifest)} | {e["path"] for e in manifest["channels"]}
    for cfg in _configs(manifest):
        listed.update(cfg["inputs"])
        listed.update(item["source"] for item in cfg.get("absolute_inputs", []))
    on_disk = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*") if p.is_file()}
    on_disk -= {"README.md", "manifest.toml"}
    assert on_disk - listed == set(), "files nobody lists"
    scm = {p for p in on_disk if p.endswith(".scm")}
    configs = {c["path"] for c in _configs(manifest)}
    channels = {e["path"] for e in manifest["channels"]}
    inputs_only = scm - configs - channels
    # .scm files that are only inputs are included/loaded parts, never configs of their own.
    for rel in inputs_only:
        assert "(operating-system" not in (CORPUS / rel).read_text() or \
            rel.startswith(("repo/", "repo2/")), rel


def test_absolute_placeholder_only_where_declared(manifest):
    placeholder = manifest["abs_placeholder"]
    for cfg in _configs(manifest):
        text = "".join((CORPUS / rel).read_text(errors="replace") for rel in cfg["inputs"]
                       if rel.endswith(".scm"))
        written = [item["written"] for item in cfg.get("absolute_inputs", [])]
        assert (placeholder in text) == bool(written), cfg["path"]
        for name in written:
            assert f'"{name}"' in text, (cfg["path"], name)


def test_warnings_point_at_their_expression(manifest):
    seen = 0
    for cfg in _configs(manifest):
        for warning in cfg.get("warnings", []):
            lines = (CORPUS / warning.get("file", cfg["path"])).read_text(errors="replace").splitlines()
            assert warning["expression"] in lines[warning["line"] - 1], (cfg["path"], warning)
            seen += 1
    assert seen >= 2


def test_refusals_and_kinds_are_consistent(manifest):
    for cfg in _configs(manifest):
        kind, where = cfg["kind"], cfg["path"]
        if kind in ("not-os", "malformed"):
            assert cfg.get("refusal") and "summary" not in cfg, where
        if kind == "module-os" and not cfg.get("refusal"):
            assert re.fullmatch(r"\(@ \([a-z -]+\) [%\w-]+\)", cfg["expression"]), where
        elif kind != "module-os":
            assert "expression" not in cfg, where
        if kind in ("os", "module-os") and not cfg.get("refusal"):
            summary = cfg["summary"]   # a computed or inherited OS may name no host here
            assert summary.get("host_name") or summary.get("partial") or \
                summary.get("inherits"), where
    missing = next(c for c in _configs(manifest) if c["path"] == "os/missing-local-file.scm")
    assert not (CORPUS / missing["refusal"]).exists()


def test_host_names_are_written_in_the_inputs(manifest):
    for cfg in _configs(manifest):
        summary = cfg.get("summary")
        if not summary:
            continue
        text = "".join((CORPUS / rel).read_text() for rel in cfg["inputs"] if rel.endswith(".scm"))
        if summary.get("host_name"):
            assert f'"{summary["host_name"]}"' in text, cfg["path"]
        for user in summary.get("users", []):
            assert f'"{user}"' in text, (cfg["path"], user)


def test_modules_resolve_through_the_load_path(manifest):
    for cfg in _configs(manifest):
        for module in cfg.get("modules", []):
            rel = "/".join(module.strip("()").split()) + ".scm"
            found = [f"{d}/{rel}" for d in cfg["load_path"] if (CORPUS / d / rel).is_file()]
            assert found and found[0] in cfg["inputs"], (cfg["path"], module)
            text = (CORPUS / found[0]).read_text()
            assert f"(define-module {module}" in text, (cfg["path"], module)


def test_every_issue_8_idiom_is_exercised(manifest):
    idioms = set()
    for entry in _configs(manifest) + manifest["channels"]:
        idioms.update(entry.get("idioms", []))
    assert REQUIRED_IDIOMS - idioms == set()


def test_channel_pins_are_real_guix_commits(manifest):
    for entry in manifest["channels"]:
        text = (CORPUS / entry["path"]).read_text()
        if entry.get("refusal"):
            assert "channels" not in entry
            continue
        for ch in entry["channels"]:
            if ch["name"] == "guix" and "commit" in ch:
                assert ch["commit"] in REAL_GUIX_COMMITS, entry["path"]
            for key in ("commit", "introduction"):
                if key in ch and not (ch["url"] == "%default" and key == "introduction"):
                    assert ch[key] in text, (entry["path"], key)
            if ch["name"] == "guix" and "introduction" in ch:
                assert ch["introduction"] == GUIX_INTRODUCTION
    # Every commit-looking string in a corpus .scm is a real guix commit or an introduction.
    for path in CORPUS.rglob("*.scm"):
        for sha in re.findall(r'"([0-9a-f]{40})"', path.read_text(errors="replace")):
            assert sha in REAL_GUIX_COMMITS or sha in REAL_CHANNEL_COMMITS or sha in {
                GUIX_INTRODUCTION, "897c1a470da759236cc11798f4e0a5f7d4d59fbc"}, path
