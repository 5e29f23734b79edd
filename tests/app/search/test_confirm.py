"""`cnnrun search --confirm-seeds` (cnnrun.app.search.confirm): the best trial and the start
config trained again at more seeds, with a verdict; choices may be whole layer lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.support.search import search_config

pytestmark = pytest.mark.slow


def test_choices_of_whole_layer_lists_and_confirm_seeds(cli, tmp_path: Path):
    space = """\
  space:
    model.layers:
      choices:
        - [flatten, {dense: {units: 10, activation: softmax}}]
        - [{conv2d: {filters: 8, kernel_size: 3, padding: same}}, flatten,
           {dense: {units: 10, activation: softmax}}]
  sampler: grid
  pruner: none
"""
    cfg = search_config(tmp_path, space, trials=2, epochs=2)
    r = cli("search", cfg, "--runs-dir", tmp_path / "runs", "--confirm-seeds", "2", "--json")
    assert r.code == 0, r.stdout + r.stderr
    results = json.loads(r.stdout)
    assert sorted(t["params"]["model.layers"] for t in results["trials"]) == ["#0", "#1"]
    for t in results["trials"]:  # the choice itself is in the trial's config
        layers = yaml.safe_load((Path(t["run_dir"]) / "config.yaml").read_text())["model"]
        assert len(layers["layers"]) == (2 if t["params"]["model.layers"] == "#0" else 3)
    confirm = results["confirm"]
    assert confirm["complete"]
    assert "seed noise" in confirm["verdict"] or "at these seeds" in confirm["verdict"]
    variants = {v["variant"]: v["seeds_done"] for v in confirm["results"]["variants"]}
    assert variants == {"start": 2, "best": 2}
