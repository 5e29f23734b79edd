"""`cnnrun.engine.builders` end to end: a residual network of separable and depthwise
convolutions with batchnorms inside its blocks validates, trains, predicts and resumes."""

from __future__ import annotations

import json

from tests.support import only_run
from tests.support.training import history, resnet_config


def test_residual_separable_network_validates_trains_predicts_and_resumes(cli, tmp_path):
    cfg = resnet_config(tmp_path, epochs=2)
    r = cli("validate", cfg, "--json")
    assert r.code == 0, r.stderr
    (doc,) = json.loads(r.stdout)["results"]
    rows = [(row["kind"], row["depth"]) for row in doc["layers"]]
    assert ("residual", 0) in rows and ("separableconv2d", 1) in rows
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs", "--quiet")
    assert r.code == 0, r.stderr
    run = only_run(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["params"]["total"] == doc["total_params"]
    assert summary["batchnorm"]["layers"] == 4  # the batchnorms inside the blocks too
    r = cli("predict", "--run", run, "digits:test", "--format", "json")
    assert r.code == 0, r.stderr
    assert len(json.loads(r.stdout)["predictions"]) == 359
    r = cli("train", "--resume", run, "--epochs", "3", "--quiet")
    assert r.code == 0, r.stderr
    assert len(history(run)) == 3
