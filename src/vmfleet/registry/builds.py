"""The ``builds`` rows (each guix run for an image, with its outcome and log) and the ``images``
rows (the content-addressed image store's files), for vmfleet.build."""

from __future__ import annotations

from vmfleet.registry.db import Registry

# Not the log: it can be megabytes; log() reads it.
_COLUMNS = ("b.id, b.generation_id, b.inputs_key, b.options, b.builder, b.command, b.status, "
            "b.store_path, b.image_sha256, b.image_size, b.started, b.finished, b.duration, "
            "b.exit_status, b.error, b.image_type")
_SELECT = (f"SELECT {_COLUMNS}, g.system || '@' || g.number AS label, i.path AS stored_path "
           "FROM builds b JOIN generations g ON g.id = b.generation_id "
           "LEFT JOIN images i ON i.sha256 = b.image_sha256 ")


# --- builds ------------------------------------------------------------------------------------
# A row has the build's columns, its generation's ``label`` ('web@3') and the image's
# ``stored_path`` (as recorded: relative to the home), without the log.

def row(reg: Registry, build_id: int) -> dict | None:
    return reg.query_one(_SELECT + "WHERE b.id = ?", (build_id,))


def rows(reg: Registry, *, system: str | None = None) -> list[dict]:
    if system:
        return reg.query(_SELECT + "WHERE g.system = ? ORDER BY b.id", (system,))
    return reg.query(_SELECT + "ORDER BY b.id")


def succeeded_with_key(reg: Registry, inputs_key: str) -> list[dict]:
    """Successful builds of these inputs, newest first (cache candidates)."""
    return reg.query(_SELECT + "WHERE b.inputs_key = ? AND b.status = 'succeeded' "
                     "ORDER BY b.id DESC", (inputs_key,))


def last_of_generation(reg: Registry, generation_id: int) -> dict | None:
    return reg.query_one(_SELECT + "WHERE b.generation_id = ? ORDER BY b.id DESC LIMIT 1",
                         (generation_id,))


def first_making_image(reg: Registry, sha256: str) -> dict | None:
    """The first successful build whose image has this sha256 (its generation made the image)."""
    return reg.query_one(_SELECT + "WHERE b.image_sha256 = ? AND b.status = 'succeeded' "
                         "ORDER BY b.id LIMIT 1", (sha256,))


def last_making_image(reg: Registry, sha256: str) -> dict | None:
    return reg.query_one(_SELECT + "WHERE b.image_sha256 = ? AND b.status = 'succeeded' "
                         "ORDER BY b.id DESC LIMIT 1", (sha256,))


def labels_of_image(reg: Registry, sha256: str) -> list[str]:
    """Every generation ('web@3') a build made this image for."""
    return [r["label"] for r in reg.query(
        "SELECT DISTINCT g.system || '@' || g.number AS label FROM builds b "
        "JOIN generations g ON g.id = b.generation_id WHERE b.image_sha256 = ? ORDER BY label",
        (sha256,))]


def running(reg: Registry) -> list[dict]:
    """``id`` and ``inputs_key`` of the builds recorded as running."""
    return reg.query("SELECT id, inputs_key FROM builds WHERE status = 'running'")


def mark_interrupted(reg: Registry, build_id: int, finished: str, error: str) -> None:
    """A build whose process is gone: ``interrupted``, unless it finished meanwhile."""
    reg.execute("UPDATE builds SET status = 'interrupted', error = ?, finished = ? "
                "WHERE id = ? AND status = 'running'", (error, finished, build_id))


def begin(reg: Registry, *, generation_id: int, inputs_key: str, options: str, builder: str,
          status: str, started: str) -> int:
    """Record a build before it runs; returns its id."""
    return reg.insert(
        "INSERT INTO builds (generation_id, inputs_key, options, builder, command, status, started)"
        " VALUES (?,?,?,?,?,?,?)",
        (generation_id, inputs_key, options, builder, "[]", status, started))


def update(reg: Registry, build_id: int, values: dict) -> None:
    reg.update("builds", ("id", build_id), values)


def log(reg: Registry, build_id: int) -> str:
    found = reg.query_one("SELECT log FROM builds WHERE id = ?", (build_id,))
    return found["log"] if found else ""


def latest_id(reg: Registry, generation_id: int) -> int | None:
    found = reg.query_one("SELECT id FROM builds WHERE generation_id = ? ORDER BY id DESC LIMIT 1",
                          (generation_id,))
    return found["id"] if found else None


# --- images ------------------------------------------------------------------------------------

def add_image(reg: Registry, *, sha256: str, size: int, path: str, created: str) -> None:
    reg.execute("INSERT OR IGNORE INTO images (sha256, size, path, created) VALUES (?,?,?,?)",
                (sha256, size, path, created))


def images(reg: Registry) -> list[dict]:
    """Every image row, oldest first (``path`` as recorded)."""
    return reg.query("SELECT * FROM images ORDER BY created")


def images_matching(reg: Registry, sha256_prefix: str) -> list[dict]:
    return reg.query("SELECT * FROM images WHERE sha256 LIKE ?", (sha256_prefix + "%",))


def recorded_image_shas(reg: Registry) -> frozenset[str]:
    """The sha256 of every image the registry recorded in its store: the only files an image
    vmfleet reads may name as its backing file (inspect.disk.StoreImages)."""
    return frozenset(r["sha256"] for r in reg.query("SELECT sha256 FROM images"))
