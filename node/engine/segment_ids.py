"""The ids of a segment: which point id each row holds, and which rows are live.

A segment holds an id in at most one live row. Rows are only appended, and a row of an id is
appended only after the id's earlier row here was deleted, so of all the rows holding an id
only the newest one can be live.

Most rows are *frozen*: their ids sit in two sorted arrays (integer ids as u64, UUIDs as
their 16 big-endian bytes), each beside the offsets of its rows, sorted by (id, offset).
Finding an id is a binary search for the last row holding it, then a look at whether that
row is live: no Python object per point. Rows appended since the last compaction form a
small *tail* of a list and a dict, which `compact` folds into the arrays (every persist does,
and the tail never grows past TAIL_ROWS).

The sorted arrays are also the scroll order: integer ids by value, then UUIDs, whose byte
order is the order of their canonical text.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

import numpy as np

from node.engine.ids import PointId
from node.engine.point_order import point_id_order

# Rows appended before the tail is folded into the sorted arrays: its dict costs some 100 bytes
# a row; a fold costs a pass over the arrays.
TAIL_ROWS = 16384
# Rows read per step of an ordered scan: a short page reads a little, a long one a lot.
_SCAN_STEP = 1024
_UUID = np.dtype("S16")
_MAX_ROWS = 2**32 - 1  # offsets are stored as u32


def uuid_key(pid: str) -> bytes:
    return uuid.UUID(pid).bytes


def uuid_text(key: bytes) -> str:
    # numpy hands out S16 items with trailing zero bytes stripped.
    return str(uuid.UUID(bytes=key.ljust(16, b"\0")))


class IdKeys:
    """A list of point ids as search keys: integer ids as a u64 array, UUIDs as an S16 array,
    each sorted (a binary search for sorted keys starts from the previous one's place) and
    with the positions of its ids in the list."""

    def __init__(self, pids: Sequence[PointId]) -> None:
        self.pids = pids
        # numpy reads a list of ids as integers when every one is an integer (a string among
        # them makes it a string array): one pass in C instead of a type check per id.
        as_array = np.array(pids) if len(pids) else np.zeros(0, dtype=np.uint64)
        if as_array.dtype.kind in "iu":
            ints = as_array.astype(np.uint64)
            int_pos = np.arange(len(pids), dtype=np.int64)
            uuids, uuid_pos_array = np.zeros(0, dtype=_UUID), np.zeros(0, dtype=np.int64)
        else:
            uuid_pos = [i for i, pid in enumerate(pids) if isinstance(pid, str)]
            is_uuid = np.zeros(len(pids), dtype=bool)
            is_uuid[uuid_pos] = True
            int_pos = np.flatnonzero(~is_uuid)
            uuid_pos_array = np.array(uuid_pos, dtype=np.int64)
            ints = np.array([pids[i] for i in int_pos.tolist()], dtype=np.uint64)
            uuids = np.array([uuid_key(pids[i]) for i in uuid_pos], dtype=_UUID)
        order = np.argsort(ints, kind="stable")
        self.ints, self.int_pos = ints[order], int_pos[order]
        order = np.argsort(uuids, kind="stable")
        self.uuids, self.uuid_pos = uuids[order], uuid_pos_array[order]

    def __len__(self) -> int:
        return len(self.pids)


class SegmentIds:
    def __init__(self) -> None:
        # Frozen rows: sorted keys, the offset of each key's row, and per offset the row's
        # slot in the keys (an index into `_ints`, or len(_ints) + an index into `_uuids`).
        self._ints = np.zeros(0, dtype=np.uint64)
        self._int_offsets = np.zeros(0, dtype=np.uint32)
        self._uuids = np.zeros(0, dtype=_UUID)
        self._uuid_offsets = np.zeros(0, dtype=np.uint32)
        self._slots = np.zeros(0, dtype=np.uint32)
        # Rows appended since: their ids in offset order, and the live ones' offsets.
        self._tail: list[PointId] = []
        self._tail_live: dict[PointId, int] = {}
        self._deleted = np.zeros(256, dtype=bool)  # grown ahead of the rows
        self._live = 0

    # ---- building -----------------------------------------------------------------------

    @staticmethod
    def from_state(state: dict, deleted: np.ndarray) -> SegmentIds:
        """The ids as `state` persisted them, with the rows' deleted flags."""
        ids = SegmentIds()
        ids._ints = np.asarray(state["ints"], dtype=np.uint64)
        ids._int_offsets = np.asarray(state["int_offsets"], dtype=np.uint32)
        ids._uuids = np.asarray(state["uuids"], dtype=_UUID)
        ids._uuid_offsets = np.asarray(state["uuid_offsets"], dtype=np.uint32)
        ids._slots = _slots_of(ids._int_offsets, ids._uuid_offsets)
        ids._set_deleted(deleted)
        return ids

    @staticmethod
    def from_list(pids: Sequence[PointId], deleted: np.ndarray) -> SegmentIds:
        """The ids of each row in offset order (the state form before sorted arrays)."""
        ids = SegmentIds()
        ids._tail = list(pids)
        ids._fold()
        ids._set_deleted(deleted)
        return ids

    def _set_deleted(self, deleted: np.ndarray) -> None:
        count = len(self)
        self._deleted = np.zeros(max(count, 256), dtype=bool)
        self._deleted[:count] = deleted[:count]
        self._live = count - int(self._deleted[:count].sum())

    def state(self) -> dict:
        """The arrays to persist (the tail folded in first); deleted flags are the caller's."""
        self.compact()
        return {"ints": self._ints, "int_offsets": self._int_offsets,
                "uuids": self._uuids, "uuid_offsets": self._uuid_offsets}

    # ---- counts -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._slots) + len(self._tail)

    @property
    def live_count(self) -> int:
        return self._live

    @property
    def deleted(self) -> np.ndarray:
        """Per row, whether it is deleted (a view: written only through this class)."""
        return self._deleted[: len(self)]

    # ---- writes -------------------------------------------------------------------------

    def append(self, pids: Sequence[PointId]) -> int:
        """New live rows holding `pids` (none of them live in this segment); the first one's
        offset."""
        start = len(self)
        end = start + len(pids)
        if end > _MAX_ROWS:
            raise ValueError(f"a segment holds at most {_MAX_ROWS} rows")
        if end > len(self._deleted):
            grown = np.zeros(max(end, len(self._deleted) * 3 // 2), dtype=bool)
            grown[:start] = self._deleted[:start]
            self._deleted = grown
        self._tail.extend(pids)
        self._tail_live.update(zip(pids, range(start, end), strict=True))
        self._live += len(pids)
        if len(self._tail) > TAIL_ROWS:
            self.compact()
        return start

    def delete_row(self, offset: int) -> None:
        """Mark the live row at `offset` deleted."""
        frozen = len(self._slots)
        if offset >= frozen:
            del self._tail_live[self._tail[offset - frozen]]
        self._deleted[offset] = True
        self._live -= 1

    def compact(self) -> None:
        """Fold the tail into the sorted arrays."""
        if self._tail:
            self._fold()

    def _fold(self) -> None:
        start = len(self._slots)
        keys = IdKeys(self._tail)
        offsets = np.arange(start, start + len(keys), dtype=np.uint32)
        self._ints, self._int_offsets = _merged(self._ints, self._int_offsets, keys.ints,
                                                offsets[keys.int_pos])
        self._uuids, self._uuid_offsets = _merged(self._uuids, self._uuid_offsets, keys.uuids,
                                                  offsets[keys.uuid_pos])
        self._slots = _slots_of(self._int_offsets, self._uuid_offsets)
        self._tail, self._tail_live = [], {}

    # ---- finding rows -------------------------------------------------------------------

    def offset_of(self, pid: PointId) -> int | None:
        """The live row holding `pid`, or None."""
        offset = self._tail_live.get(pid)
        if offset is not None:
            return offset
        if isinstance(pid, str):
            keys, offsets, key = self._uuids, self._uuid_offsets, np.array(uuid_key(pid), _UUID)
        else:
            keys, offsets, key = self._ints, self._int_offsets, np.uint64(pid)
        i = int(keys.searchsorted(key, side="right")) - 1
        if i < 0 or keys[i] != key:
            return None
        offset = int(offsets[i])
        return None if self._deleted[offset] else offset

    def __contains__(self, pid: PointId) -> bool:
        return self.offset_of(pid) is not None

    def offsets_of(self, keys: IdKeys) -> np.ndarray:
        """The live row of each id of `keys` (int64), -1 where none."""
        out = np.full(len(keys), -1, dtype=np.int64)
        for lane_keys, lane_offsets, queries, positions in (
            (self._ints, self._int_offsets, keys.ints, keys.int_pos),
            (self._uuids, self._uuid_offsets, keys.uuids, keys.uuid_pos),
        ):
            if len(lane_keys) and len(queries):
                out[positions] = _find(lane_keys, lane_offsets, self._deleted, queries)
        if self._tail_live:
            tail = [(i, off) for i, pid in enumerate(keys.pids)
                    if (off := self._tail_live.get(pid)) is not None]
            if tail:
                where, offsets = zip(*tail, strict=True)
                out[list(where)] = offsets
        return out

    # ---- reading ids --------------------------------------------------------------------

    def id_at(self, offset: int) -> PointId:
        frozen = len(self._slots)
        if offset >= frozen:
            return self._tail[offset - frozen]
        slot = int(self._slots[offset])
        if slot < len(self._ints):
            return int(self._ints[slot])
        slot -= len(self._ints)
        return uuid_text(self._uuids[slot : slot + 1].tobytes())

    def ids_at(self, offsets: np.ndarray | Sequence[int]) -> list[PointId]:
        """The ids of the rows at `offsets`, as Python ints and strings."""
        offsets = np.asarray(offsets, dtype=np.int64).reshape(-1)
        frozen = len(self._slots)
        if not self._uuids.size and (not self._tail or not offsets.size
                                     or int(offsets.max()) < frozen):
            return self._ints[self._slots[offsets]].tolist()
        return [self.id_at(offset) for offset in offsets.tolist()]

    def live_offsets(self) -> np.ndarray:
        return np.flatnonzero(~self.deleted)

    def live_items(self) -> Iterator[tuple[PointId, int]]:
        """(id, offset) of every live row, in offset order, read a block at a time."""
        live = self.live_offsets()
        for start in range(0, len(live), _SCAN_STEP * 4):
            block = live[start : start + _SCAN_STEP * 4]
            yield from zip(self.ids_at(block), block.tolist(), strict=True)

    def in_order(self, start: PointId | None, limit: int,
                 allowed: np.ndarray | None = None) -> list[tuple[PointId, int]]:
        """(id, offset) of the first `limit` live rows from id `start` on (inclusive) in scroll
        order, among the rows `allowed` marks (every row when None)."""
        if limit <= 0:
            return []
        found: list[tuple[PointId, int]] = []
        skip_ints = isinstance(start, str)
        for lane_keys, lane_offsets, is_uuid in ((self._ints, self._int_offsets, False),
                                                 (self._uuids, self._uuid_offsets, True)):
            if (skip_ints and not is_uuid) or len(found) >= limit:
                continue
            first = 0
            if start is not None and is_uuid == skip_ints:
                key = np.array(uuid_key(start), _UUID) if is_uuid else np.uint64(start)
                first = int(lane_keys.searchsorted(key, side="left"))
            offsets = self._scan(lane_offsets, first, limit - len(found), allowed)
            found.extend(zip(self.ids_at(offsets), offsets.tolist(), strict=True))
        if self._tail_live:
            found.extend(self._tail_in_order(start, allowed))
            found.sort(key=lambda item: point_id_order(item[0]))
        return found[:limit]

    def _scan(self, lane_offsets: np.ndarray, first: int, wanted: int,
              allowed: np.ndarray | None) -> np.ndarray:
        """The offsets of the first `wanted` live, allowed rows of a lane from index `first`."""
        picked = []
        step = max(_SCAN_STEP, wanted * 2)
        while first < len(lane_offsets) and wanted > 0:
            block = lane_offsets[first : first + step].astype(np.int64)
            keep = ~self._deleted[block]
            if allowed is not None:
                keep &= allowed[block]
            block = block[keep][:wanted]
            picked.append(block)
            wanted -= len(block)
            first += step
            step *= 2
        return np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)

    def _tail_in_order(self, start: PointId | None,
                       allowed: np.ndarray | None) -> list[tuple[PointId, int]]:
        low = None if start is None else point_id_order(start)
        return [(pid, offset) for pid, offset in self._tail_live.items()
                if (low is None or point_id_order(pid) >= low)
                and (allowed is None or allowed[offset])]


def _merged(keys: np.ndarray, offsets: np.ndarray, new_keys: np.ndarray,
            new_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys and their offsets with new rows added. The new offsets are all larger than
    the present ones, so a stable sort keeps each id's rows in offset order."""
    if not len(new_keys):
        return keys, offsets
    all_keys = np.concatenate([keys, new_keys])
    all_offsets = np.concatenate([offsets, new_offsets.astype(np.uint32)])
    order = np.argsort(all_keys, kind="stable")
    return all_keys[order], all_offsets[order]


def _slots_of(int_offsets: np.ndarray, uuid_offsets: np.ndarray) -> np.ndarray:
    slots = np.zeros(len(int_offsets) + len(uuid_offsets), dtype=np.uint32)
    slots[int_offsets] = np.arange(len(int_offsets), dtype=np.uint32)
    slots[uuid_offsets] = np.arange(len(int_offsets), len(slots), dtype=np.uint32)
    return slots


def _find(keys: np.ndarray, offsets: np.ndarray, deleted: np.ndarray,
          queries: np.ndarray) -> np.ndarray:
    """The live row of each (sorted) query key, -1 where none: the last row holding the key
    is the only one that may be live."""
    if queries[0] > keys[-1] or queries[-1] < keys[0]:
        return np.full(len(queries), -1, dtype=np.int64)  # new ids past this segment's
    # A key below every stored one gets -1 here, read as 0: keys[0] is not it.
    at = np.maximum(keys.searchsorted(queries, side="right") - 1, 0)
    rows = offsets[at].astype(np.int64)
    held = (keys[at] == queries) & ~deleted[rows]
    return np.where(held, rows, -1)
