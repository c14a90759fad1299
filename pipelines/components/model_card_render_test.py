"""The card's Markdown and HTML: values from data cannot inject markup, and both say the same.

Markdown is checked by parsing it with markdown-it-py (installed with Streamlit, via rich), a
CommonMark parser with GitHub's table extension: CommonMark lets any ASCII punctuation be
backslash-escaped (spec 0.31, "Backslash escapes"), so an escaped value must come back as its
own text, never as a tag, a link or an extra table cell. HTML is parsed with the standard
library's HTMLParser, which sees what a browser's tokenizer sees: tags and text.
"""

from __future__ import annotations

import copy
from html.parser import HTMLParser

from markdown_it import MarkdownIt

from pipelines.components import model_card_render as render

HOSTILE = '<script>alert("x")</script> | [link](javascript:alert(1)) *bold* & `code` #1'


def card(**overrides) -> dict:
    """A card in build_card's shape (its keys are what model_card.build_card writes)."""
    base = {
        "schema_version": 1,
        "model_details": {
            "name": "clickflow",
            "version": {"name": "17", "date": "2026-12-03"},
            "path": "/srv/clickflow/17",
            "pipeline_name": "clickflow",
            "pipeline_run_id": "run-1",
            "model_uri": "/root/Trainer/model/3",
        },
        "model_parameters": {
            "label": "ClickedOnAd",
            "input_features": [
                {"name": "City", "type": "BYTES", "domain": "", "description": "Open vocabulary."}
            ],
            "data": {
                "examples_uri": "/root/x",
                "span": 0,
                "spans": ["span-00001"],
                "row_accounting": {"read": 10, "kept": 9, "dropped": {"empty": 1}},
                "splits": [
                    {
                        "name": "train",
                        "rows": 8,
                        "first": "2016-01-01 00:00:00",
                        "last": "2016-01-02 00:00:00",
                        "positive_rate": 0.5,
                    }
                ],
                "first": "2016-01-01 00:00:00",
                "last": "2016-01-02 00:00:00",
                "rare_values": [],
            },
        },
        "quantitative_analysis": {
            "performance_metrics": [
                {"slice": "overall", "example_count": 9.0, "auc": 0.9},
                {"slice": "City:x", "example_count": 2.0, "auc": 1.0},
            ],
            "thresholds": [
                {
                    "gate": "blessing",
                    "metric": "auc",
                    "slices": "overall",
                    "threshold": ">= 0.75",
                    "overall_value": 0.9,
                    "passed": True,
                    "failed_slices": [],
                }
            ],
            "comparisons": [
                {"what": "served baseline", "status": "not compared: nothing"},
                {"what": "simple model", "status": "not run"},
            ],
        },
        "considerations": {
            "intended_use": "Ranking ads.\n\n- for pages\n- not for people",
            "limitations": ["few rows"],
        },
    }
    for path, value in overrides.items():
        target = base
        *parents, last = path.split("__")
        for key in parents:
            target = target[key]
        target[last] = value
    return copy.deepcopy(base)


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)

    def handle_data(self, data) -> None:
        self.text.append(data)


def _parse_html(text: str) -> _Html:
    parser = _Html()
    parser.feed(text)
    return parser


def _md_tokens(text: str) -> list:
    return MarkdownIt("commonmark").enable("table").parse(text)


def _hostile_card() -> dict:
    hostile = card(considerations__limitations=[HOSTILE])
    hostile["quantitative_analysis"]["performance_metrics"][1]["slice"] = HOSTILE
    hostile["model_parameters"]["input_features"][0]["description"] = HOSTILE
    return hostile


def test_html_escapes_every_value_from_the_data() -> None:
    page = _parse_html(render.html(_hostile_card()))
    assert "script" not in page.tags and "a" not in page.tags
    assert set(page.tags) <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "h1",
        "h2",
        "h3",
        "p",
        "ul",
        "li",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    }
    # The value comes back as text, whole: in the feature table, the slice table and a list.
    assert "".join(page.text).count(HOSTILE) == 3


def test_markdown_escapes_every_value_from_the_data() -> None:
    tokens = _md_tokens(render.markdown(_hostile_card()))
    kinds = {t.type for t in tokens} | {c.type for t in tokens for c in t.children or []}
    assert not kinds & {"html_block", "html_inline", "link_open", "em_open", "code_inline"}
    shown = [
        "".join(c.content for c in t.children or [] if c.type == "text")
        for t in tokens
        if t.type == "inline"
    ]
    assert shown.count(HOSTILE) == 3  # a feature's description, a slice, a limitation
    # Each table row has its header's cells: the "|" inside a value is not a cell border.
    widths, width, header = [], 0, None
    for token in tokens:
        if token.type == "tr_open":
            width = 0
        elif token.type in ("th_open", "td_open"):
            width += 1
        elif token.type == "tr_close":
            widths.append((header, width))
        elif token.type == "thead_open":
            header = None
        elif token.type == "tbody_open":
            header = widths[-1][1]
    assert all(h is None or h == w for h, w in widths), widths


def test_md_escape_round_trips_through_commonmark() -> None:
    for text in (
        HOSTILE,
        "age_band:50+",
        "a\\b",
        "~~strike~~",
        "1. not a list",
        "<30",
        "- not a list",
        "---",
        "===",
        "2016-01-01 00:00:00",
        "3) not a list",
        "-0.5",
        "=== not a heading",
    ):
        (paragraph,) = [t for t in _md_tokens(render.md_escape(text)) if t.type == "inline"]
        assert [c.type for c in paragraph.children] == ["text"], text
        assert paragraph.children[0].content == text


def test_md_escape_leaves_dates_and_numbers_readable() -> None:
    for text in ("2016-01-01 00:00:00", "0.5498", "-0.0023", "span-00001", "Male:1"):
        assert render.md_escape(text) == text


def test_the_curated_intro_is_markdown_and_escaped_html() -> None:
    intro = "# Use\nRanking <b>ads</b>.\n\n- for pages\n- not for people"
    page = _parse_html(render.html(card(considerations__intended_use=intro)))
    assert "b" not in page.tags and "<b>ads</b>" in "".join(page.text)
    assert page.tags.count("li") == 2 + 1  # the intro's two items and one limitation
    assert intro in render.markdown(card(considerations__intended_use=intro))


def test_an_absent_simple_model_evaluation_says_not_run_in_both() -> None:
    one = card()
    for text in (render.markdown(one), "".join(_parse_html(render.html(one)).text)):
        assert "Compared with the simple model" in text
        after = text.split("Compared with the simple model", 1)[1]
        assert after.strip().startswith("not run")


def test_a_failed_threshold_names_the_slices_that_failed() -> None:
    failed = card()
    failed["quantitative_analysis"]["thresholds"][0].update(
        passed=False, failed_slices=["overall", "Male:1"]
    )
    assert "| no: overall, Male:1 |" in render.markdown(failed)
    assert "no: overall, Male:1" in "".join(_parse_html(render.html(failed)).text)
