"""The diff as JSON, following docs/diff.schema.json."""

from __future__ import annotations

from vmfleet.diff.compare import Diff
from vmfleet.diff.sides import JSON_VERSION, Side
from vmfleet.inspect.facts import FileFact

# --- JSON ------------------------------------------------------------------------------------


def _file_json(f: FileFact | None) -> dict | None:
    if f is None:
        return None
    return {"kind": f.kind, "mode": f"{f.mode:04o}", "uid": f.uid, "gid": f.gid, "size": f.size,
            "sha256": f.sha256, "target": f.target}


def _side_json(s: Side) -> dict:
    return {"label": s.label, "kind": s.kind, "source": s.source, "system": s.system}


def to_json(d: Diff) -> dict:
    """The stable JSON form (docs/diff.schema.json, version 1)."""
    skipped = {s.layer: s.reason for s in d.skipped}
    layers: dict = {}
    for layer in d.layers:
        if layer in skipped:
            layers[layer] = {"status": "skipped", "reason": skipped[layer]}
            continue
        status = "equal" if d.layer_equal(layer) else "different"
        if layer == "channels":
            layers[layer] = {"status": status, "changes": [
                {"name": c.name, "change": c.change, "url_a": c.url_a, "url_b": c.url_b,
                 "commit_a": c.commit_a, "commit_b": c.commit_b, "date_a": c.date_a,
                 "date_b": c.date_b, "relation": c.relation, "ahead": c.ahead,
                 "behind": c.behind} for c in d.channels]}
        elif layer == "config":
            c = d.config
            layers[layer] = {
                "status": status, "text_changed": c.text_changed, "structural": c.structural,
                "fields": [{"field": f.field, "before": f.before, "after": f.after}
                           for f in c.fields],
                "packages": {"added": list(c.packages_added),
                             "removed": list(c.packages_removed)},
                "services": [{"type": s.type, "kind": s.kind, "change": s.change,
                              "before": s.before, "after": s.after} for s in c.services],
                "text_diff": c.text_diff,
            }
        elif layer == "inputs":
            layers[layer] = {"status": status, "changes": [
                {"path": c.path, "role": c.role, "change": c.change, "size_a": c.size_a,
                 "size_b": c.size_b, "sha256_a": c.sha256_a, "sha256_b": c.sha256_b,
                 "added_lines": c.added_lines, "removed_lines": c.removed_lines,
                 "diff": c.diff} for c in d.inputs]}
        elif layer == "packages":
            p = d.packages
            layers[layer] = {
                "status": status,
                "items": {"a": p.items_a, "b": p.items_b},
                "size": {"a": p.size_a, "b": p.size_b, "delta": p.size_delta},
                "unchanged": p.unchanged,
                "changes": [{"name": c.name, "change": c.change,
                             "versions_a": list(c.versions_a), "versions_b": list(c.versions_b),
                             "size_a": c.size_a, "size_b": c.size_b,
                             "size_delta": c.size_delta, "requested": c.requested,
                             "paths_a": list(c.paths_a), "paths_b": list(c.paths_b)}
                            for c in p.changes],
            }
        elif layer == "files":
            layers[layer] = {"status": status, "changes": [
                {"path": f.path, "change": f.change, "what": list(f.what),
                 "a": _file_json(f.a), "b": _file_json(f.b), "diff": f.diff}
                for f in d.files]}
    return {"version": JSON_VERSION, "equal": d.equal, "a": _side_json(d.a),
            "b": _side_json(d.b), "layers": layers}
