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
                 "behind": c.behind} for c in d.channels or ()]}
        elif layer == "config":
            c = d.config
            assert c is not None  # the layer was compared
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
                 "diff": c.diff} for c in d.inputs or ()]}
        elif layer == "packages":
            p = d.packages
            assert p is not None  # the layer was compared
            layers[layer] = {
                "status": status,
                "items": {"a": p.items_a, "b": p.items_b},
                "size": {"a": p.size_a, "b": p.size_b, "delta": p.size_delta},
                "unchanged": p.unchanged,
                "changes": [{"name": c.name, "change": c.change,
                             "versions_a": list(c.versions_a), "versions_b": list(c.versions_b),
                             "size_a": c.size_a, "size_b": c.size_b,
                             "size_delta": c.size_delta, "requested": c.requested,
                             "paths_a": list(c.paths_a), "paths_b": list(c.paths_b),
                             "runs_a": list(c.runs_a), "runs_b": list(c.runs_b),
                             "grafted": c.grafted,
                             **({"why": reason_json(d.why.reason(c.name))} if d.why else {})}
                            for c in p.changes],
            }
            if d.show_all:
                layers[layer]["unchanged_items"] = [{"name": n, "versions": v}
                                                    for n, v in p.unchanged_names]
        elif layer == "files":
            layers[layer] = {"status": status, "changes": [
                {"path": f.path, "change": f.change, "what": list(f.what),
                 "a": _file_json(f.a), "b": _file_json(f.b), "diff": f.diff}
                for f in d.files or ()]}
    out = {"version": JSON_VERSION, "equal": d.equal, "a": _side_json(d.a),
           "b": _side_json(d.b), "layers": layers}
    if d.why is not None:
        out["why"] = why_json(d.why)
    if d.content is not None:
        out["content"] = content_json(d.content, d.show_all)
    if d.content_skipped:
        out["why_content_skipped"] = d.content_skipped
    return out


def _commit_json(c) -> dict:
    return {"channel": c.channel, "commit": c.commit, "date": c.date, "subject": c.subject,
            "kind": c.kind, "variable": c.variable, "version": c.version, "file": c.file}


def _cause_json(c) -> dict:
    return {"name": c.name, "change": c.change, "before": c.before, "after": c.after}


def reason_json(r) -> dict | None:
    if r is None:
        return None
    return {
        "commits": [_commit_json(c) for c in r.commits],
        "other_commits": [_commit_json(c) for c in r.other_commits],
        "config": [{"file": c.file, "line": c.line, "sign": c.sign, "what": c.what}
                   for c in r.config],
        "grafts": [{"side": g.side, "declared": g.declared, "runs": g.runs,
                    "commits": [_commit_json(c) for c in g.commits]} for g in r.grafts],
        "inputs": [_cause_json(c) for c in r.inputs],
        "roots": [_cause_json(c) for c in r.roots],
        "notes": list(r.notes),
    }


def why_json(w) -> dict:
    return {"seconds": round(w.seconds, 3), "services": [
        {"type": x.type, "change": x.change, "file": x.line.file if x.line else None,
         "line": x.line.line if x.line else None} for x in w.services], "channels": [
        {"name": h.name, "repo": h.repo, "commit_a": h.commit_a, "commit_b": h.commit_b,
         "commits": h.commits, "seconds": round(h.seconds, 3), "note": h.note}
        for h in w.channels]}


def content_json(c, show_all: bool) -> dict:
    items = [i for i in c.items if show_all or i.verdict != "identical"]
    return {
        "identical": c.count("identical"), "references": c.count("references"),
        "content": c.count("content"), "same_hash": c.same_hash,
        "bytes_read": c.bytes_read, "seconds": round(c.seconds, 3),
        "unpaired": list(c.unpaired),
        "items": [{"name": i.name, "path_a": i.path_a, "path_b": i.path_b,
                   "verdict": i.verdict, "files": i.files,
                   "differences": [{"path": f.path, "how": f.how, "size_a": f.size_a,
                                    "size_b": f.size_b, "sections": list(f.sections)}
                                   for f in i.differences]} for i in items],
    }
