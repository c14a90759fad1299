"""Row accounting: every row read is kept or dropped for a named reason; changes are counted."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2
from tfx.types import standard_artifacts

from pipelines.data import generator as dg
from pipelines.data import row_accounting as ra
from pipelines.data import source as ds
from pipelines.local import summary


def _csv(tmp_path: Path, edits: dict[tuple[int, str], str], n: int = 40) -> ds.SourceFiles:
    """``n`` generated rows with ``edits`` ((data row index, column) -> text) applied."""
    good = dg.write_csv(tmp_path / "good.csv", n, 2)
    rows = list(csv.reader(io.StringIO(good.read_text())))
    for (row, column), value in edits.items():
        rows[row + 1][rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path = tmp_path / "ads.csv"
    path.write_text(out.getvalue())
    return ds.SourceFiles.from_pattern(str(path))


EDITS = {
    (0, "ClickedOnAd"): "", (5, "ClickedOnAd"): "",
    (5, "Age"): "",  # on a dropped row: not counted as changed
    (7, "Timestamp"): "2016-02-30 25:61:61",
    (9, "Age"): "", (9, "City"): "", (12, "City"): "", (20, "Timestamp"): "",
}


def test_counts_dropped_and_changed_rows_by_reason(tmp_path: Path) -> None:
    source = _csv(tmp_path, EDITS)
    con = ds.open_source(source, check_timestamps=False)
    accounting = ra.count_rows(con, ds.load_query())
    assert accounting == {
        "read": 40, "kept": 37,
        "dropped": {"label ClickedOnAd is empty": 2,
                    "Timestamp is not a real date and time": 1},
        "changed": {"Age is empty (left missing)": 1, "City is empty (left missing)": 2,
                    "Timestamp is empty (left missing)": 1},
        "changed_rows": 3,
    }
    kept = sum(b.num_rows for b in ds.query_batches(source, ds.load_query(),
                                                    check_timestamps=False))
    assert kept == accounting["kept"]
    assert ra.describe(accounting) == [
        "40 read, 37 kept",
        "dropped 3 (label ClickedOnAd is empty: 2, Timestamp is not a real date and time: 1)",
        "changed 3 (Age is empty (left missing): 1, City is empty (left missing): 2, "
        "Timestamp is empty (left missing): 1)"]


def test_rows_a_changed_query_leaves_out_are_counted_too(tmp_path: Path) -> None:
    con = ds.open_source(_csv(tmp_path, {(0, "ClickedOnAd"): ""}))
    query = ds.load_query() + " AND Age < 0"
    accounting = ra.count_rows(con, query)
    assert accounting["kept"] == 0
    assert accounting["dropped"] == {"label ClickedOnAd is empty": 1,
                                     "left out by the training query's other conditions": 39}
    with pytest.raises(ds.DataError, match=r"^ads\.csv: all 40 rows would be dropped"):
        ra.check(accounting, 1.0, "ads.csv")


def test_check_allows_up_to_the_share_and_names_the_flag_above_it() -> None:
    accounting = {"read": 100, "kept": 95, "dropped": {"label ClickedOnAd is empty": 5},
                  "changed": {}}
    ra.check(accounting, 0.05, "ads.csv")
    with pytest.raises(ds.DataError) as err:
        ra.check(accounting, 0.04, "ads.csv")
    assert str(err.value) == (
        "ads.csv: 5 of 100 rows (5.0%) would be dropped, more than the 4.0% allowed: label "
        "ClickedOnAd is empty: 5. Fix or remove those rows, or allow more with "
        "--max-dropped-share (now 0.04)")
    ra.check({"read": 3, "kept": 3, "dropped": {}, "changed": {}}, 0.0, "ads.csv")
    assert ra.describe({"read": 1000, "kept": 1000, "dropped": {}, "changed": {}}) == [
        "1,000 read, 1,000 kept"]


def test_reader_takes_tfx_artifacts_and_mlmd_protos() -> None:
    accounting = {"read": 2, "kept": 1, "dropped": {"label ClickedOnAd is empty": 1},
                  "changed": {}, "changed_rows": 0}
    examples = standard_artifacts.Examples()
    assert ra.row_accounting(examples) is None
    examples.set_string_custom_property(ra.ARTIFACT_PROPERTY, ra.to_json(accounting))
    assert ra.row_accounting(examples) == accounting
    assert ra.row_accounting(examples.mlmd_artifact) == accounting
    broken = metadata_store_pb2.Artifact()
    broken.custom_properties[ra.ARTIFACT_PROPERTY].string_value = "not json"
    assert ra.row_accounting(broken) is None


def test_run_summary_prints_one_rows_line(tmp_path: Path, capsys) -> None:
    rows = {"read": 1000, "kept": 993, "dropped": {"label ClickedOnAd is empty": 7},
            "changed": {"Age is empty (left missing)": 3}, "changed_rows": 3}
    summary.print_result({"rows": rows}, tmp_path / "run_summary.json")
    assert ("Rows: 1,000 read, 993 kept; dropped 7 (label ClickedOnAd is empty: 7); changed 3 "
            "(Age is empty (left missing): 3)\n") in capsys.readouterr().out
