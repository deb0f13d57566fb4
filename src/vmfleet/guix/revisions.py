"""Which Guix revision has which ``guix system`` feature, from real commits and their dates.

The table holds real commits of the guix channel (releases and month-end master commits) and
the commits that introduced a feature vmfleet depends on (docs/guix-facts.md cites each). A pin
found here is placed in time by its commit date; master is linear enough at this scale that a
commit dated after a feature's commit has it (the time-machine check itself is by ancestry, but
every commit of this table descends from every feature commit dated before it). A pin that is
not in the table is *unknown*: callers then run guix and read its answer instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# label -> (full commit, commit date): docs/guix-facts.md, "Pins".
KNOWN_COMMITS: dict[str, tuple[str, str]] = {
    "v1.0.0": ("6298c3ffd9654d3231a6f25390b056483e8f407c", "2019-05-01"),
    "2019-12": ("b94cf161d066b0fc1f3830ac38fbc98597a1f922", "2020-01-01"),
    "v1.2.0": ("a099685659b4bfa6b3218f84953cbb7ff9e88063", "2020-11-22"),
    "v1.3.0": ("a0178d34f582b50e9bdbb0403943129ae5b560ff", "2021-05-11"),
    "v1.4.0": ("8e2f32cee982d42a79e53fc1e9aa7b8ff0514714", "2022-12-18"),
    "2023-03": ("cebcf3533ab83233121434254a6ae7b8c35cfa1f", "2023-03-31"),
    "2023-06": ("76e39909e886bb51cf9b2fa03a1523545faca880", "2023-07-01"),
    "2023-10": ("60c97924e9519361494aaf0686e28eb831a42315", "2023-11-01"),
    "2024-05": ("dc4c48f10281007a0ab3541b8a64198c60c6d5b0", "2024-05-31"),
    "2024-11": ("858dd7e721d69a6087375395037a86640418f1fb", "2024-12-01"),
    "2025-06": ("dd7e39ccfdd23a388dfa6b7665de466691bc6cda", "2025-07-01"),
    "2025-12": ("ab06c318d05c5af140ea8c5c9dd26f69bc167e55", "2026-01-01"),
    "v1.5.0": ("230aa373f315f247852ee07dff34146e9b480aec", "2026-01-21"),
}


class Feature(StrEnum):
    SAVE_PROVENANCE = "save-provenance"   # guix system --save-provenance
    IMAGE_ACTION = "image"                # guix system image (before: vm-image)
    CHECK_MISSING_OUTPUTS = "check-missing-outputs"
    EFI_RAW_GPT = "efi-raw-gpt"           # efi-raw has a GPT (before: ESP + root in an MBR)
    BIOS_GPT_REFUSED = "bios-gpt-refused"  # a GPT image with a non-EFI bootloader is refused
    REMOVABLE_IS_EFI = "removable-is-efi"  # grub-efi-removable-bootloader counts as EFI
    EFI_NEEDS_GPT = "efi-needs-gpt"       # the check inverted: EFI bootloaders with -t qcow2
    EFI_CHECK_BROKEN = "efi-check-broken"  # the list is of bound variables: nothing refused
    EFI_SIX_NAMES = "efi-six-names"       # the list is of six names again
    PROHIBIT_PASSWORD = "prohibit-password"  # permit-root-login accepts 'prohibit-password
    SIZE_DOT_UNIT = "size-dot-unit"       # size->number reads "1.G" (unit after a dot)
    ZSTD_QCOW2 = "zstd-qcow2"
    QCOW2_GPT = "qcow2-gpt"               # the qcow2-gpt image type


# feature -> (commit that introduced it, its date): docs/guix-facts.md cites each.
FEATURES: dict[Feature, tuple[str, str]] = {
    Feature.SAVE_PROVENANCE: ("b85836d3067a0faccc945d584dfb88cf557eee97", "2019-12-07"),
    Feature.IMAGE_ACTION: ("e74baa124592428f05b17562f180469e405037f3", "2021-01-19"),
    Feature.CHECK_MISSING_OUTPUTS: ("82b06436b4b563a85e70f3fcc610959482f08e91", "2022-05-29"),
    Feature.EFI_RAW_GPT: ("209204e23b39af09e0ea92540b6fa00a60e6a0ae", "2023-07-07"),
    Feature.BIOS_GPT_REFUSED: ("6bd17a0806ad32d1493ac51a7443276f719c4224", "2023-09-20"),
    Feature.REMOVABLE_IS_EFI: ("21989dd57dac338899574d3ee7f093d633e31e33", "2024-01-17"),
    Feature.EFI_NEEDS_GPT: ("e5078ff3210f4a9863b641a60430b2cb3c9c15ee", "2024-05-22"),
    Feature.EFI_CHECK_BROKEN: ("5df3514ab0fe36915539c93023f444194087388c", "2025-11-26"),
    Feature.EFI_SIX_NAMES: ("e12ba8c865fd73267ff081c97ddecd46351edb07", "2025-12-02"),
    Feature.PROHIBIT_PASSWORD: ("ef3f38ea0027f48feb6a29df131ac58bfbb46b7d", "2021-06-20"),
    Feature.SIZE_DOT_UNIT: ("fa99c4bbc7acdb8def9ce14a05aacb73f99fe3b1", "2020-02-23"),
    Feature.ZSTD_QCOW2: ("a0941c14ef185d3d177ad132385992c1b7d36818", "2025-04-30"),
    Feature.QCOW2_GPT: ("20157dae27d3ed2c754a5c15aa001f6c268366c3", "2025-12-22"),
}

_MIN_PREFIX = 7  # git's default abbreviation


@dataclass(frozen=True)
class Revision:
    """A pinned guix commit, placed in time when the table knows it."""

    commit: str | None
    date: str | None      # YYYY-MM-DD, None when unknown
    label: str | None     # 'v1.4.0', '2024-05', or a feature's name

    @property
    def known(self) -> bool:
        return self.date is not None

    def has(self, feature: Feature) -> bool | None:
        """True/False when the table says; None for an unknown revision."""
        if self.date is None:
            return None
        commit, date = FEATURES[feature]
        if self.commit and self.commit.startswith(commit[:len(self.commit)]) \
                and len(self.commit) >= _MIN_PREFIX:
            return True
        return self.date >= date


def revision(commit: str | None) -> Revision:
    """Place ``commit`` (full or an abbreviation of at least 7 hex digits) in time."""
    if not commit or len(commit) < _MIN_PREFIX:
        return Revision(commit, None, None)
    c = commit.lower()
    for label, (full, date) in KNOWN_COMMITS.items():
        if full.startswith(c):
            return Revision(commit, date, label)
    for feature, (full, date) in FEATURES.items():
        if full.startswith(c):
            return Revision(commit, date, str(feature))
    return Revision(commit, None, None)


def since(feature: Feature) -> str:
    """'2024-05-22 (e5078ff3210)': when a feature appeared, for messages."""
    commit, date = FEATURES[feature]
    return f"{date} ({commit[:11]})"
