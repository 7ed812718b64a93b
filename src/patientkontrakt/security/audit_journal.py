"""The audit journal: a read's audit records made durable in a local file before it is
answered, moved into the store as AuditEvents in batches afterwards (`PK_AUDIT_JOURNAL`, on by
default).

Storing an AuditEvent is a write transaction of a dozen statements; appending a line to a file
and flushing it to disk is one `write` and one `fdatasync`. So a read's records go to the
journal, and a mover brings them into the store a fraction of a second later, many per
transaction. The rule stays that no read is answered before its record is durable.

`PK_DATA_DIR/audit-journal/` (mode 0700) holds `*.jsonl` files (mode 0600: who read which
patient's data). Each line is one `AuditRecord` as JSON, with the id its AuditEvent will have,
so moving a line twice stores it once. Every worker process appends to a file of its own and
holds an exclusive `flock` on it while it lives; a file nobody holds belongs to a process that
died, and the first mover to find it moves it. A file appears under its `.jsonl` name only once
it is locked (it is made under a temporary name), so a mover never takes a file whose writer is
still setting it up.

Concurrent reads share one append and one flush (`JournalWriter`, a group commit like
`AuditWriter`'s), done in a thread so the event loop keeps serving. Each mover round seals this
process's file (appends go on in a new one), moves the sealed files and removes them once their
transaction committed. Before AuditEvents are searched or read, `drain` moves every complete
line of every file in the folder, its own and other processes', so a reviewer sees each access
answered before the search began (lines are appended whole before they are acknowledged; a line
being appended right now is not complete and is left for the mover).

The patients an AuditEvent names are found when it is moved, from the index as it is then; a
resource deleted in between (its index rows gone) names them from its last content.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import fcntl
import logging
import os
import secrets
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from patientkontrakt.search.parameters import patient_compartment
from patientkontrakt.search.references import split_reference
from patientkontrakt.security.audit import (
    AuditRecord,
    GroupWriter,
    compartment_patients,
    write_audit,
)
from patientkontrakt.security.principal import Principal
from patientkontrakt.security.scopes import ScopeSet
from patientkontrakt.store.repository import Repository
from patientkontrakt.store.transactions import Store

JOURNAL_FOLDER = "audit-journal"
"""The journal's folder under PK_DATA_DIR."""
SUFFIX = ".jsonl"
MOVE_INTERVAL = 0.15
"""Seconds between mover rounds while there is nothing else to wake it."""
MOVE_SOON = 500
"""Records waiting in this process's file that wake the mover before its interval is up."""
BATCH = 500
"""AuditEvents stored per transaction."""
_MAX_KEYS = 5000  # resources per statement: SQLite binds at most 32766 values
ORPHAN_ROUNDS = 20
"""Mover rounds between looks for dead processes' files (about every 3 seconds)."""
MAX_RETRY_DELAY = 5.0
"""Longest wait, in seconds, between tries while the store cannot be written."""

log = logging.getLogger(__name__)
_datasync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


def journal_folder(data_dir: Path) -> Path:
    """Where the journal files of the service with this PK_DATA_DIR are."""
    return data_dir / JOURNAL_FOLDER


class JournalFile:
    """One open, locked journal file; its descriptor is closed with it or when it is lost."""

    def __init__(self, path: Path, fd: int, size: int = 0) -> None:
        self.path = path
        self.fd = fd
        self.size = size
        """Bytes of complete, flushed lines."""
        self.close = weakref.finalize(self, os.close, fd)

    def discard(self) -> None:
        """Remove the file (its lines are in the store) and release it."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self.close()


def _create(folder: Path) -> JournalFile:
    """A new, empty, locked file of this process, durable in the folder."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{os.getpid()}-{secrets.token_hex(8)}"
    temporary = folder / f".{name}.new"
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(temporary, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = folder / f"{name}{SUFFIX}"
        os.rename(temporary, path)
        _sync_folder(folder)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    return JournalFile(path, fd)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_all(fd: int) -> bytes:
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def record_line(record: AuditRecord) -> bytes:
    """`record` as one journal line: JSON with every field, the principal's scopes as text."""
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    principal = record.principal
    fields["principal"] = {
        **{f.name: getattr(principal, f.name) for f in dataclasses.fields(principal)},
        "scopes": str(principal.scopes),
    }
    return orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE)


def _record(line: bytes) -> AuditRecord:
    fields = _known(AuditRecord, orjson.loads(line))
    principal = _known(Principal, fields["principal"])
    return AuditRecord(
        **{
            **fields,
            "principal": Principal(**{**principal, "scopes": ScopeSet.parse(principal["scopes"])}),
            "recorded": dt.datetime.fromisoformat(fields["recorded"]),
            "references": tuple(fields["references"]),
            "patients": tuple(fields["patients"]),
        }
    )


def _known(kind: type[Any], fields: dict[str, Any]) -> dict[str, Any]:
    """The fields `kind` has (a line written by another version may have more or fewer)."""
    names = {f.name for f in dataclasses.fields(kind)}
    return {k: v for k, v in fields.items() if k in names}


def parse_lines(data: bytes) -> list[AuditRecord]:
    """The records of the complete lines of `data`; a last line without its newline is still
    being appended (or was cut by a crash before it was acknowledged) and is left out."""
    records: list[AuditRecord] = []
    unreadable = 0
    for line in data.split(b"\n")[:-1]:
        if not line:
            continue
        try:
            records.append(_record(line))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            unreadable += 1
    if unreadable:
        log.error("audit journal: %d unreadable lines skipped", unreadable)
    return records


class Journal:
    """This process's journal files: the one appended to, and sealed ones waiting to be moved.

    `append` runs in a worker thread; a lock keeps it and `seal` apart.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._active: JournalFile | None = None
        self._sealed: list[JournalFile] = []
        self.unmoved = 0
        """Records appended since the last seal."""

    def append(self, data: bytes, records: int) -> None:
        """Append whole lines and flush them to disk. On failure the partial append is cut off
        and the file set aside (it is moved like any other), and the next append starts a new
        file."""
        with self._lock:
            if self._active is None:
                self._active = _create(self.folder)
            active = self._active
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(active.fd, view) :]
                _datasync(active.fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(active.fd, active.size)
                self._active = None
                self._set_aside(active)
                raise
            active.size += len(data)
            self.unmoved += records

    def seal(self) -> list[JournalFile]:
        """The files waiting to be moved; when none are, the current file if it has lines, and
        appends go on in a new one. (While the store is down, one file grows.)"""
        if not self._sealable():
            return self.waiting()
        try:
            fresh: JournalFile | None = _create(self.folder)
        except OSError:
            fresh = None  # the next append tries again, and fails its read if it cannot
        with self._lock:
            if self._sealable():
                assert self._active is not None
                self._sealed.append(self._active)
                self._active, fresh = fresh, None
                self.unmoved = 0
        if fresh is not None:
            fresh.discard()
        return self.waiting()

    def _sealable(self) -> bool:
        return not self._sealed and self._active is not None and self._active.size > 0

    def waiting(self) -> list[JournalFile]:
        """The sealed and adopted files not moved yet."""
        with self._lock:
            return list(self._sealed)

    def adopt(self, files: Sequence[JournalFile]) -> None:
        """Take over dead processes' files, to be moved with this process's own."""
        with self._lock:
            self._sealed.extend(files)

    def own_paths(self) -> set[Path]:
        """The paths of the files this process holds."""
        with self._lock:
            files = [*self._sealed, *([self._active] if self._active else [])]
            return {f.path for f in files}

    def moved(self, file: JournalFile) -> None:
        """`file`'s lines are in the store: remove it."""
        with self._lock:
            self._sealed.remove(file)
        file.discard()

    def close(self) -> None:
        """Release every file (an empty current one is removed): what is still in them is
        moved by whoever finds them."""
        with self._lock:
            files, self._sealed = self._sealed, []
            if self._active is not None and self._active.size == 0:
                self._active.discard()
            elif self._active is not None:
                files.append(self._active)
            self._active = None
        for file in files:
            file.close()

    def _set_aside(self, file: JournalFile) -> None:
        if file.size:
            self._sealed.append(file)
        else:
            file.discard()


def claim_orphans(folder: Path, own: set[Path]) -> list[JournalFile]:
    """The journal files no live process holds, locked for this one."""
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    claimed = []
    for name in names:
        path = folder / name
        if not name.endswith(SUFFIX) or name.startswith(".") or path in own:
            continue
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            continue  # moved and removed by its owner meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)  # its process is alive and moves it itself
            continue
        stat = os.fstat(fd)
        if stat.st_nlink == 0:
            os.close(fd)  # removed by its owner between listing and locking
            continue
        claimed.append(JournalFile(path, fd, stat.st_size))
    return claimed


def read_folder(folder: Path) -> list[AuditRecord]:
    """The records of every complete line of every journal file in `folder`."""
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    records = []
    for name in names:
        if not name.endswith(SUFFIX) or name.startswith("."):
            continue
        try:
            fd = os.open(folder / name, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            continue  # moved into the store and removed meanwhile
        try:
            records += parse_lines(_read_all(fd))
        finally:
            os.close(fd)
    return records


async def store_new(repo: Repository, records: Sequence[AuditRecord], *, base_url: str) -> int:
    """Store the AuditEvents of those `records` the store does not hold yet; how many.

    Whoever stores journalled records takes one lock first (an advisory lock on PostgreSQL; on
    SQLite the write transaction is the lock), so two processes moving the same records neither
    store one twice nor fail on each other's keys.
    """
    await repo.serialize("audit-journal")
    fresh = {record.event_id: record for record in records}
    ids = list(fresh)
    for start in range(0, len(ids), _MAX_KEYS):
        for known in await repo.existing_ids("AuditEvent", ids[start : start + _MAX_KEYS]):
            del fresh[known]
    await write_audit(repo, await _with_deleted_patients(repo, fresh.values()), base_url=base_url)
    return len(fresh)


async def _with_deleted_patients(
    repo: Repository, records: Iterable[AuditRecord]
) -> list[AuditRecord]:
    """`records`, each also naming the patients of the resources it reached that have been
    deleted since (their index rows are gone, so `write_audit` would not find them)."""
    records = list(records)
    compartment = patient_compartment()
    keys = set()
    for reference in {r for record in records for r in record.references}:
        resource_type, resource_id = split_reference(reference)
        if resource_type in compartment and resource_id is not None:
            keys.add((resource_type, resource_id))
    ordered = sorted(keys)
    gone: dict[tuple[str, str], bytes] = {}
    for start in range(0, len(ordered), _MAX_KEYS):
        gone |= await repo.deleted_contents(ordered[start : start + _MAX_KEYS])
    if not gone:
        return records
    patients = {
        f"{key[0]}/{key[1]}": compartment_patients(key[0], orjson.loads(content))
        for key, content in gone.items()
    }
    return [_adding_patients(record, patients) for record in records]


def _adding_patients(record: AuditRecord, patients: dict[str, list[str]]) -> AuditRecord:
    found = [p for r in record.references for p in patients.get(r.split("/_history/")[0], ())]
    if not found:
        return record
    return dataclasses.replace(record, patients=tuple(dict.fromkeys([*record.patients, *found])))


async def store_records(store: Store, records: Sequence[AuditRecord], *, base_url: str) -> int:
    """Store journalled records not in the store yet, BATCH per transaction; how many."""
    stored = 0
    for start in range(0, len(records), BATCH):
        async with store.writing() as repo:
            stored += await store_new(repo, records[start : start + BATCH], base_url=base_url)
    return stored


async def drain(folder: Path, store: Store, *, base_url: str = "") -> int:
    """Move every complete journal line in `folder` into the store now, whichever process wrote
    it; the files stay for their movers (whose second move stores nothing). How many were new."""
    records = await asyncio.to_thread(read_folder, folder)
    return await store_records(store, records, base_url=base_url)


async def move_leftovers(folder: Path, store: Store, *, base_url: str = "") -> int:
    """Move and remove the files no live process holds: at the start of a service that has
    the journal turned off, so records journalled before are not stranded."""
    journal = AuditJournal(folder, store, base_url=base_url)
    try:
        return await journal.move(orphans=True)
    finally:
        journal.journal.close()


class JournalWriter(GroupWriter):
    """A GroupWriter whose durable step is one append (one flush) to this process's journal
    file, in a thread; it needs no database."""

    def __init__(self, journal: Journal, *, full: Callable[[], None] = lambda: None) -> None:
        super().__init__()
        self._journal = journal
        self._full = full

    async def _commit(self, records: Sequence[AuditRecord]) -> None:
        """Append `records` to the journal, flushed to disk."""
        data = b"".join(record_line(record) for record in records)
        await asyncio.to_thread(self._journal.append, data, len(records))
        if self._journal.unmoved >= MOVE_SOON:
            self._full()


class AuditJournal:
    """The journal of one app: the writer its guards use, the mover its lifespan runs, and the
    drain that runs before AuditEvents are read."""

    def __init__(self, folder: Path, store: Store, *, base_url: str = "") -> None:
        self.folder = folder
        self.store = store
        self.base_url = base_url
        self.journal = Journal(folder)
        self._wake = asyncio.Event()
        self.writer = JournalWriter(self.journal, full=self._wake.set)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start moving in the background; dead processes' files are looked for at once."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the mover, move what is left if the store takes it, release the files."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.move()
        except Exception as exc:  # the files stay; the next start moves them
            _log_failure(exc)
        finally:
            self.journal.close()

    async def drain(self) -> int:
        """Every journalled AuditEvent into the store (see `drain`)."""
        return await drain(self.folder, self.store, base_url=self.base_url)

    async def move(self, *, orphans: bool = False) -> int:
        """One round: seal this process's file, take dead processes' files when `orphans`,
        move every sealed file and remove it once its lines are committed."""
        files = await asyncio.to_thread(self.journal.seal)
        if orphans:
            own = self.journal.own_paths()
            found = await asyncio.to_thread(claim_orphans, self.folder, own)
            self.journal.adopt(found)
            files += found
        moved = 0
        for file in files:
            data = await asyncio.to_thread(_read_all, file.fd)
            moved += await store_records(self.store, parse_lines(data), base_url=self.base_url)
            await asyncio.to_thread(self.journal.moved, file)
        return moved

    async def _run(self) -> None:
        rounds, delay = 0, MOVE_INTERVAL
        while True:
            try:
                await self.move(orphans=rounds % ORPHAN_ROUNDS == 0)
                delay = MOVE_INTERVAL
            except Exception as exc:
                _log_failure(exc)
                delay = min(delay * 2, MAX_RETRY_DELAY)
            rounds += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()


def _log_failure(exc: Exception) -> None:
    # The type only: a database error's message quotes its statement's values.
    log.warning(
        "audit journal: moving records into the store failed (%s); they stay in the journal "
        "and are tried again",
        type(exc).__name__,
    )
