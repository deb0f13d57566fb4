"""Image facts rendered for people (``vmfleet inspect``) and as JSON."""

from __future__ import annotations

from vmfleet.inspect.facts import FileFact, ImageFacts
from vmfleet.names import escape
from vmfleet.units import human_size

# --- output ----------------------------------------------------------------------------------


def facts_to_json(facts: ImageFacts) -> dict:
    """The JSON of ``vmfleet inspect --json`` (stable keys)."""
    prov = facts.provenance
    return {
        "source": facts.source, "kind": facts.kind, "format": facts.format,
        "partition_table": facts.partition_table, "root_partition": facts.root_partition,
        "system": facts.system, "generation": facts.generation,
        "provenance": None if prov is None else {
            "channels": [{"name": c.name, "url": c.url, "branch": c.branch,
                          "commit": c.commit} for c in prov.channels],
            "configuration_file": prov.configuration_file},
        "channels_scm": facts.channels_scm, "configuration": facts.configuration,
        "packages": [{"name": p.name, "version": p.version, "output": p.output,
                      "path": p.path} for p in facts.packages],
        "closure": {"items": len(facts.items), "size": facts.closure_size,
                    "source": facts.store_source},
        "items": [{"path": i.path, "name": i.package, "version": i.version,
                   "nar_size": i.nar_size, "references": list(i.references)}
                  for i in facts.items],
        "files": None if facts.files is None else [
            {"path": f.path, "kind": f.kind, "mode": f"{f.mode:04o}", "uid": f.uid,
             "gid": f.gid, "size": f.size, "sha256": f.sha256, "target": f.target}
            for f in facts.files],
        "warnings": list(facts.warnings),
    }


def render_facts(facts: ImageFacts, *, items: bool = False, files: bool = False,
                 width: int = 100) -> str:
    """The human form of ``vmfleet inspect``; lists wrap at ``width`` columns."""
    import textwrap

    lines = []
    if facts.kind == "image":
        lines.append(f"image      {facts.source} ({facts.format}, {facts.partition_table} "
                     f"partition table, root file system in partition {facts.root_partition})")
    else:
        lines.append(f"vm         {facts.source}")
    # Guix's own number for the system (/var/guix/profiles/system-N-link), not vmfleet's web@N.
    gen = (f" (Guix system generation {facts.generation}, not a vmfleet generation)"
           if facts.generation is not None else "")
    lines.append(f"system     {facts.system or 'unknown'}{gen}")
    if facts.provenance is not None:
        for i, c in enumerate(facts.provenance.channels):
            head = "channels   " if i == 0 else "           "
            branch = f" ({c.branch})" if c.branch else ""
            lines.append(f"{head}{c.name}  {c.commit or 'unpinned'}  {c.url}{branch}")
        if facts.provenance.configuration_file:
            lines.append(f"config     {facts.provenance.configuration_file}")
    else:
        lines.append("provenance none (built without --save-provenance)")
    if facts.configuration is not None:
        lines.append(f"           {len(facts.configuration.splitlines())} lines "
                     "(show them with --config)")
    # No break between a name and its version: a no-break space while wrapping.
    pkgs = ", ".join(f"{p.name}\u00a0{p.version}" + (f":{p.output}" if p.output != "out" else "")
                     for p in facts.packages)
    if facts.packages:
        lines += [line.replace("\u00a0", " ") for line in textwrap.wrap(
            f"{len(facts.packages)}: {pkgs}", max(40, width), initial_indent="packages   ",
            subsequent_indent=" " * 11, break_on_hyphens=False, break_long_words=False)]
    else:
        lines.append("packages   (none listed)")
    size = human_size(facts.closure_size) if facts.closure_size is not None else "size unknown"
    lines.append(f"closure    {len(facts.items)} store items, {size} "
                 f"(from the {'store database' if facts.store_source == 'database' else 'store listing'})")
    if items:
        for item in facts.items:
            lines.append(f"  {human_size(item.nar_size):>10}  {item.path}")
    if files and facts.files is not None:
        lines.append(f"files      {len(facts.files)} outside /gnu/store")

        for f in facts.files:
            lines.append(f"  {describe_file(f)}  {f.path}")
    # Every name here comes from the image or VM: one line each, whatever it holds (ls -b).
    return "\n".join(escape(line) for line in lines) + "\n"


def file_mode(f: FileFact) -> str:
    import stat

    kinds = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK,
             "char": stat.S_IFCHR, "block": stat.S_IFBLK, "fifo": stat.S_IFIFO,
             "socket": stat.S_IFSOCK}
    return stat.filemode(kinds.get(f.kind, 0) | f.mode)


def describe_file(f: FileFact) -> str:
    """``-rw-r--r-- 0:0 1.2 KiB`` or ``lrwxrwxrwx 0:0 → target``: one file, as ``inspect --files`` lists it."""
    text = f"{file_mode(f)} {f.uid}:{f.gid}"
    if f.kind == "file":
        text += f" {human_size(f.size)}"
    if f.kind == "symlink":
        text += f" → {f.target}"
    return text
