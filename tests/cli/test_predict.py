"""`cnnrun predict`'s options (cnnrun.cli.predict): an input is required, one of --weights
and --run, a known --format; each refusal exits 2 and writes nothing; the confusion matrix
fits 80 columns."""

from __future__ import annotations

import pytest

from tests.support import run_cli
from tests.support.predict import assert_refused_writing_nothing

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("case", ["no_input", "both_weights_and_run", "bad_format"])
def test_bad_options_exit_2_and_write_nothing(case, digits_run, cli, tmp_path):
    assert_refused_writing_nothing(cli, digits_run.path, tmp_path, case)


def test_the_confusion_matrix_title_is_one_line_at_80_columns(digits_run, monkeypatch, tmp_path):
    """Given as the table's title it wrapped to the narrow table's width in two ragged lines."""
    monkeypatch.setenv("COLUMNS", "80")
    r = run_cli("predict", "--run", digits_run.path, "digits:test", "-o", tmp_path / "p.csv")
    assert r.code == 0, r.stderr
    lines = r.stderr.splitlines()
    title = lines.index("confusion matrix (rows: true class, columns: predicted)")
    table = lines[title : title + 12]  # the title, the header and ten rows
    assert all(len(line) <= 80 for line in table) and table[-1].split()[0] == "9"
