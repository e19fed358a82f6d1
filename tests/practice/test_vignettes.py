"""Practice vignettes, each driven through the terminal conversation on a fresh database: the
flags that fire (and quote the practitioner), the traps that stay silent, the immediate-risk
message, the questions asked, and what a supervisor is shown when everything is skipped (never
less than for an honest reflection)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from storage.db import SessionFactory
from tests.practice import driver

VIGNETTES = driver.load_all()
BY_NAME = {v.name: v for v in VIGNETTES}


def _report(outcome: driver.Outcome, problems: list[str]) -> str:
    run = outcome.final
    flags = [f"{f['rule']}: {f.get('quote')!r}" for f in run.flags] if run.status == 0 else []
    return "\n".join(
        [
            f"{outcome.vignette.name}:",
            *(f"  - {p}" for p in problems),
            f"  flags: {flags}",
            f"  immediate after: {run.immediate_after}",
            f"  unscripted (skipped): {run.unscripted}",
        ]
    )


@pytest.mark.parametrize("vignette", VIGNETTES, ids=lambda v: v.name)
def test_vignette(vignette: driver.Vignette, new_session: SessionFactory, tmp_path: Path) -> None:
    outcome = driver.drive(vignette, new_session, workdir=tmp_path)
    problems = driver.expectation_problems(outcome)
    if vignette.outweighs and outcome.final.status == 0:
        honest = {
            name: driver.drive(BY_NAME[name], new_session, workdir=tmp_path).final
            for name in vignette.outweighs
        }
        problems += driver.outweighing_problems(outcome.final, honest)
    problems = driver.unexplained(vignette, problems)
    assert not problems, _report(outcome, problems)


def test_the_vignettes_cover_every_role_and_kind() -> None:
    kinds = Counter(v.kind for v in VIGNETTES)
    assert kinds["case"] >= 8 and kinds["control"] >= 2 and kinds["probe"] >= 1
    assert {v.role for v in VIGNETTES} == set(driver.AGENCY_NAMES)
    assert any(v.earlier is not None for v in VIGNETTES)
    assert any(v.expect.immediate for v in VIGNETTES)
    refs = [v.case_ref for v in VIGNETTES]
    assert len(refs) == len(set(refs))
    for name in (n for v in VIGNETTES for n in v.outweighs):
        assert name in BY_NAME
