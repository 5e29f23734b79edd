"""Tables and lines that several commands print: rich at a terminal, plain text elsewhere."""

from __future__ import annotations

from typing import Any

COLOURS = {"completed": "green", "failed": "red", "interrupted": "yellow", "running": "cyan"}


def table(out: Any, columns: list[str], right: tuple[str, ...] = (), title: str = "") -> Any:
    """A rich table with box lines at a terminal and none in a log."""
    from rich import box
    from rich.table import Table

    t = Table(
        box=box.SIMPLE_HEAD if out.is_terminal else None,
        pad_edge=False,
        title=title or None,
        title_justify="left",
    )
    for col in columns:
        t.add_column(col, justify="right" if col in right else "left")
    return t


def _cell(value: Any) -> str:
    from rich.markup import escape

    return escape(str(value))


def render_runs(infos: list[Any], out: Any) -> None:
    """The table of `cnnrun runs`."""
    cols = ["run", "started", "status", "epochs", "best", "monitored", "test", "verdict", "time"]
    t = table(out, cols, right=("epochs", "best", "time"))
    for r in infos:
        epochs = f"{r.epochs_run}/{r.epochs_planned}" if r.epochs_planned else "-"
        monitored = f"{r.monitor} {r.best_value:.4f}" if r.best_value is not None else "-"
        test = ", ".join(
            f"{k.removeprefix('test_')} {v:.4f}" for k, v in r.test.items() if "loss" not in k
        )
        status = _cell(r.status)
        if r.status in COLOURS:
            status = f"[{COLOURS[r.status]}]{status}[/]"
        t.add_row(
            _cell(r.path.name),
            _cell(r.started.replace("T", " ") or "-"),
            status,
            epochs,
            str(r.best_epoch or "-"),
            _cell(monitored),
            _cell(test or "-"),
            _cell(r.verdict or r.problem[:60] or "-"),
            f"{r.duration_s:.0f}s" if r.duration_s is not None else "-",
        )
    out.print(t)


def render_comparison(c: Any, out: Any) -> None:
    """The tables of `cnnrun compare`."""
    out.print(f"A: {c.a}\nB: {c.b}", markup=False)
    if c.config_diff:
        t = table(out, ["config key", "A", "B"])
        for p, x, y in c.config_diff:
            t.add_row(_cell(p), _cell("-" if x is None else x), _cell("-" if y is None else y))
        out.print(t)
    else:
        out.print("configs: identical", markup=False)
    t = table(out, ["metric", "A", "B", "B - A"])
    for m in c.metrics:
        t.add_row(
            _cell(m["metric"]),
            *("-" if m[k] is None else f"{m[k]:.4f}" for k in ("a", "b", "b_minus_a")),
        )
    out.print(t)
    out.print(f"overlay: {c.figure}", markup=False)


def render_batchnorm(rows: list[dict], images: int, out: Any) -> None:
    """The table of `cnnrun inspect --bn`: lag and dropout's shift, apart."""
    if not rows:
        out.print("the network has no batchnorm layer", markup=False)
        return
    out.print(
        f"batchnorm variance ratios (medians over channels) on {images} validation images:",
        markup=False,
    )
    cols = ["layer", "after", "channels", "lag", "dropout shift", "moving / test", "max shift"]
    t = table(out, cols, right=tuple(cols[2:]))
    for r in rows:
        t.add_row(
            r["where"],
            r["after"],
            str(r["channels"]),
            *(f"{r[k]:.3f}" for k in ("lag_median", "dropout_shift_median", "ratio_median")),
            f"{r['shift_max']:.3f}",
        )
    out.print(t)
    out.print(
        "lag: moving variance / its input's variance in training (momentum: the averages "
        "trail the weights); dropout shift: that training variance / the variance at test "
        "time, dropout off (near 1 / (1 - rate) after dropout: Li et al., 2019); moving / "
        "test: both together, what validation sees",
        markup=False,
    )
    from cnnrun.config.layers import REGISTRY

    if any(REGISTRY[r["after"]].dropout for r in rows if r["after"] in REGISTRY):
        out.print("move the dropout after the batchnorm to remove its shift", markup=False)
