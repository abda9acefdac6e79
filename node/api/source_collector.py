"""A Prometheus collector whose values come from a callback at scrape time, so they are never
stale; a failing callback leaves its metrics out of that scrape instead of breaking the page."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class SourceCollector(Collector):
    def __init__(self) -> None:
        self.source: Callable[[], object] | None = None

    def families(self, data) -> list[Metric]:
        """The metric families for what the source returned (`empty` before it is set)."""
        raise NotImplementedError

    empty: object = None

    def describe(self) -> Iterable[Metric]:
        # Declared without calling the source: registration happens before the node is ready.
        return self.families(self.empty)

    def collect(self) -> Iterable[Metric]:
        if self.source is None:
            return self.families(self.empty)
        try:
            data = self.source()
        except Exception:
            log.exception("%s source failed; its metrics are left out", type(self).__name__)
            return []
        return self.families(data)
