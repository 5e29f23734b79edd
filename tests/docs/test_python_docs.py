"""docs/python.md's snippets run, in order, in one session, as a notebook would run them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "python.md"


def snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)


def test_the_page_has_a_snippet_for_each_function_of_the_api():
    import cnnrun

    code = "\n".join(snippets())
    for name in ("validate", "train", "predict", "load_model", "sweep", "search"):
        assert f"cnnrun.{name}(" in code, name
        assert callable(getattr(cnnrun, name)), name
        assert getattr(cnnrun, name).__doc__, name


@pytest.mark.slow
def test_every_snippet_runs_in_one_session(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    session: dict = {}
    for i, code in enumerate(snippets()):
        try:
            exec(compile(code, f"{PAGE.name}, snippet {i + 1}", "exec"), session)
        except Exception as e:  # name the snippet that failed, with its code
            raise AssertionError(f"snippet {i + 1} failed:\n{code}") from e
    out = capsys.readouterr().out
    assert session["plan"].table.total_params == 9994
    summary = session["summary"]
    assert summary.status == "completed" and summary.best_epoch is not None
    assert (tmp_path / summary.run_dir / "best.weights.h5").is_file()
    result = session["result"]  # the last one: five raw test images as a NumPy batch
    assert result.inputs == ["0", "1", "2", "3", "4"] and result.probabilities.shape == (5, 10)
    # the Keras model takes raw pixels and gives what predict gives
    assert np.abs(session["probabilities"] - session["result"].probabilities).max() < 1e-6
    assert "train.epochs: expected a value greater than 0, got 0" in out
    assert "test_accuracy" in out and "< 0.99" in out  # the gate that failed, and why
    assert [v["seeds_done"] for v in session["outcome"].results["variants"]] == [1, 1]
    assert session["found"].best_config.is_file()
