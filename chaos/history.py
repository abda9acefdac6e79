"""What happened during a run: every client operation with its outcome and times, every fault
with when it started and healed, and what the cluster said about its leader meanwhile.

Times are seconds since the run's start (monotonic clock). The history is written as JSON lines
(`history.jsonl`) so that a failing run can be inspected or its checkers run again
(`python -m chaos.replay RUN_DIR`, with `final_state.json`).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

OK = "ok"
FAILED = "failed"  # the request was answered with an error, or never reached the node
UNKNOWN = "unknown"  # no answer before the client's timeout: it may or may not have happened
OUTCOMES = (OK, FAILED, UNKNOWN)
WRITE_KINDS = frozenset({"upsert", "delete", "hot_write", "alias_switch", "create_collection",
                         "delete_collection"})


@dataclass
class Op:
    id: int
    process: str
    kind: str
    node: int
    start: float
    end: float = 0.0
    outcome: str = UNKNOWN
    args: dict = field(default_factory=dict)
    result: object = None
    error: str | None = None

    @property
    def is_write(self) -> bool:
        return self.kind in WRITE_KINDS

    @property
    def latency(self) -> float:
        return self.end - self.start


@dataclass
class Fault:
    name: str
    start: float
    end: float | None = None
    detail: dict = field(default_factory=dict)


@dataclass
class Sample:
    """One poll of every node's view of the Raft leader (index of the leader node or None)."""

    time: float
    leaders: dict[int, int | None]
    all_active: bool | None = None  # every replica of the data collections Active (leader's view)


class History:
    """Append-only and thread-safe; `ops`, `faults` and `samples` are read after the run."""

    def __init__(self) -> None:
        self.origin = time.monotonic()
        self.ops: list[Op] = []
        self.faults: list[Fault] = []
        self.samples: list[Sample] = []
        self.notes: list[dict] = []
        self._ids = itertools.count()
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.origin

    def begin(self, process: str, kind: str, node: int, **args: object) -> Op:
        op = Op(id=next(self._ids), process=process, kind=kind, node=node, start=self.now(),
                args=args)
        with self._lock:
            self.ops.append(op)
        return op

    def finish(self, op: Op, outcome: str, result: object = None,
               error: str | None = None) -> Op:
        op.end, op.outcome, op.result, op.error = self.now(), outcome, result, error
        return op

    def fault_started(self, name: str, **detail: object) -> Fault:
        fault = Fault(name=name, start=self.now(), detail=detail)
        with self._lock:
            self.faults.append(fault)
        return fault

    def fault_healed(self, fault: Fault, **detail: object) -> None:
        fault.end = self.now()
        fault.detail.update(detail)

    def sample(self, leaders: dict[int, int | None], all_active: bool | None = None) -> None:
        with self._lock:
            self.samples.append(Sample(self.now(), leaders, all_active))

    def note(self, what: str, **detail: object) -> None:
        with self._lock:
            self.notes.append({"time": self.now(), "what": what, **detail})

    # --- files ------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        with self._lock, open(path, "wb") as out:
            for kind, items in (("op", self.ops), ("fault", self.faults),
                                ("sample", self.samples)):
                for item in items:
                    out.write(orjson.dumps({"type": kind, **asdict(item)},
                                           option=orjson.OPT_NON_STR_KEYS) + b"\n")
            for note in self.notes:
                out.write(orjson.dumps({"type": "note", **note},
                                       option=orjson.OPT_NON_STR_KEYS) + b"\n")

    @classmethod
    def load(cls, path: Path) -> History:
        history = cls()
        for line in path.read_bytes().splitlines():
            row = orjson.loads(line)
            kind = row.pop("type")
            if kind == "op":
                history.ops.append(Op(**row))
            elif kind == "fault":
                history.faults.append(Fault(**row))
            elif kind == "sample":
                leaders = {int(k): v for k, v in row["leaders"].items()}
                history.samples.append(Sample(row["time"], leaders, row.get("all_active")))
            else:
                history.notes.append(row)
        return history
