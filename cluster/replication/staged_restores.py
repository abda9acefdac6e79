"""Shard data from a verified snapshot, staged on disk until its recovery op commits.

A recovery extracts and checks the archive first, then moves each shard's files to
`snapshot-work/restore-<recovery id>/<shard id>` and proposes `recover_collection`. When this
peer applies that op (the shard's `restored` id names the recovery), reconcile swaps the staged
directory in by one rename. Staged data lives on disk so that a node killed between the commit
and the swap still installs it when it comes back.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from node.engine.durable_files import fsync_dir


class StagedRestores:
    def __init__(self, work: Path) -> None:
        self.work = work

    def folder(self, recovery: str) -> Path:
        return self.work / f"restore-{recovery}"

    def take(self, recovery: str | None, shard_id: int) -> Path | None:
        """The staged directory of `shard_id` for `recovery`, if one waits here."""
        if recovery is None:
            return None
        staged = self.folder(recovery) / str(shard_id)
        return staged if staged.is_dir() else None

    def install(self, staged: Path, target: Path) -> None:
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
        fsync_dir(target.parent)
        fsync_dir(staged.parent)

    def discard(self, recovery: str) -> None:
        shutil.rmtree(self.folder(recovery), ignore_errors=True)

    def discard_unwanted(self, wanted: set[str]) -> None:
        """Remove staged recoveries no committed op names (their proposal failed or they were
        installed already), and the scratch space of interrupted extractions."""
        if not self.work.is_dir():
            return
        for entry in self.work.iterdir():
            recovery = entry.name.removeprefix("restore-")
            if entry.name.startswith("restore-") and recovery in wanted and any(entry.iterdir()):
                continue
            shutil.rmtree(entry, ignore_errors=True)
