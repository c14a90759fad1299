"""A model card's content (``model_card.build_card``) as Markdown and as one HTML page.

Both come from one list of blocks, so they say the same. Every value that comes from data or
artifacts (a city name, a slice value, a path) is escaped for the format it lands in: HTML
through ``html.escape``, Markdown by backslash-escaping its punctuation, so a value cannot
open a tag, a link or a table cell. The intended-use text is curated in the repository: it is
Markdown in the Markdown card, and in the HTML card its paragraphs, headings and ``- `` lists
become escaped HTML (no Markdown library: none is pinned).
"""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")
# What opens a block at the start of a line (CommonMark): "1. " an ordered list, "- " a bullet,
# a line of "=" or "-" a heading underline or a rule.
_MD_ORDERED = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")
_MD_LINE_ONLY = re.compile(r"^(?:-(?=\s|$)|[-=\s]+$)")
_METRICS = (
    ("example_count", "examples"),
    ("auc", "AUC"),
    ("auc_precision_recall", "PR AUC"),
    ("binary_accuracy", "accuracy"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("calibration", "calibration"),
)


def md_escape(text: Any) -> str:
    """``text`` as literal Markdown: one line, its punctuation backslash-escaped, and what
    would open a list or a heading at the start of a line ("1. ", "- ", "=") too."""
    escaped = _MD_ORDERED.sub(r"\1\\\2", _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split())))
    return "\\" + escaped if _MD_LINE_ONLY.match(escaped) else escaped


def number(value: Any) -> str:
    """A metric as text: 4 decimals, '—' when missing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def count(value: Any) -> str:
    """A count as text: '1,234', '—' when missing."""
    return "—" if value is None else f"{int(value):,}"


def _data_blocks(data: dict[str, Any]) -> list[tuple]:
    out: list[tuple] = [("h2", "Data")]
    spans = data.get("spans") or []
    facts = [
        f"Spans: {', '.join(spans)}"
        if spans
        else (f"Span: {data['span']}" if data.get("span") is not None else "Spans: not recorded")
    ]
    accounting = data.get("row_accounting")
    if accounting:
        dropped = {k: v for k, v in (accounting.get("dropped") or {}).items() if v}
        facts.append(
            f"source rows read {count(accounting.get('read'))}, kept "
            f"{count(accounting.get('kept'))}"
            + "".join(f", dropped {count(v)} ({k})" for k, v in dropped.items())
        )
    if data.get("first"):
        facts.append(f"events from {data['first']} to {data['last']}")
    out.append(("p", "; ".join(facts) + "."))
    out.append(
        (
            "table",
            ("split", "rows", "first event", "last event", "click rate"),
            [
                (
                    s["name"],
                    count(s["rows"]),
                    s["first"] or "—",
                    s["last"] or "—",
                    number(s["positive_rate"]),
                )
                for s in data.get("splits", [])
            ],
        )
    )
    return out


def _comparison_blocks(comparison: dict[str, Any]) -> list[tuple]:
    what = comparison["what"]
    if comparison["status"] != "compared":
        return [("h3", f"Compared with the {what}"), ("p", comparison["status"])]
    return [
        ("h3", f"Compared with the {what}"),
        (
            "table",
            ("metric", "candidate", "baseline", "difference"),
            [
                (
                    m["metric"],
                    *(
                        (count if m["metric"] == "example_count" else number)(m[k])
                        for k in ("candidate", "baseline", "difference")
                    ),
                )
                for m in comparison["metrics"]
            ],
        ),
    ]


def blocks(card: dict[str, Any]) -> list[tuple]:
    """The card as (kind, ...) blocks: h1/h2/h3/p (text), intro (curated Markdown),
    table (headers, rows) and ul (items)."""
    details = card["model_details"]
    params = card["model_parameters"]
    quant = card["quantitative_analysis"]
    considerations = card["considerations"]
    version = details["version"]
    out: list[tuple] = [
        ("h1", f"Model card: {details['name']} version {version['name']}"),
        (
            "p",
            f"Pushed {version['date'] or '(time not recorded)'} to {details['path']} by run "
            f"{details['pipeline_run_id'] or '(not recorded)'} of pipeline "
            f"{details['pipeline_name'] or '(not recorded)'}; label {params['label']}.",
        ),
        ("h2", "Intended use"),
        ("intro", considerations["intended_use"]),
        *_data_blocks(params["data"]),
        ("h2", "Input features"),
        (
            "table",
            ("feature", "type", "domain", "description"),
            [
                (f["name"], f["type"], f["domain"] or "—", f["description"] or "—")
                for f in params["input_features"]
            ],
        ),
        ("h2", "Metrics per slice (eval split)"),
        (
            "table",
            ("slice", *(label for _, label in _METRICS)),
            [
                (
                    m["slice"],
                    count(m.get("example_count")),
                    *(number(m.get(key)) for key, _ in _METRICS[1:]),
                )
                for m in quant["performance_metrics"]
            ],
        ),
        ("h2", "Thresholds"),
        (
            "table",
            ("gate", "metric", "slices", "threshold", "overall value", "passed"),
            [
                (
                    t["gate"],
                    t["metric"],
                    t["slices"],
                    t["threshold"],
                    number(t["overall_value"]),
                    "yes" if t["passed"] else "no: " + ", ".join(t["failed_slices"]),
                )
                for t in quant["thresholds"]
            ],
        ),
        ("h2", "Comparisons"),
    ]
    for comparison in quant["comparisons"]:
        out += _comparison_blocks(comparison)
    limits = considerations["limitations"]
    out += [("h2", "Limitations"), ("ul", limits) if limits else ("p", "None recorded.")]
    return out


def markdown(card: dict[str, Any]) -> str:
    lines: list[str] = []
    for kind, *rest in blocks(card):
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + md_escape(rest[0]), ""]
        elif kind == "p":
            lines += [md_escape(rest[0]), ""]
        elif kind == "intro":
            lines += [rest[0].strip(), ""]
        elif kind == "ul":
            lines += [f"- {md_escape(item)}" for item in rest[0]] + [""]
        elif kind == "table":
            headers, rows = rest
            lines.append("| " + " | ".join(md_escape(h) for h in headers) + " |")
            lines.append("|" + "---|" * len(headers))
            lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]
            lines.append("")
    return "\n".join(lines)


def _intro_html(text: str) -> str:
    """Curated Markdown as HTML: paragraphs, '#' headings and '- ' lists, all escaped."""
    out = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in para.splitlines() if line.strip()]
        if lines and all(line.startswith(("- ", "* ")) for line in lines):
            out.append(
                "<ul>"
                + "".join(f"<li>{html_lib.escape(line[2:])}</li>" for line in lines)
                + "</ul>"
            )
        elif lines and lines[0].startswith("#"):
            level = min(6, 2 + len(lines[0]) - len(lines[0].lstrip("#")))
            out.append(f"<h{level}>{html_lib.escape(lines[0].lstrip('#').strip())}</h{level}>")
            if lines[1:]:
                out.append(f"<p>{html_lib.escape(' '.join(lines[1:]))}</p>")
        elif lines:
            out.append(f"<p>{html_lib.escape(' '.join(lines))}</p>")
    return "\n".join(out)


_STYLE = (
    "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;margin:.5rem 0 1rem}"
    "td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}"
)


def html(card: dict[str, Any]) -> str:
    esc = html_lib.escape
    title = ""
    parts: list[str] = []
    for kind, *rest in blocks(card):
        if kind in ("h1", "h2", "h3"):
            title = title or rest[0]
            parts.append(f"<{kind}>{esc(rest[0])}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{esc(rest[0])}</p>")
        elif kind == "intro":
            parts.append(_intro_html(rest[0]))
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in rest[0]) + "</ul>")
        elif kind == "table":
            headers, rows = rest
            parts.append(
                "<table><thead><tr>"
                + "".join(f"<th>{esc(h)}</th>" for h in headers)
                + "</tr></thead><tbody>"
                + "".join(
                    "<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>"
                    for row in rows
                )
                + "</tbody></table>"
            )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
