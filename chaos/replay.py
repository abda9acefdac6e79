"""Run the checkers and figures of a finished run again from its files, without any node:

    python -m chaos.replay chaos-runs/SCENARIO-seedN-TIME

Reads `history.jsonl` and `final_state.json`, prints each check and writes `replay.json`; exits
1 when an invariant is violated. Useful after changing or adding a checker.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import orjson

from chaos.checkers import run_checkers
from chaos.figures import summary
from chaos.final_state import load
from chaos.history import History


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    history = History.load(run_dir / "history.jsonl")
    final = load(run_dir / "final_state.json")
    checks = run_checkers(history, final)
    run_end = max((op.end for op in history.ops), default=0.0)
    result = {"invariants": [asdict(c) for c in checks], "figures": summary(history, run_end)}
    (run_dir / "replay.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 |
                                                       orjson.OPT_NON_STR_KEYS))
    for check in checks:
        print(f"{check.name}: {'ok' if check.ok else 'VIOLATED'} {check.figures}")
        for detail in check.details:
            print(f"    {detail}")
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
