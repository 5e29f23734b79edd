"""`cnnrun predict`'s options (cnnrun.cli.predict): an input is required, one of --weights
and --run, a known --format; each refusal exits 2 and writes nothing."""

from __future__ import annotations

import pytest

from tests.support.predict import assert_refused_writing_nothing

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("case", ["no_input", "both_weights_and_run", "bad_format"])
def test_bad_options_exit_2_and_write_nothing(case, digits_run, cli, tmp_path):
    assert_refused_writing_nothing(cli, digits_run.path, tmp_path, case)
