"""The SQLite registry: systems, generations, their files, builds, images, hosts, VMs, checks.

sqlite-utils on top of one sqlite3 connection; WAL, a busy timeout and foreign keys on; schema
changes are named migrations applied in order and recorded in ``_migrations``. Writers take
``with registry.write():`` (BEGIN IMMEDIATE), so two processes never interleave a
read-then-insert and lose or duplicate a generation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils


from vmfleet.errors import NotFound, RegistryError

BUSY_TIMEOUT_MS = 30_000


def _m0001_initial(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
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


def _m0002_deploy_runtime(db: sqlite_utils.Database) -> None:
    """When a VM was last started (for uptime), and each remote host's storage pool."""
    db.executescript(
        """
        ALTER TABLE vms ADD COLUMN started TEXT;  -- UTC stamp of the last start, NULL when off
        ALTER TABLE hosts ADD COLUMN pool TEXT;   -- libvirt dir pool vmfleet uses on a remote host
        ALTER TABLE hosts ADD COLUMN pool_dir TEXT;
        """
    )


def _issue8_inputs(db: sqlite_utils.Database) -> None:
    """Config repositories (issue 8): each recorded file's role, a generation's layout (load
    path, working directory, -e expression) and the names vmfleet could not resolve."""
    db.executescript(
        """
        ALTER TABLE generation_files ADD COLUMN role TEXT NOT NULL DEFAULT 'local-file';
        ALTER TABLE generations ADD COLUMN layout TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE generations ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';
        """
    )


# Named, ordered, append-only. Never edit a migration that has shipped: add a new one.
MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("0001_initial", _m0001_initial),
    ("0002_deploy_runtime", _m0002_deploy_runtime),
    ("issue8_inputs", _issue8_inputs),
]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Registry:
    """An open registry. Use ``Registry.open(path)`` for an existing one, ``create`` for new."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None):
        self.conn = conn
        self.path = path
        self._db = None

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils over the same connection (imported on first use: it costs 70 ms)."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    # --- opening -------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path) -> Registry:
        path.parent.mkdir(parents=True, exist_ok=True)
        reg = cls(_connect(path), path)
        reg.migrate()
        return reg

    @classmethod
    def open(cls, path: Path) -> Registry:
        if not path.exists():
            raise RegistryError(f"no registry at {path}", "run 'vmfleet init' first (or pass --home)")
        reg = cls(_connect(path), path)
        try:
            reg.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as e:
            raise _translate(e, path) from None
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

    def migrate(self) -> list[str]:
        """Apply the migrations not yet applied; return their names."""
        applied_now = []
        try:
            with self.write():
                self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied TEXT)"
                )
                done = {r[0] for r in self.conn.execute("SELECT name FROM _migrations")}
                for name, fn in MIGRATIONS:
                    if name in done:
                        continue
                    fn(self.db)
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

    def execute(self, sql: str, params=()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.DatabaseError as e:
            raise _translate_fault(e, self.path) from None

    # --- blobs -----------------------------------------------------------------------------
    def put_blob(self, data: bytes) -> str:
        digest = sha256_bytes(data)
        self.execute(
            "INSERT OR IGNORE INTO blobs (sha256, size, content) VALUES (?, ?, ?)",
            (digest, len(data), data),
        )
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


def _connect(path: Path) -> sqlite3.Connection:
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
    if "readonly" in msg or "read-only" in msg:
        return RegistryError(f"{where} is read-only", "run vmfleet as a user who can write it, or fix its permissions")
    if "locked" in msg or "busy" in msg:
        return RegistryError(f"{where} is locked by another vmfleet", "wait for the other command to finish")
    if "not a database" in msg or "malformed" in msg:
        return RegistryError(f"{where} is not a vmfleet registry, or is corrupt ({msg})",
                             "restore it from a backup, or move it away and run 'vmfleet init'")
    return RegistryError(f"registry error on {where}: {msg}", "run with --debug for details")


def dumps(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
