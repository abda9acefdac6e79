"""Write-ahead log: numbering, torn-tail recovery, rollover, truncation, group commit, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from node.engine import wal as wal_module
from node.engine.wal import WalCorruptedError, WalError, WriteAheadLog

REPO_ROOT = Path(__file__).resolve().parent.parent


def payload(seq: int) -> bytes:
    """Deterministic record body of varying size, so a test can check every byte after replay."""
    return f"record-{seq}|".encode() + bytes([seq % 251]) * (seq * 37 % 300)


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("wal-0*.log"))


def test_append_replay_roundtrip(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path / "wal") as log:
        assert (log.last_seq, log.first_seq) == (0, 1)
        assert list(log.replay()) == []
        seqs = [log.append(payload(i)) for i in range(1, 6)]
        assert seqs == [1, 2, 3, 4, 5]
        assert log.append(b"") == 6  # empty records are records too
        assert list(log.replay()) == [(i, payload(i)) for i in range(1, 6)] + [(6, b"")]
        assert [s for s, _ in log.replay(after_seq=4)] == [5, 6]
        assert (log.last_seq, log.first_seq) == (6, 1)
        assert log.size_bytes() == sum(f.stat().st_size for f in segment_files(tmp_path / "wal"))


def test_restart_continues_numbering(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path) as log:
        log.append_many([payload(i) for i in range(1, 4)])
    with WriteAheadLog(tmp_path) as log:
        assert log.last_seq == 3
        assert log.append(payload(4)) == 4
    with WriteAheadLog(tmp_path) as log:
        assert list(log.replay()) == [(i, payload(i)) for i in range(1, 5)]


def test_unsynced_appends_then_sync(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path) as log:
        for i in range(1, 11):
            assert log.append(payload(i), sync=False) == i
        log.sync()
        assert log.append_many([payload(11), payload(12)], sync=False) == [11, 12]
    with WriteAheadLog(tmp_path) as log:
        assert [s for s, _ in log.replay()] == list(range(1, 13))


def _damage_truncate_mid_record(path: Path) -> None:
    os.truncate(path, path.stat().st_size - 3)


def _damage_append_garbage(path: Path) -> None:
    with path.open("ab") as f:
        f.write(b"\x00garbage\xff" * 7)


def _damage_flip_payload_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x40
    path.write_bytes(bytes(data))


def _damage_partial_header(path: Path) -> None:
    # Leave 5 bytes of the last record: not even a whole header.
    size = path.stat().st_size
    os.truncate(path, size - len(payload(5)) - wal_module._HEADER.size + 5)


def _damage_flip_length(path: Path) -> None:
    data = bytearray(path.read_bytes())
    offset = len(data) - len(payload(5)) - wal_module._HEADER.size
    data[offset + 4] ^= 0x01  # the length field of the last record
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [
        _damage_truncate_mid_record,
        _damage_flip_payload_byte,
        _damage_partial_header,
        _damage_flip_length,
    ],
)
def test_damaged_last_record_is_dropped(tmp_path: Path, damage) -> None:
    with WriteAheadLog(tmp_path) as log:
        log.append_many([payload(i) for i in range(1, 6)])
    (path,) = segment_files(tmp_path)
    damage(path)
    with WriteAheadLog(tmp_path) as log:
        assert log.last_seq == 4
        assert list(log.replay()) == [(i, payload(i)) for i in range(1, 5)]
        assert log.append(b"after") == 5
    with WriteAheadLog(tmp_path) as log:
        assert list(log.replay()) == [(i, payload(i)) for i in range(1, 5)] + [(5, b"after")]


def test_garbage_after_last_record_is_cut(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path) as log:
        log.append_many([payload(i) for i in range(1, 6)])
        good_size = log.size_bytes()
    (path,) = segment_files(tmp_path)
    _damage_append_garbage(path)
    with WriteAheadLog(tmp_path) as log:
        assert log.last_seq == 5
        assert path.stat().st_size == good_size
        assert log.append(payload(6)) == 6
        assert list(log.replay()) == [(i, payload(i)) for i in range(1, 7)]


def test_corrupt_middle_record_of_last_segment_drops_the_rest(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path) as log:
        log.append_many([payload(i) for i in range(1, 6)])
    (path,) = segment_files(tmp_path)
    data = bytearray(path.read_bytes())
    first_two = 2 * wal_module._HEADER.size + len(payload(1)) + len(payload(2))
    data[first_two + wal_module._HEADER.size] ^= 0xFF  # first payload byte of record 3
    path.write_bytes(bytes(data))
    with WriteAheadLog(tmp_path) as log:
        assert log.last_seq == 2
        assert log.append(b"x") == 3


def test_rollover_across_segments(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, capacity_bytes=256) as log:
        for i in range(1, 31):
            assert log.append(payload(i), sync=i % 3 == 0) == i
        big = b"B" * 1000  # larger than a segment: goes alone into its own
        assert log.append(big) == 31
        assert log.append(b"small") == 32
    files = segment_files(tmp_path)
    assert len(files) > 5
    firsts = [int(f.name[4:-4]) for f in files]
    counts = [b - a for a, b in zip(firsts, firsts[1:] + [33], strict=True)]
    # A segment stays within capacity unless it holds a single oversized record.
    assert all(f.stat().st_size <= 256 or n == 1 for f, n in zip(files, counts, strict=True))
    assert firsts[0] == 1 and firsts == sorted(firsts)
    # Each file is named after its first record.
    with WriteAheadLog(tmp_path, capacity_bytes=256) as log:
        assert list(log.replay()) == [(i, payload(i)) for i in range(1, 31)] + [
            (31, big),
            (32, b"small"),
        ]
        assert any(f.name == f"wal-{31:020d}.log" for f in files)
        assert (tmp_path / f"wal-{31:020d}.log").stat().st_size == 1000 + wal_module._HEADER.size
        assert log.append(b"next") == 33


def test_append_many_spanning_segments_with_one_call(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, capacity_bytes=200) as log:
        assert log.append_many([payload(i) for i in range(1, 41)]) == list(range(1, 41))
        assert log.append_many([]) == []
    assert len(segment_files(tmp_path)) > 3
    with WriteAheadLog(tmp_path, capacity_bytes=200) as log:
        assert list(log.replay()) == [(i, payload(i)) for i in range(1, 41)]


def test_truncate_through_deletes_only_covered_segments(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path, capacity_bytes=100)
    records = [bytes([i]) * 30 for i in range(1, 13)]  # 50-byte frames: two per segment
    log.append_many(records)
    firsts = [int(f.name[4:-4]) for f in segment_files(tmp_path)]
    assert firsts == [1, 3, 5, 7, 9, 11]

    log.truncate_through(4)  # segment 5-6 is only half covered: it stays
    assert [int(f.name[4:-4]) for f in segment_files(tmp_path)] == [5, 7, 9, 11]
    assert log.first_seq == 5
    log.truncate_through(5)
    assert log.first_seq == 5
    assert [s for s, _ in log.replay(after_seq=5)] == list(range(6, 13))
    assert list(log.replay(after_seq=8)) == [(i, records[i - 1]) for i in range(9, 13)]
    log.close()

    with WriteAheadLog(tmp_path, capacity_bytes=100) as log:
        assert (log.first_seq, log.last_seq) == (5, 12)
        assert [s for s, _ in log.replay()] == list(range(5, 13))
        log.truncate_through(10)
        assert [int(f.name[4:-4]) for f in segment_files(tmp_path)] == [11]


def test_numbering_survives_full_truncation_and_restart(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, capacity_bytes=100) as log:
        log.append_many([b"r" * 30] * 7)
        log.truncate_through(7)
        assert (log.first_seq, log.last_seq, log.size_bytes()) == (8, 7, 0)
        assert list(log.replay()) == []
        assert [f.name for f in segment_files(tmp_path)] == [f"wal-{8:020d}.log"]
    with WriteAheadLog(tmp_path, capacity_bytes=100) as log:
        assert (log.first_seq, log.last_seq) == (8, 7)
        assert log.append(b"eight") == 8
        log.truncate_through(100)  # beyond the end: clamps to what exists
        assert log.last_seq == 8
    with WriteAheadLog(tmp_path) as log:
        assert log.append(b"nine") == 9
        assert list(log.replay()) == [(9, b"nine")]


def test_segments_ahead_are_precreated_and_used(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, segments_ahead=2, capacity_bytes=100) as log:
        assert len(list(tmp_path.glob("wal-ahead-*.log"))) == 2
        log.append_many([b"a" * 30] * 9)
    assert len(list(tmp_path.glob("wal-ahead-*.log"))) == 2
    assert [int(f.name[4:-4]) for f in segment_files(tmp_path)] == [1, 3, 5, 7, 9]
    with WriteAheadLog(tmp_path, segments_ahead=1, capacity_bytes=100) as log:
        assert len(list(tmp_path.glob("wal-ahead-*.log"))) == 1
        assert log.append(b"b" * 30) == 10
        assert log.append(b"c" * 30) == 11
        assert [s for s, _ in log.replay()] == list(range(1, 12))


def test_concurrent_sync_appends_are_unique_and_replay(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path, capacity_bytes=4096)
    got: dict[int, list[int]] = {}
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        start.wait()
        got[n] = [log.append(f"{n}:{k}".encode()) for k in range(40)]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = sorted(s for seqs in got.values() for s in seqs)
    assert everything == list(range(1, 321))
    for seqs in got.values():
        assert seqs == sorted(seqs)
    log.close()
    with WriteAheadLog(tmp_path, capacity_bytes=4096) as log:
        replayed = dict(log.replay())
    for n, seqs in got.items():
        assert [replayed[s] for s in seqs] == [f"{n}:{k}".encode() for k in range(40)]


def test_group_commit_shares_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        time.sleep(0.01)  # a slow disk: other appenders pile up behind one fsync
        real_fsync(fd)

    log = WriteAheadLog(tmp_path)
    monkeypatch.setattr(wal_module.os, "fsync", slow_fsync)
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(5):
            log.append(b"x")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.last_seq == 40
    assert log._fsyncs < 40 // 2
    log.close()


def test_append_many_uses_one_fsync(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path) as log:
        before = log._fsyncs
        log.append_many([payload(i) for i in range(1, 101)])
        assert log._fsyncs == before + 1
        log.sync()  # nothing new: no fsync
        assert log._fsyncs == before + 1


def test_damage_in_an_older_segment_is_reported(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, capacity_bytes=100) as log:
        log.append_many([b"z" * 30] * 6)
    first = segment_files(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[-1] ^= 1
    first.write_bytes(bytes(data))
    with WriteAheadLog(tmp_path, capacity_bytes=100) as log:
        assert log.last_seq == 6  # only the last segment is cut on open
        with pytest.raises(WalCorruptedError):
            list(log.replay())
        assert [s for s, _ in log.replay(after_seq=2)] == [3, 4, 5, 6]


def test_closed_log_refuses_appends(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path)
    log.append(b"a")
    log.close()
    log.close()
    with pytest.raises(WalError):
        log.append(b"b")
    with pytest.raises(ValueError):
        WriteAheadLog(tmp_path / "other", capacity_bytes=0)


CHILD = """
import sys
from pathlib import Path
from node.engine.wal import WriteAheadLog

def payload(seq):
    return f"record-{seq}|".encode() + bytes([seq % 251]) * (seq * 7919 % 60000)

log = WriteAheadLog(Path(sys.argv[1]), capacity_bytes=int(sys.argv[2]))
while True:
    seq = log.last_seq + 1
    got = log.append(payload(seq), sync=True)
    assert got == seq, (got, seq)
    print(got, flush=True)
"""


@pytest.mark.parametrize("kill_after", [5, 40, 120])
def test_sigkill_loses_no_acknowledged_record(tmp_path: Path, kill_after: int) -> None:
    def child_payload(seq: int) -> bytes:
        return f"record-{seq}|".encode() + bytes([seq % 251]) * (seq * 7919 % 60000)

    directory = tmp_path / "wal"
    acknowledged: list[int] = []
    for _round in range(2):  # the second round appends after recovering from the first kill
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(directory), str(256 * 1024)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        assert proc.stdout is not None
        printed: list[int] = []
        try:
            while len(printed) < kill_after:
                line = proc.stdout.readline()
                assert line, "child exited early"
                printed.append(int(line))
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        # Lines the child printed before dying were also acknowledged.
        printed.extend(int(line) for line in proc.stdout.read().split())
        proc.stdout.close()
        acknowledged.extend(printed)

        with WriteAheadLog(directory) as log:
            replayed = dict(log.replay())
            assert log.last_seq >= max(acknowledged)
            assert sorted(replayed) == list(range(1, log.last_seq + 1))
            for seq in acknowledged:
                assert replayed[seq] == child_payload(seq)
            for seq, body in replayed.items():
                assert body == child_payload(seq)  # nothing torn or corrupt survives
