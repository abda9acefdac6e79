"""The Raft journal: pysyncobj's file format, and a full disk that fails a write cleanly."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pysyncobj.journal
import pytest
from tmpfs import small_tmpfs

from cluster.consensus.raft_journal import FileJournal

ENTRIES = [(b"\x01first", 1, 1), (b"\x01second", 2, 1), (b"\x01third" * 50, 3, 2)]


def test_reads_what_pysyncobj_wrote_and_back(tmp_path: Path) -> None:
    path = str(tmp_path / "raft.journal")
    theirs = pysyncobj.journal.FileJournal(path)
    for entry in ENTRIES:
        theirs.add(*entry)
    theirs.setCurrentTerm(2, None)
    theirs._destroy()

    ours = FileJournal(path)
    assert [ours[i] for i in range(len(ours))] == ENTRIES
    assert ours.getCurrentTerm() == 2
    ours.add(b"\x01fourth", 4, 2)
    ours.deleteEntriesTo(1)  # as after a log compaction
    ours._destroy()

    again = pysyncobj.journal.FileJournal(path)
    assert [again[i] for i in range(len(again))] == [*ENTRIES[1:], (b"\x01fourth", 4, 2)]
    again._destroy()


def test_truncation_survives_a_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "raft.journal")
    journal = FileJournal(path)
    for entry in ENTRIES:
        journal.add(*entry)
    journal.deleteEntriesFrom(1)
    journal.add(b"\x01other", 2, 3)
    journal.setRaftCommitIndex(2)
    journal.onOneSecondTimer()
    journal._destroy()
    reopened = FileJournal(path)
    assert [reopened[i] for i in range(len(reopened))] == [ENTRIES[0], (b"\x01other", 2, 3)]
    assert reopened.getRaftCommitIndex() == 2
    reopened._destroy()


def test_full_disk_refuses_the_entry_and_keeps_the_rest(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", size_mb=4) as disk:
        path = str(disk / "raft.journal")
        journal = FileJournal(path)
        journal.add(*ENTRIES[0])
        ballast = disk / "ballast"
        with open(ballast, "wb") as out, pytest.raises(OSError):
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        big = b"\x01" + os.urandom(3 << 20)  # more than the first reservation left free
        with pytest.raises(OSError) as refused:
            journal.add(big, 2, 1)
        assert refused.value.errno == errno.ENOSPC
        assert len(journal) == 1
        with pytest.raises(OSError):
            journal.setCurrentTerm(5, None)

        ballast.unlink()  # space is back: the same entry goes in
        journal.add(big, 2, 1)
        journal.setCurrentTerm(5, None)
        journal._destroy()
        reopened = FileJournal(path)
        assert [reopened[i] for i in range(len(reopened))] == [ENTRIES[0], (big, 2, 1)]
        assert reopened.getCurrentTerm() == 5
        reopened._destroy()
