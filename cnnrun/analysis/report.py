"""One self-contained HTML page about a run: images embedded, no server, no network.

Example:
    ```python
    write_report(Path("runs/2026-11-27T08-54-29_digits"))  # .../report.html
    ```
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import yaml

from cnnrun import atomic
from cnnrun.analysis.compare import load
from cnnrun.analysis.curves import VERDICT_COLOURS, draw_run
from cnnrun.analysis.gallery import CAM, ERRORS, RELIABILITY
from cnnrun.config.schema import Config
from cnnrun.config.shapes import infer_shapes
from cnnrun.errors import UserError
from cnnrun.runs.names import CURVES, SUMMARY

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
img{max-width:100%;height:auto;border:1px solid #eee;border-radius:4px;margin:.3rem 0}
pre{background:#f6f8fa;padding:1rem;border-radius:6px;overflow:auto;font-size:.85rem}
.scroll,.wide{overflow-x:auto;-webkit-overflow-scrolling:touch} .wide img{min-width:640px}
.note{color:#555;font-size:.92rem;max-width:48rem}
@media (max-width:600px){body{margin:1rem auto;padding:0 .6rem}
.card{min-width:6.5rem;padding:.4rem .6rem} .card b{font-size:1.05rem}
th,td{padding:.2rem .4rem;font-size:.85rem} h1{font-size:1.5rem}}
"""


def _img(path: Path, wide: bool = False) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    tag = f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'
    # a gallery stays readable on a phone: it scrolls sideways rather than shrinking
    return f"<div class='wide'>{tag}</div>" if wide else tag


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
        f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' "
        "content='width=device-width, initial-scale=1'>"
        f"<title>{esc(name)}: cnnrun report</title><style>{STYLE}</style></head><body>",
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
    order = sorted(curves, key=lambda p: (p.stem != "loss", p.stem))
    parts.append("<h2>Learning curves</h2>")
    drawn_apart = {"confusion_matrix", *(Path(n).stem for n in (ERRORS, RELIABILITY, CAM))}
    parts += [_img(p) for p in order if p.stem not in drawn_apart]
    cm = run / CURVES / "confusion_matrix.png"
    if cm.is_file():
        parts += ["<h2>Test set: confusion matrix</h2>", _img(cm)]
    parts += _answers(run, summary)

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
            "<div class='scroll'><table><tr><th class='n'>#</th><th>layer</th><th>arguments"
            f"</th><th>output shape</th><th class='n'>params</th></tr>{rows}"
            f"<tr><td></td><td colspan=3><b>total</b></td><td class='n'><b>"
            f"{table.total_params:,}</b></td></tr></table></div>"
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


def _per_class(scores: dict) -> str:
    """The per-class precision, recall, F1 and support, and their means, as a table."""
    esc = html.escape
    rows = {
        **scores.get("per_class", {}),
        **{f"{k} mean": v for k, v in scores.get("averages", {}).items()},
    }
    body = "".join(
        f"<tr><td>{esc(str(n))}</td>"
        + "".join(f"<td class='n'>{_fmt(r.get(k))}</td>" for k in ("precision", "recall", "f1"))
        + f"<td class='n'>{r.get('support')}</td></tr>"
        for n, r in rows.items()
    )
    return (
        "<div class='scroll'><table><tr><th>class</th><th class='n'>precision</th>"
        "<th class='n'>recall</th><th class='n'>F1</th><th class='n'>support</th></tr>"
        f"{body}</table></div>"
    )


def _answers(run: Path, summary: Any) -> list[str]:
    """Per-class scores, the reliability diagram and the errors gallery, drawn from the run
    folder (nothing for a run from before they were kept)."""
    from cnnrun.analysis import answers, gallery

    parts = []
    if summary.test_scores and summary.test_scores.get("averages"):
        parts += ["<h2>Test set: scores per class</h2>", _per_class(summary.test_scores)]
    calib = summary.calibration
    missing = answers.calibration_problem(calib) if calib else None
    if missing:
        parts.append(_missing(f"{run / SUMMARY}: {missing}", "the reliability diagram"))
    elif calib:
        path = gallery.draw_reliability(calib, run / CURVES / gallery.RELIABILITY, calib["set"])
        parts += [
            f"<h2>Calibration ({html.escape(calib['set'])})</h2>",
            "<p class='note'>How far to trust the probabilities: of the images the network "
            "gave, say, 90% to, about 90% should be right. Bars below the diagonal are "
            f"overconfident. Expected calibration error: <b>{calib['ece']:.4f}</b>.</p>",
            _img(path),
        ]
    try:
        kept = answers.read_errors(run, summary)
    except UserError as e:
        parts.append(_missing(e.problems[0].format(), "the errors gallery"))
        kept = None
    if kept is not None:
        path = gallery.draw_errors(
            kept.images,
            kept.errors,
            summary.data.class_names,
            kept.total,
            run / CURVES / gallery.ERRORS,
            kept.where,
            wrong_count=kept.wrong,
        )
        parts += [
            f"<h2>What it gets wrong ({html.escape(kept.where)})</h2>",
            "<p class='note'>The most confidently wrong images, as the network saw "
            "them: <code>cnnrun inspect RUN --errors --cam</code> shows where it looked."
            "</p>",
            _img(path, wide=True),
        ]
    return parts


def _missing(why: str, part: str) -> str:
    """A note where an unreadable part of the run folder would be: the rest is drawn."""
    return f"<p class='note'><b>{html.escape(part)} is left out:</b> {html.escape(why)}</p>"


def write_report(run: Path, output: Path | None = None) -> Path:
    """Write the report (default `RUN_DIR/report.html`) atomically and return its path."""
    target = output or run / "report.html"
    atomic.write_text(target, render(run))
    return target
