"""The node's open issues: each has an id (`TYPE/instance`), a description, a solution and the
time it was first seen. Submitting an open issue again keeps the first record; an issue is
removed when its cause goes away (solved) or an operator clears the board."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone


class IssueBoard:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # submitted from request handlers and engine threads
        self._issues: dict[str, dict] = {}

    def submit(self, issue_id: str, description: str, solution: dict) -> bool:
        """Open an issue; False when it is open already."""
        with self._lock:
            if issue_id in self._issues:
                return False
            now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
            self._issues[issue_id] = {"id": issue_id, "description": description,
                                      "solution": solution,
                                      "timestamp": now.replace("+00:00", "Z")}
            return True

    def solve(self, issue_id: str) -> bool:
        with self._lock:
            return self._issues.pop(issue_id, None) is not None

    def solve_where(self, predicate: Callable[[str], bool]) -> None:
        with self._lock:
            for issue_id in [i for i in self._issues if predicate(i)]:
                del self._issues[issue_id]

    def clear(self) -> None:
        with self._lock:
            self._issues.clear()

    def all(self) -> list[dict]:
        with self._lock:
            return sorted(self._issues.values(), key=lambda i: (i["timestamp"], i["id"]))
