"""One self-contained HTML page about a run: images embedded, no server, no network.

Example:
    >>> path = write_report(Path("runs/2026-11-27T08-54-29_digits"))
    >>> path.name
    'report.html'
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import yaml

from cnnrun import atomic
from cnnrun.config.schema import Config
from cnnrun.config.shapes import infer_shapes
from cnnrun.runs.compare import load
from cnnrun.runs.curves import VERDICT_COLOURS, draw_run
from cnnrun.runs.folder import CURVES

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} .sub{color:#666;margin-top:0}
.verdict{padding:.6rem .9rem;border-radius:6px;border-left:6px solid;background:#f7f7f7}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{background:#f4f6f8;border-radius:6px;padding:.5rem .9rem;min-width:8rem}
.card b{display:block;font-size:1.25rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{padding:.25rem .7rem;border-bottom:1px solid #e3e3e3;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #eee;border-radius:4px;margin:.3rem 0}
pre{background:#f6f8fa;padding:1rem;border-radius:6px;overflow:auto;font-size:.85rem}
"""


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape("-" if value is None else str(value))


def render(run: Path) -> str:
    """The report of a run folder as an HTML string."""
    config_raw, summary = load(run)
    esc = html.escape
    name = summary.name or run.name
    diag = summary.diagnosis or {}
    verdict = diag.get("verdict", "unknown")
    colour = VERDICT_COLOURS.get(verdict, "#666")
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(name)}: cnnrun report"
        f"</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(name)}</h1>",
        f"<p class='sub'>{esc(str(run))} &middot; {esc(summary.status)} &middot; "
        f"started {esc(str(summary.started))}</p>",
        f"<p class='verdict' style='border-color:{colour}'><b style='color:{colour}'>"
        f"{esc(verdict)}</b>: {esc(diag.get('reason', ''))}</p>",
    ]
    cards = {
        "best epoch": f"{summary.best_epoch} / {summary.epochs_run}",
        f"best {summary.monitor}": summary.best_value,
        **summary.test,
        "parameters": f"{summary.params.get('total', 0):,}",
        "training time": f"{summary.timings.fit_s or 0:.1f} s",
    }
    parts.append(
        "<div class='cards'>"
        + "".join(f"<div class='card'>{esc(k)}<b>{_fmt(v)}</b></div>" for k, v in cards.items())
        + "</div>"
    )
    if summary.reason:
        parts.append(f"<p><b>Why it stopped:</b> {esc(summary.reason)}</p>")

    curves = sorted((run / CURVES).glob("*.png")) or draw_run(run)
    order = sorted(curves, key=lambda p: (p.stem != "loss", p.stem == "confusion_matrix", p.stem))
    parts.append("<h2>Learning curves</h2>")
    parts += [_img(p) for p in order if p.stem != "confusion_matrix"]
    cm = run / CURVES / "confusion_matrix.png"
    if cm.is_file():
        parts += ["<h2>Test set: confusion matrix</h2>", _img(cm)]

    parts.append("<h2>Layers</h2>")
    try:
        cfg = Config.model_validate(config_raw)
        table = infer_shapes(cfg.model.layers, tuple(cfg.model.input_shape or ()))
        rows = "".join(
            f"<tr><td class='n'>{r.index}</td><td>{esc(r.kind)}</td><td>{esc(r.args)}</td>"
            f"<td>(None, {', '.join(map(str, r.output_shape or ()))})</td>"
            f"<td class='n'>{r.params:,}</td></tr>"
            for r in table.rows
        )
        parts.append(
            "<table><tr><th class='n'>#</th><th>layer</th><th>arguments</th>"
            f"<th>output shape</th><th class='n'>params</th></tr>{rows}"
            f"<tr><td></td><td colspan=3><b>total</b></td><td class='n'><b>"
            f"{table.total_params:,}</b></td></tr></table>"
        )
    except (ValueError, TypeError) as e:
        parts.append(f"<p>cannot rebuild the layer table: {esc(str(e))}</p>")

    data = summary.data
    parts.append(
        "<h2>Data</h2><p>"
        + esc(
            f"{data.source} ({data.origin}): {json.dumps(data.counts)}, "
            f"{len(data.class_names)} classes, pixel scale {data.scale}, "
            f"fingerprint {data.fingerprint}"
        )
        + "</p>"
    )
    parts.append(
        "<h2>Config</h2><pre>" + esc(yaml.safe_dump(config_raw, sort_keys=False)) + "</pre>"
    )
    versions = ", ".join(f"{k} {v}" for k, v in summary.versions.items())
    parts.append(f"<p class='sub'>seed {summary.seed} &middot; {esc(versions)}</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(run: Path, output: Path | None = None) -> Path:
    """Write the report (default `RUN_DIR/report.html`) atomically and return its path."""
    target = output or run / "report.html"
    atomic.write_text(target, render(run))
    return target
