"""The audit journal (security/audit_journal.py) on both databases: records survive a crash,
land in the store exactly once whoever moves them, and the files are private."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from patientkontrakt.config import Settings
from patientkontrakt.security.audit import AuditRecord
from patientkontrakt.security.audit_journal import (
    AuditJournal,
    Journal,
    JournalWriter,
    claim_orphans,
    drain,
    journal_folder,
    move_leftovers,
    parse_lines,
    read_folder,
    record_line,
)
from patientkontrakt.store.database import create_engine
from patientkontrakt.store.transactions import Store
from tests.db.audit_fixtures import (  # noqa: F401  (store is a fixture)
    CLINICIAN,
    NURSE,
    PORTAL,
    at,
    search,
    store,
)

pytestmark = pytest.mark.anyio


def _record(n: int, reference: str = "CarePlan/cp1") -> AuditRecord:
    return AuditRecord(
        CLINICIAN,
        "read",
        reference.split("/")[0],
        (reference,),
        recorded=at(f"2026-11-28T10:{n:02d}:00+00:00"),
        request_id=f"request-{n}",
    )


@pytest.fixture
def folder(settings: Settings) -> Path:
    """The journal folder of the test's data dir."""
    return journal_folder(settings.data_dir)


@pytest.fixture
async def other_store(settings: Settings) -> AsyncIterator[Store]:
    """A second engine on the same database, as another worker process has."""
    other = Store(create_engine(settings.resolved_database_url()))
    yield other
    await other.dispose()


async def _events(target: Store) -> list[dict[str, object]]:
    return await search(target, "AuditEvent", [("_count", "1000")])


def _journal_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jsonl"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_record_round_trips_through_its_line() -> None:
    emergency = AuditRecord(
        NURSE,
        "search",
        "CarePlan",
        ("CarePlan/cp1", "CarePlan/cp-other/_history/2"),
        query="status=active&subject=Patient/tolvan",
        outcome=403,
        recorded=at("2026-11-28T10:15:02.123456+00:00"),
        address="10.0.0.7",
        operation=None,
        entry=3,
        patients=("tolvan",),
        request_id="abc",
    )
    for record in (emergency, _record(1), AuditRecord(PORTAL, "read", None)):
        line = record_line(record)
        assert line.endswith(b"\n")
        assert line.count(b"\n") == 1
        (back,) = parse_lines(line)
        assert back == record
        assert str(back.principal.scopes) == str(record.principal.scopes)


async def test_records_survive_a_killed_process(
    store: Store,  # noqa: F811
    folder: Path,
) -> None:
    # A real process appends three records, is told they are durable, and is killed before
    # it moves anything.
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys
        from pathlib import Path
        from patientkontrakt.security.audit_journal import Journal, JournalWriter
        from tests.db.test_audit_journal import _record

        async def main():
            writer = JournalWriter(Journal(Path({str(folder)!r})))
            await writer.write([_record(1), _record(2)])
            await writer.write([_record(3)])
            print("written", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == -signal.SIGKILL, err.decode()
    assert out == b"written\n"
    (left,) = _journal_files(folder)
    assert left.read_bytes().count(b"\n") == 3
    assert await _events(store) == []

    # The next start (here: a worker of the same service) finds the file nobody holds.
    journal = AuditJournal(folder, store)
    assert await journal.move(orphans=True) == 3
    journal.journal.close()

    events = await _events(store)
    assert sorted(e["recorded"] for e in events) == [
        "2026-11-28T10:01:00.000Z",
        "2026-11-28T10:02:00.000Z",
        "2026-11-28T10:03:00.000Z",
    ]
    assert _journal_files(folder) == []
    # The patients are found when moved: each read of cp1 names Patient/tolvan.
    assert len(await search(store, "AuditEvent", [("patient", "Patient/tolvan")])) == 3


async def test_a_cut_last_line_is_left_out_and_a_second_move_stores_nothing(
    store: Store,  # noqa: F811
    folder: Path,
) -> None:
    journal = Journal(folder)
    await JournalWriter(journal).write([_record(1), _record(2)])
    (path,) = _journal_files(folder)
    # A crash in the middle of an append that was never acknowledged: all but the newline.
    with path.open("ab") as torn:
        torn.write(record_line(_record(3))[:-1])
    copy = path.read_bytes()
    journal.close()

    assert await move_leftovers(folder, store) == 2
    assert _journal_files(folder) == []
    # The same lines again (say, the file came back after a crash before its removal was
    # on disk): the events are in the store already, so nothing is added and nothing fails.
    path.write_bytes(copy)
    assert await move_leftovers(folder, store) == 0
    assert len(await _events(store)) == 2


async def test_two_movers_store_each_record_once(
    store: Store,  # noqa: F811
    other_store: Store,
    folder: Path,
) -> None:
    # Three worker processes' journals in one folder.
    workers = [AuditJournal(folder, store) for _ in range(3)]
    records = [_record(n) for n in range(30)]
    await asyncio.gather(*(workers[n % 3].writer.write([r]) for n, r in enumerate(records)))
    assert len(read_folder(folder)) == 30

    # Two processes drain at once while a third moves its own file.
    results = await asyncio.gather(
        drain(folder, store), drain(folder, other_store), workers[0].move(), drain(folder, store)
    )

    assert sum(results) == 30
    events = await _events(store)
    assert len(events) == 30
    assert {e["id"] for e in events} == {r.event_id for r in records}
    for worker in workers:
        worker.journal.close()


async def test_a_live_writers_file_is_drained_but_not_taken(
    store: Store,  # noqa: F811
    folder: Path,
) -> None:
    live = AuditJournal(folder, store)
    await live.writer.write([_record(1)])
    assert claim_orphans(folder, set()) == []  # its process holds it

    assert await drain(folder, store) == 1
    (path,) = _journal_files(folder)  # left to its owner
    assert path.read_bytes().count(b"\n") == 1

    assert await live.move() == 0  # stored already by the drain
    # The moved file is gone; appends go on in a new, empty one.
    assert [p.stat().st_size for p in _journal_files(folder)] == [0]
    await live.writer.write([_record(2)])
    assert await live.move() == 1
    live.journal.close()
    assert _journal_files(folder) == []
    assert len(await _events(store)) == 2


async def test_concurrent_reads_share_one_append(folder: Path) -> None:
    journal = Journal(folder)
    appends: list[int] = []
    original = journal.append

    def counting(data: bytes, records: int) -> None:
        appends.append(records)
        original(data, records)

    journal.append = counting  # type: ignore[method-assign]
    writer = JournalWriter(journal)

    await asyncio.gather(*(writer.write([_record(n)]) for n in range(50)))

    assert sum(appends) == 50
    # The first caller finds the writer idle; everyone who queued behind it goes in one more.
    assert appends == [1, 49]
    assert len(read_folder(folder)) == 50
    journal.close()


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


async def test_journal_files_are_private(folder: Path) -> None:
    with umask(0):  # whatever the process's umask, the files are its owner's only
        journal = Journal(folder)
        await JournalWriter(journal).write([_record(1)])
        journal.seal()
        await JournalWriter(journal).write([_record(2)])

    assert _mode(folder) == 0o700
    files = _journal_files(folder)
    assert len(files) == 2
    assert [_mode(path) for path in files] == [0o600, 0o600]
    journal.close()


async def test_a_moved_record_names_the_patient_of_a_resource_deleted_since_the_read(
    store: Store,  # noqa: F811
    folder: Path,
) -> None:
    journal = Journal(folder)
    await JournalWriter(journal).write([_record(1, "CarePlan/cp1")])
    async with store.writing() as repo:
        current = await repo.current("CarePlan", "cp1")
        assert current is not None
        await repo.delete(current)
    journal.close()

    assert await move_leftovers(folder, store) == 1

    (event,) = await search(store, "AuditEvent", [("patient", "Patient/tolvan")])
    assert {"reference": "CarePlan/cp1"} in [e["what"] for e in event["entity"]]


def _block(folder: Path) -> None:
    """Make `folder` unusable as the journal. Root ignores permission bits, so a plain file
    takes the folder's place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_bytes(b"")


async def test_a_failed_append_fails_its_callers_and_the_next_file_works(
    folder: Path,
) -> None:
    _block(folder)
    journal = Journal(folder)
    writer = JournalWriter(journal)
    with pytest.raises(FileExistsError):
        await writer.write([_record(1)])

    os.unlink(folder)
    await writer.write([_record(2)])
    assert [r.request_id for r in read_folder(folder)] == ["request-2"]
    journal.close()


async def test_an_append_cut_short_by_a_full_disk_is_undone_and_its_readers_fail(
    store: Store,  # noqa: F811
    folder: Path,
) -> None:
    # A process whose files may not grow past the first line (RLIMIT_FSIZE: the kernel answers
    # EFBIG as it would ENOSPC on a full disk) appends two more records, then one more.
    script = textwrap.dedent(
        f"""
        import asyncio, errno, resource, signal
        from pathlib import Path
        from patientkontrakt.security.audit_journal import Journal, JournalWriter, record_line
        from tests.db.test_audit_journal import _record

        async def main():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            writer = JournalWriter(Journal(Path({str(folder)!r})))
            await writer.write([_record(1)])
            room = len(record_line(_record(1))) + 100
            resource.setrlimit(resource.RLIMIT_FSIZE, (room, resource.RLIM_INFINITY))
            try:
                await writer.write([_record(2), _record(3)])
            except OSError as exc:
                print("refused", errno.errorcode[exc.errno], flush=True)
            await writer.write([_record(4)])
            print("written", flush=True)

        asyncio.run(main())
        """
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert out == b"refused EFBIG\nwritten\n"

    # The part of the refused append that fitted was cut off again; the next record went to a
    # new file. Only the acknowledged records reach the store.
    files = _journal_files(folder)
    assert len(files) == 2
    assert [len(p.read_bytes().splitlines()) for p in files] == [1, 1]
    assert await move_leftovers(folder, store) == 2
    events = await _events(store)
    assert sorted(e["recorded"] for e in events) == [
        "2026-11-28T10:01:00.000Z",
        "2026-11-28T10:04:00.000Z",
    ]
