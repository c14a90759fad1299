"""Report plots as self-contained SVG (no plotting library needed; browsers and Streamlit
render them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">'
            f'<title>{escape(title)}</title><rect width="100%" height="100%" fill="white"/>'
            + "".join(body) + "</svg>\n")


def reliability_svg(curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """Fraction clicked against mean prediction per probability bin, one line per version;
    the diagonal is perfect calibration."""
    size, pad = 320, 50
    def x(v: float) -> float:
        return pad + v * size

    def y(v: float) -> float:
        return pad + (1 - v) * size

    body = [f'<text x="{pad}" y="25" font-size="14">Reliability (live, labelled '
            'predictions)</text>',
            f'<rect x="{pad}" y="{pad}" width="{size}" height="{size}" fill="none" '
            'stroke="#999"/>',
            f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#bbb" '
            'stroke-dasharray="4 4"/>']
    for tick in (0.0, 0.5, 1.0):
        body.append(f'<text x="{x(tick)}" y="{y(0) + 16}" text-anchor="middle">{tick}</text>')
        body.append(f'<text x="{pad - 6}" y="{y(tick) + 4}" text-anchor="end">{tick}</text>')
    body.append(f'<text x="{x(0.5)}" y="{y(0) + 34}" text-anchor="middle">mean prediction'
                '</text>')
    body.append(f'<text x="14" y="{y(0.5)}" transform="rotate(-90 14 {y(0.5)})" '
                'text-anchor="middle">fraction clicked</text>')
    for i, (name, curve) in enumerate(curves.items()):
        color = COLORS[i % len(COLORS)]
        points = " ".join(f"{x(b['mean_prediction']):.1f},{y(b['fraction_clicked']):.1f}"
                          for b in curve)
        if points:
            body.append(f'<polyline points="{points}" fill="none" stroke="{color}" '
                        'stroke-width="2"/>')
        body.extend(f'<circle cx="{x(b["mean_prediction"]):.1f}" '
                    f'cy="{y(b["fraction_clicked"]):.1f}" r="3" fill="{color}"/>'
                    for b in curve)
        body.append(f'<text x="{x(1) + 10}" y="{pad + 14 + 16 * i}" fill="{color}">'
                    f'{escape(name)}</text>')
    return _svg(size + 2 * pad + 130, size + 2 * pad + 10, body, "Reliability curve")


def measurements_svg(rows: Sequence[tuple[str, float, float]], title: str) -> str:
    """Horizontal bars of (label, value, threshold); red where value > threshold."""
    bar_w, row_h, left, top = 300, 22, 210, 40
    top_value = max([0.0001, *(max(v, t) for _, v, t in rows)]) * 1.1
    body = [f'<text x="10" y="24" font-size="14">{escape(title)}</text>']
    if not rows:
        body.append(f'<text x="10" y="{top + 16}">nothing measured</text>')
    for i, (label, value, threshold) in enumerate(rows):
        y0 = top + i * row_h
        color = "#d62728" if value > threshold else "#2ca02c"
        body.append(f'<text x="{left - 6}" y="{y0 + 14}" text-anchor="end">{escape(label)}'
                    '</text>')
        body.append(f'<rect x="{left}" y="{y0 + 3}" width="{bar_w * value / top_value:.1f}" '
                    f'height="{row_h - 8}" fill="{color}"/>')
        tx = left + bar_w * threshold / top_value
        body.append(f'<line x1="{tx:.1f}" y1="{y0}" x2="{tx:.1f}" y2="{y0 + row_h}" '
                    'stroke="black" stroke-width="2"/>')
        body.append(f'<text x="{left + bar_w + 8}" y="{y0 + 14}">{value:.4f} / {threshold}'
                    '</text>')
    height = top + max(len(rows), 1) * row_h + 20
    return _svg(left + bar_w + 120, height, body, title)
