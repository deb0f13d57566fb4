"""The SQLite registry: systems, generations, their files, builds, images, hosts, VMs, checks.

One sqlite3 connection (the standard library's: vmfleet used sqlite-utils only for a column
list and for running a migration's statements inside its transaction, two short functions here,
and importing it cost 70 ms); WAL, a busy timeout and foreign keys on; schema changes are
named migrations applied in order and recorded in ``_migrations``. Writers take
``with registry.write():`` (BEGIN IMMEDIATE), so two processes never interleave a
read-then-insert and lose or duplicate a generation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

from vmfleet.errors import NotFound, RegistryError

BUSY_TIMEOUT_MS = 30_000


def _m0001_initial(db: sqlite3.Connection) -> None:
    run_script(db, """
        CREATE TABLE systems (
            name TEXT PRIMARY KEY,
            created TEXT NOT NULL
        );
        CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            content BLOB NOT NULL
        );
        CREATE TABLE generations (
            id INTEGER PRIMARY KEY,
            system TEXT NOT NULL REFERENCES systems(name),
            number INTEGER NOT NULL,
            current_from TEXT NOT NULL,          -- UTC, 'YYYY-MM-DDTHH:MM:SSZ'
            source TEXT NOT NULL,                -- 'git', 'manual' or 'adopted'
            git_commit TEXT,
            message TEXT NOT NULL DEFAULT '',
            config_path TEXT NOT NULL,           -- file name of the config, e.g. 'web.scm'
            config_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
            channels_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
            pins TEXT NOT NULL,                  -- JSON list of channels
            unpinned INTEGER NOT NULL DEFAULT 0, -- recorded with --allow-unpinned
            inputs_sha256 TEXT NOT NULL,         -- config + local files + channels
            summary TEXT NOT NULL DEFAULT '{}',  -- JSON summary of the operating-system
            recorded TEXT NOT NULL,
            UNIQUE (system, number)
        );
        CREATE INDEX generations_by_time ON generations(system, current_from);
        CREATE INDEX generations_by_commit ON generations(git_commit);
        CREATE TABLE generation_files (
            generation_id INTEGER NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
            path TEXT NOT NULL,                  -- relative to the config's directory
            sha256 TEXT NOT NULL REFERENCES blobs(sha256),
            mode INTEGER NOT NULL DEFAULT 420,
            PRIMARY KEY (generation_id, path)
        );
        CREATE TABLE images (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            path TEXT NOT NULL,
            created TEXT NOT NULL
        );
        CREATE TABLE builds (
            id INTEGER PRIMARY KEY,
            generation_id INTEGER NOT NULL REFERENCES generations(id),
            inputs_key TEXT NOT NULL,            -- sha256 of generation inputs + image options
            options TEXT NOT NULL DEFAULT '{}',  -- JSON: image size, ...
            builder TEXT NOT NULL,               -- 'local' or 'ssh://user@host:port'
            command TEXT NOT NULL,               -- JSON argv
            status TEXT NOT NULL,                -- running, succeeded, failed, timeout, interrupted
            store_path TEXT,                     -- what guix printed on stdout
            image_sha256 TEXT REFERENCES images(sha256),
            image_size INTEGER,
            started TEXT NOT NULL,
            finished TEXT,
            duration REAL,
            exit_status INTEGER,
            error TEXT,
            log TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX builds_by_inputs ON builds(inputs_key, status);
        CREATE TABLE hosts (
            name TEXT PRIMARY KEY,
            uri TEXT NOT NULL,
            created TEXT NOT NULL
        );
        CREATE TABLE vms (
            name TEXT PRIMARY KEY,
            system TEXT NOT NULL REFERENCES systems(name),
            generation_id INTEGER NOT NULL REFERENCES generations(id),
            host TEXT NOT NULL,
            image_sha256 TEXT NOT NULL,
            overlay TEXT NOT NULL,
            state TEXT NOT NULL,                 -- deploying, running, stopped, retired, failed
            network TEXT NOT NULL DEFAULT 'user',
            ssh_host TEXT,
            ssh_port INTEGER,
            host_key TEXT,                       -- pinned at first contact: 'type base64'
            memory_mib INTEGER NOT NULL DEFAULT 512,
            vcpus INTEGER NOT NULL DEFAULT 1,
            replaces TEXT,                       -- the VM this one replaced (for rollback)
            created TEXT NOT NULL,
            updated TEXT NOT NULL
        );
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            user TEXT NOT NULL,
            action TEXT NOT NULL,
            vm TEXT,
            from_generation_id INTEGER,
            to_generation_id INTEGER,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE checks (
            id INTEGER PRIMARY KEY,
            generation_id INTEGER NOT NULL REFERENCES generations(id),
            build_id INTEGER REFERENCES builds(id),
            reference_build_id INTEGER REFERENCES builds(id),
            started TEXT NOT NULL,
            finished TEXT,
            result TEXT NOT NULL,                -- reproducible, image-differs, drifted, fails
            detail TEXT NOT NULL DEFAULT '{}'
        );
        """
    )


def _m0002_deploy_runtime(db: sqlite3.Connection) -> None:
    """When a VM was last started (for uptime), and each remote host's storage pool."""
    run_script(db, """
        ALTER TABLE vms ADD COLUMN started TEXT;  -- UTC stamp of the last start, NULL when off
        ALTER TABLE hosts ADD COLUMN pool TEXT;   -- libvirt dir pool vmfleet uses on a remote host
        ALTER TABLE hosts ADD COLUMN pool_dir TEXT;
        """
    )


def _trust_rollouts(db: sqlite3.Connection) -> None:
    """Redeploys and rollbacks as records: each step's intent is written before it is taken, so
    a retry after a kill finishes the same operation (see deploy/rollout.py)."""
    run_script(db, """
        CREATE TABLE rollouts (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,                  -- 'redeploy' or 'rollback'
            vm TEXT NOT NULL,                    -- redeploy: the VM replaced; rollback: brought back
            successor TEXT,                      -- redeploy: the new VM's name
            retiring TEXT NOT NULL DEFAULT '[]', -- rollback: JSON list of the VMs it retires
            system TEXT NOT NULL,
            generation_id INTEGER NOT NULL,      -- the generation it moves to
            step TEXT NOT NULL,                  -- the step under way (its intent is recorded)
            status TEXT NOT NULL,                -- 'running', 'done' or 'failed'
            started TEXT NOT NULL,
            updated TEXT NOT NULL
        );
        CREATE INDEX rollouts_open ON rollouts(status, system);
        """
    )


def _fleet_history(db: sqlite3.Connection) -> None:
    """The fleet file's recorded versions, each apply of it, and the apply id of audit entries
    (vmfleet.fleet)."""
    run_script(db, """
        CREATE TABLE fleet_versions (
            id INTEGER PRIMARY KEY,
            number INTEGER NOT NULL UNIQUE,
            current_from TEXT NOT NULL,          -- UTC, like generations
            git_commit TEXT,
            message TEXT NOT NULL DEFAULT '',
            path TEXT NOT NULL,                  -- repo-relative path of the fleet file
            content_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
            recorded TEXT NOT NULL
        );
        CREATE INDEX fleet_versions_by_time ON fleet_versions(current_from);
        CREATE TABLE fleet_applies (
            id TEXT PRIMARY KEY,                 -- 'a' + UTC time + random, e.g. a20261201t2130-3f9c
            started TEXT NOT NULL,
            finished TEXT,
            status TEXT NOT NULL,                -- running, succeeded, failed, rolled-back
            user TEXT NOT NULL,
            fleet TEXT NOT NULL,                 -- which fleet file (label)
            fingerprint TEXT NOT NULL,           -- of the plan it executed
            plan TEXT NOT NULL,                  -- the plan, JSON
            summary TEXT NOT NULL DEFAULT ''
        );
        ALTER TABLE audit ADD COLUMN apply_id TEXT;
        """
    )


def _trust_home_relative_paths(db: sqlite3.Connection) -> None:
    """Image and local overlay paths are stored relative to the home, so a copied or moved home
    uses (and removes) its own files, never the original's. Old rows held absolute paths of the
    home they were made in (maybe another one, for a copied home): their home-relative tail is
    what the file is called in every copy."""
    for sha, path in db.execute("SELECT sha256, path FROM images").fetchall():
        if path.endswith(f"/images/{sha}.qcow2"):
            db.execute("UPDATE images SET path = ? WHERE sha256 = ?", (f"images/{sha}.qcow2", sha))
    for name, overlay in db.execute(
            "SELECT name, overlay FROM vms WHERE host = 'local'").fetchall():
        if overlay.endswith(f"/overlays/{name}.qcow2"):
            db.execute("UPDATE vms SET overlay = ? WHERE name = ?", (f"overlays/{name}.qcow2", name))


def _config_repository_inputs(db: sqlite3.Connection) -> None:
    """Config repositories: each recorded file's role, a generation's layout (load
    path, working directory, -e expression) and the names vmfleet could not resolve."""
    run_script(db, """
        ALTER TABLE generation_files ADD COLUMN role TEXT NOT NULL DEFAULT 'local-file';
        ALTER TABLE generations ADD COLUMN layout TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE generations ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';
        """
    )


def _image_types_and_logins(db: sqlite3.Connection) -> None:
    """The image type guix made for each build (qcow2, efi-raw, qcow2-gpt, vm-image: how it
    boots), and the user vmfleet logs into each VM as (root only where the config permits)."""
    run_script(db, """
        ALTER TABLE builds ADD COLUMN image_type TEXT;
        ALTER TABLE vms ADD COLUMN ssh_user TEXT;
        """
    )


def _import_marks(db: sqlite3.Connection) -> None:
    """What each import of a system from a repository got to (its last commit, with the
    options it ran with), so the next import reads only newer commits."""
    run_script(db, """
        CREATE TABLE import_marks (
            system TEXT NOT NULL,
            repo TEXT NOT NULL,
            options TEXT NOT NULL,
            last_commit TEXT NOT NULL,
            imported TEXT NOT NULL,
            PRIMARY KEY (system, repo)
        );
        """
    )


# Named, ordered, append-only. Never edit a migration that has shipped: add a new one.
MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("0001_initial", _m0001_initial),
    ("0002_deploy_runtime", _m0002_deploy_runtime),
    ("trust_rollouts", _trust_rollouts),
    ("trust_home_relative_paths", _trust_home_relative_paths),
    ("fleet_history", _fleet_history),
    ("config_repository_inputs", _config_repository_inputs),
    ("image_types_and_logins", _image_types_and_logins),
    ("import_marks", _import_marks),
]


# Migrations once named after tracker numbers, which a reader cannot look up: registries that
# recorded the old name get the new one (the migration itself is the same).
RENAMED = {"issue8_inputs": "config_repository_inputs",
           "issue9_image_types_logins": "image_types_and_logins",
           "issue16_import_marks": "import_marks"}


def run_script(conn: sqlite3.Connection, sql: str) -> None:
    """Run each statement of ``sql`` in the open transaction (sqlite3's ``executescript``
    commits first, so a migration killed half-way would stay half-applied)."""
    pending = ""
    for piece in sql.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                conn.execute(pending)
            pending = ""
    if pending.strip(" \n;"):
        conn.execute(pending)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Registry:
    """An open registry. Use ``Registry.open(path)`` for an existing one, ``create`` for new."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None):
        self.conn = conn
        self.path = path
        # Blobs put in the current write transaction (an import puts the same module at
        # every commit): forgotten at its end, whether committed or rolled back.
        self._put: set[str] = set()

    # --- opening -------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path) -> Registry:
        """Create a registry, or open the one at ``path`` (never replacing another file)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RegistryError(f"cannot create {path.parent}: {e.strerror}",
                                "pass a --home in a directory you can write") from None
        if path.exists():
            return cls.open(path)
        reg = cls(_connect(path), path)
        _make_private(path)
        reg.migrate()
        return reg

    @classmethod
    def open(cls, path: Path) -> Registry:
        if not path.exists():
            raise RegistryError(f"no registry at {path}", "run 'vmfleet init' first (or pass --home)")
        _refuse_foreign(path)
        conn = None
        try:
            conn = _connect(path)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            reg = cls(conn, path)
        except (sqlite3.DatabaseError, RegistryError) as e:
            if conn is not None:
                conn.close()
            # On a full disk SQLite cannot make its WAL index (-shm) even to read: with nothing
            # left in the WAL (each connection checkpoints it when it closes), the file alone
            # is the registry, and the listings read it as an immutable file; writes still fail
            # with the full disk named.
            free = _free_bytes(path)
            full = ("disk I/O error" in str(e) or "unable to open" in str(e)
                    or "full" in str(e) or "no space" in str(e))
            if not full or free is None or free >= LOW_SPACE or not _wal_is_empty(path):
                raise (e if isinstance(e, RegistryError) else _translate(e, path)) from None
            reg = cls(_connect_read_only(path), path)
        try:
            tables = {r[0] for r in reg.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as e:
            raise _translate(e, path) from None
        if tables and "_migrations" not in tables:
            reg.close()
            raise RegistryError(f"{path} is an SQLite database, but not a vmfleet registry",
                                "move it away, or pass another --home")
        _make_private(path)
        reg.migrate()
        return reg

    @classmethod
    def memory(cls) -> Registry:
        """An in-memory registry, for tests."""
        reg = cls(sqlite3.connect(":memory:", isolation_level=None), None)
        reg.conn.execute("PRAGMA foreign_keys=ON")
        reg.migrate()
        return reg

    def close(self) -> None:
        self.conn.close()

    # --- paths below the home ------------------------------------------------------------
    # The registry sits at the top of its home (Home.registry): files of the home are recorded
    # relative to it, so the home can be copied or moved as a whole.
    def resolve_path(self, value: str) -> Path:
        """A path as recorded (relative to the home, or absolute) as a path to open."""
        path = Path(value)
        if path.is_absolute() or self.path is None:
            return path
        return self.path.parent.absolute() / path

    def relative_path(self, path: str | os.PathLike) -> str:
        """What to record for ``path``: relative to the home when it lies below it."""
        path = Path(path).absolute()
        if self.path is not None:
            with contextlib.suppress(ValueError):
                return str(path.relative_to(self.path.parent.absolute()))
        return str(path)

    def migrate(self) -> list[str]:
        """Apply the migrations not yet applied; return their names. A registry that has them
        all is not written to (a read-only home stays readable)."""
        applied_now = []
        try:
            with contextlib.suppress(sqlite3.OperationalError):  # no _migrations table yet
                done = {r[0] for r in self.conn.execute("SELECT name FROM _migrations")}
                if all(name in done for name, _fn in MIGRATIONS):
                    return []
        except sqlite3.DatabaseError as e:
            raise _translate_fault(e, self.path) from None
        try:
            with self.write():
                self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied TEXT)"
                )
                for old, new in RENAMED.items():
                    self.conn.execute("UPDATE _migrations SET name = ? WHERE name = ?", (new, old))
                done = {r[0] for r in self.conn.execute("SELECT name FROM _migrations")}
                for name, fn in MIGRATIONS:
                    if name in done:
                        continue
                    fn(self.conn)
                    self.conn.execute(
                        "INSERT INTO _migrations VALUES (?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
                        (name,),
                    )
                    applied_now.append(name)
        except sqlite3.DatabaseError as e:
            raise _translate_fault(e, self.path) from None
        return applied_now

    # --- transactions ----------------------------------------------------------------------
    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front (BEGIN IMMEDIATE), committed or rolled back whole."""
        if self.conn.in_transaction:  # nested: join the outer transaction
            yield self.conn
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise _translate(e, self.path) from None
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as e:
                self.conn.execute("ROLLBACK")
                raise _translate(e, self.path) from None
        finally:
            self._put.clear()

    def query(self, sql: str, params=()) -> list[dict]:
        try:
            cur = self.conn.execute(sql, params)
            rows = cur.fetchall()  # a damaged page may show only while reading the rows
        except sqlite3.DatabaseError as e:
            raise _translate_fault(e, self.path) from None
        cols = [c[0] for c in cur.description or ()]
        return [dict(zip(cols, row, strict=True)) for row in rows]

    def query_one(self, sql: str, params=()) -> dict | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def insert(self, sql: str, params=()) -> int:
        """Run an INSERT; returns the new row's id."""
        rowid = self.execute(sql, params).lastrowid
        if rowid is None:
            raise RegistryError(f"registry error on {self.path or 'the registry'}: no row inserted",
                                "run with --debug for details")
        return rowid

    def execute(self, sql: str, params=()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.DatabaseError as e:
            raise _translate_fault(e, self.path) from None

    def update(self, table: str, key: tuple[str, object], values: dict) -> int:
        """``UPDATE table SET col = ? ... WHERE key_col = ?``: values always as parameters, and
        the column names (which SQL cannot take as parameters) checked against the table's own
        columns, then quoted. Returns the number of rows changed."""
        columns = self.columns(table)
        unknown = [c for c in [key[0], *values] if c not in columns]
        if unknown:
            raise ValueError(f"{table} has no column {', '.join(unknown)}")
        sets = ", ".join(f"{_quote(c)} = ?" for c in values)
        sql = f"UPDATE {_quote(table)} SET {sets} WHERE {_quote(key[0])} = ?"  # names checked above
        return self.execute(sql, (*values.values(), key[1])).rowcount

    def columns(self, table: str) -> list[str]:
        """The table's column names (none for a table that does not exist)."""
        return [r["name"] for r in self.query("SELECT name FROM pragma_table_info(?)", (table,))]

    # --- blobs -----------------------------------------------------------------------------
    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        """Store ``data`` (``digest``: its sha256 when the caller has it)."""
        digest = digest or sha256_bytes(data)
        if digest in self._put and self.conn.in_transaction:
            return digest
        self.execute(
            "INSERT OR IGNORE INTO blobs (sha256, size, content) VALUES (?, ?, ?)",
            (digest, len(data), data),
        )
        if self.conn.in_transaction:
            self._put.add(digest)
        return digest

    def get_blob(self, digest: str) -> bytes:
        try:
            row = self.conn.execute("SELECT content FROM blobs WHERE sha256 = ?",
                                    (digest,)).fetchone()
        except sqlite3.DatabaseError as e:
            raise _translate_fault(e, self.path) from None
        if row is None:
            raise NotFound(f"blob {digest[:12]} is missing from the registry",
                           "the registry is damaged: restore it from a backup")
        return bytes(row[0])


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


SQLITE_MAGIC = b"SQLite format 3\x00"


def _refuse_foreign(path: Path) -> None:
    """A registry is an SQLite file; an empty or foreign file in its place is someone's data
    (or a registry truncated by accident), never something to replace with an empty one."""
    try:
        if not path.is_file():
            raise RegistryError(f"{path} is not a file", "move it away, or pass another --home")
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise RegistryError(f"cannot read {path}: {e.strerror}",
                            "run vmfleet as a user who can read it, or fix its permissions") from None
    if not head:
        raise RegistryError(f"{path} is empty: its history is gone (a truncated registry)",
                            "restore it from a backup; if it is really new, remove the empty "
                            "file and run 'vmfleet init'")
    if head != SQLITE_MAGIC:
        raise RegistryError(f"{path} is not a vmfleet registry (not an SQLite file)",
                            "move it away, or pass another --home")


def _make_private(path: Path) -> None:
    """0600 for the registry and its WAL files: it holds configs and pinned host keys."""
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):
            if p.stat().st_uid == os.geteuid():
                os.chmod(p, 0o600)


def _connect(path: Path) -> sqlite3.Connection:
    if path.exists() and _read_only_fs(path):
        return _connect_read_only(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        if os.access(path, os.W_OK) or not path.exists():
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # safe in WAL mode; one fsync per checkpoint
    except sqlite3.DatabaseError as e:
        raise _translate(e, path) from None
    return conn


def _read_only_fs(path: Path) -> bool:
    """Whether the file system holding ``path`` is mounted read-only (root included)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A registry on a read-only file system, for the commands that only read it: SQLite cannot
    make the WAL index (-shm) there, so it is opened read-only, and if that fails too, as an
    immutable file (no locks: nothing can write a read-only file system)."""
    uri = "file:" + urllib.parse.quote(str(path.absolute()))
    last: sqlite3.Error | None = None
    for mode in ("?mode=ro", "?immutable=1"):
        try:
            conn = sqlite3.connect(uri + mode, uri=True, isolation_level=None,
                                   timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            conn.execute("PRAGMA foreign_keys=ON")
            return conn
        except sqlite3.Error as e:
            last = e
    assert last is not None  # the loop ran and every mode failed
    raise _translate(last, path) from None


def _wal_is_empty(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    try:
        return wal.stat().st_size == 0
    except FileNotFoundError:
        return True


def _free_bytes(path: Path | None) -> int | None:
    try:
        st = os.statvfs(path.parent if path is not None else ".")
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _translate_fault(e: sqlite3.DatabaseError, path: Path | None) -> RegistryError:
    """Like ``_translate``, for the errors the registry file causes: a locked, read-only or
    damaged file (sqlite3 reports damage as a bare DatabaseError). Anything else (a constraint,
    a programming error) is a bug in vmfleet and is raised as it is."""
    if isinstance(e, sqlite3.OperationalError) or type(e) is sqlite3.DatabaseError:
        return _translate(e, path)
    raise e


def _translate(e: sqlite3.Error, path: Path | None) -> RegistryError:
    """sqlite3's error, as a RegistryError that names the fix."""
    msg = str(e)
    where = str(path) if path else "the registry"
    if path is not None and path.exists() and _read_only_fs(path):
        return RegistryError(f"{where} is on a read-only file system: this command writes "
                             "the registry", "remount it read-write (commands that only read, "
                             "such as systems, generations, show, log and ps, work as it is)")
    free = _free_bytes(path)
    immutable = "readonly" in msg and path is not None and os.access(path, os.W_OK)
    if ("disk I/O error" in msg or "unable to open" in msg or immutable) \
            and free is not None and free < LOW_SPACE:
        # SQLite reports a full disk while writing its WAL so; and a registry the user may write
        # but that was opened as an immutable file because the disk is full (Registry.open)
        # says "readonly"
        return RegistryError(f"no space left on the device of {where} ({free} bytes free)",
                             "free some space (vmfleet images gc removes unused images), "
                             "then run the command again")
    if "readonly" in msg or "read-only" in msg:
        return RegistryError(f"{where} is read-only", "run vmfleet as a user who can write it, or fix its permissions")
    if "locked" in msg or "busy" in msg:
        return RegistryError(f"{where} is locked by another vmfleet", "wait for the other command to finish")
    if "disk is full" in msg or "No space left" in msg:
        return RegistryError(f"no space left on the device of {where}",
                             "free some space (vmfleet images gc removes unused images), "
                             "then run the command again")
    if "not a database" in msg or "malformed" in msg:
        return RegistryError(f"{where} is not a vmfleet registry, or is corrupt ({msg})",
                             "restore it from a backup, or move it away and run 'vmfleet init'")
    if "disk I/O error" in msg:
        return RegistryError(f"disk I/O error on {where}",
                             "the disk failed a read or write: see the kernel log (dmesg) and "
                             "check the free space of that file system")
    return RegistryError(f"registry error on {where}: {msg}", "run with --debug for details")


LOW_SPACE = 1 << 20  # bytes: below this, an I/O error on the registry is a full disk


def dumps(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
