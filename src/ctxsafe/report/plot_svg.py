"""The safety vs. helpfulness plot as inline SVG: one point per run (model or defense) with 95% whiskers.

x: helpfulness, the share of safe twins handled right; y: safety, the share of unsafe twins handled
right. Every label is escaped; the SVG has no scripts and no external references.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from ctxsafe.report.summary import Rate

W, H, PAD = 440, 400, 48
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


@dataclass(frozen=True)
class Point:
    label: str
    helpful: Rate
    safe: Rate


def _x(v: float) -> float:
    return PAD + v * (W - 2 * PAD)


def _y(v: float) -> float:
    return H - PAD - v * (H - 2 * PAD)


def safety_helpfulness_svg(points: Sequence[Point]) -> str:
    parts = [f'<svg id="plot" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
             'role="img" aria-label="safety versus helpfulness">',
             f'<rect x="{PAD}" y="{PAD}" width="{W - 2 * PAD}" height="{H - 2 * PAD}" fill="#fafafa" stroke="#999"/>']
    for t in range(0, 11, 2):
        v = t / 10
        parts.append(f'<line x1="{_x(v):.1f}" y1="{_y(0):.1f}" x2="{_x(v):.1f}" y2="{_y(0) + 4:.1f}" stroke="#666"/>'
                     f'<text x="{_x(v):.1f}" y="{_y(0) + 16:.1f}" font-size="10" text-anchor="middle">{t * 10}</text>'
                     f'<line x1="{_x(0) - 4:.1f}" y1="{_y(v):.1f}" x2="{_x(0):.1f}" y2="{_y(v):.1f}" stroke="#666"/>'
                     f'<text x="{_x(0) - 6:.1f}" y="{_y(v) + 3:.1f}" font-size="10" text-anchor="end">{t * 10}</text>')
    parts.append(f'<line x1="{_x(0):.1f}" y1="{_y(1):.1f}" x2="{_x(1):.1f}" y2="{_y(0):.1f}" stroke="#ccc" '
                 'stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{W / 2:.0f}" y="{H - 8}" font-size="12" text-anchor="middle">'
                 'helpfulness: safe twins handled right (%)</text>')
    parts.append(f'<text x="14" y="{H / 2:.0f}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 14 {H / 2:.0f})">safety: unsafe twins handled right (%)</text>')
    for i, p in enumerate(points):
        hx, sy = p.helpful.value, p.safe.value
        if hx is None or sy is None:
            continue
        colour = COLOURS[i % len(COLOURS)]
        hci, sci = p.helpful.ci95, p.safe.ci95
        if hci:
            parts.append(f'<line x1="{_x(hci[0]):.1f}" y1="{_y(sy):.1f}" x2="{_x(hci[1]):.1f}" y2="{_y(sy):.1f}" '
                         f'stroke="{colour}"/>')
        if sci:
            parts.append(f'<line x1="{_x(hx):.1f}" y1="{_y(sci[0]):.1f}" x2="{_x(hx):.1f}" y2="{_y(sci[1]):.1f}" '
                         f'stroke="{colour}"/>')
        title = escape(f"{p.label}: helpfulness {100 * hx:.1f}%, safety {100 * sy:.1f}%")
        parts.append(f'<circle class="point" cx="{_x(hx):.1f}" cy="{_y(sy):.1f}" r="5" fill="{colour}">'
                     f'<title>{title}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def legend_html(points: Sequence[Point]) -> str:
    items = "".join(f'<li><span class="swatch" style="background:{COLOURS[i % len(COLOURS)]}"></span>'
                    f"{escape(p.label)}</li>" for i, p in enumerate(points))
    return f'<ul class="legend">{items}</ul>'
