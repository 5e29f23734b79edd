"""`cnnrun search`: a hyperparameter search on Optuna; `--resume`, `--join`, `--confirm-seeds`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cnnrun.cli.common import (
    ConfigArg,
    JobsOpt,
    Output,
    RunsDirOpt,
    SetOpt,
    complete_run_dir,
    emit_json,
    output_options,
    path_option,
)
from cnnrun.cli.studies import (
    CpusOpt,
    GpusOpt,
    HeartbeatOpt,
    LauncherOpt,
    MemOpt,
    PartitionOpt,
    PrintSbatchOpt,
    StorageOpt,
    StudyOpt,
    TimeOpt,
    slurm_of,
    target_option,
)

TrialsOpt = Annotated[
    int | None, typer.Option(min=1, metavar="N", help="Trials in all (default: search.trials).")
]
NameOpt = Annotated[str | None, typer.Option(metavar="NAME", help="Search name.")]
ConfirmOpt = Annotated[
    int | None,
    typer.Option(
        min=2, metavar="N", help="Then train the best trial and the start at N seeds each."
    ),
]
ResumeOpt = path_option("SEARCH_DIR", "Continue this search to its trial count.", complete_run_dir)
JoinOpt = target_option(
    "SEARCH", "Add a worker to this search: its folder, or its study's storage URL."
)
CollectOpt = target_option(
    "SEARCH", "Write the table, best.yaml and search.png from the study, training nothing."
)


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return json.dumps(v) if not isinstance(v, str) else v


def _show(outcome: Any, out: Any) -> None:
    from rich import box
    from rich.table import Table

    from cnnrun.analysis.search_figure import short

    results = outcome.results
    keys = list(dict.fromkeys(k for r in results["trials"] for k in r["params"]))
    table = Table(box=box.SIMPLE_HEAD if out.is_terminal else None, pad_edge=False)
    for col in ("trial", *(short(k) for k in keys), results["metric"], "status", "epochs", "time"):
        table.add_column(col, justify="right" if col in ("trial", "epochs", "time") else "left")
    best = (results.get("best") or {}).get("number")
    for r in results["trials"]:
        table.add_row(
            f"{r['number']}{' *' if r['number'] == best else ''}",
            *(_value(r["params"][k]) if k in r["params"] else "-" for k in keys),
            f"{r['value']:.4f}" if r["value"] is not None else "-",
            r["status"],
            str(r["epochs"] if r["epochs"] is not None else "-"),
            f"{r['seconds']:.1f} s" if r["seconds"] is not None else "-",
        )
    out.print(table)
    counts = ", ".join(f"{n} {k}" for k, n in sorted(results["counts"].items()))
    out.print(f"trials: {counts}", markup=False)
    if results.get("best"):
        b = results["best"]
        out.print(
            f"best: trial {b['number']} ({b['run_dir']}), {results['metric']} "
            f"{b['value']:.4f}; its config: {outcome.best_config}",
            markup=False,
        )
    if results.get("importances"):
        imp = ", ".join(f"{k} {v:.2f}" for k, v in results["importances"].items())
        out.print(f"importance: {imp}", markup=False)
    out.print(f"figure: {outcome.figure}", markup=False)
    if outcome.confirm:
        out.print(outcome.confirm["verdict"], markup=False)


@output_options("json", "quiet", "debug")
def search(
    opts: Output,
    config: ConfigArg = None,
    resume: ResumeOpt = None,
    join: JoinOpt = None,
    collect: CollectOpt = None,
    study: StudyOpt = None,
    trials: TrialsOpt = None,
    jobs: JobsOpt = 1,
    overrides: SetOpt = None,
    runs_dir: RunsDirOpt = Path("runs"),
    name: NameOpt = None,
    storage: StorageOpt = None,
    heartbeat_s: HeartbeatOpt = None,
    launch: LauncherOpt = "local",
    slurm_partition: PartitionOpt = None,
    slurm_time: TimeOpt = 60,
    slurm_cpus: CpusOpt = 2,
    slurm_gpus: GpusOpt = 0,
    slurm_mem: MemOpt = None,
    print_sbatch: PrintSbatchOpt = False,
    confirm_seeds: ConfirmOpt = None,
) -> int:
    """Search a config's search: space on Optuna.

    Every trial is a normal run folder.

    Prunes trials that fall behind, runs J workers here or as Slurm jobs (`--jobs`,
    `--launcher slurm`) and more from other machines (`--join SEARCH_DIR`, or `--join URL`
    where the study is in a database); writes the table, best.yaml, search.png and
    search.json into the search folder (`--collect` writes them from the study alone).
    """
    from cnnrun.app.search.run import search as run_search
    from cnnrun.cli.reporters import for_workers, unfinished

    out, reporter, say = for_workers(opts.json, opts.quiet)
    outcome = run_search(**slurm_of(opts.args), reporter=reporter, say=say)
    if outcome.sbatch is not None:
        print(outcome.sbatch, end="")
        return outcome.code
    if opts.json:
        best = str(outcome.best_config) if outcome.best_config else None
        head = {"search_dir": str(outcome.search_dir), "complete": outcome.complete}
        emit_json(
            {
                **head,
                "figure": str(outcome.figure),
                "best_config": best,
                "confirm": outcome.confirm,
                **outcome.results,
            }
        )
    elif not opts.quiet:
        _show(outcome, out)
    unfinished(
        outcome, opts.quiet, out, f"continue with: cnnrun search --resume {outcome.search_dir}"
    )
    return outcome.code
