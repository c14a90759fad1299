"""Checking uploaded CSV files: what passes, and that every problem is listed readably."""

import pandas as pd
import pytest

from dashboard import batch, schema_form
from models import features
from pipelines.data import generator as data_generator

KAGGLE_HEADER = ("Daily Time Spent on Site,Age,Area Income,Daily Internet Usage,Ad Topic Line,"
                 "City,Male,Country,Timestamp")
GOOD_LINE = "68.95,35,61833.9,256.09,Cloned 5thgeneration orchestration,Wrightburgh,0,Tunisia," \
            "2016-03-27 00:53:11"


@pytest.fixture(scope="module")
def fields():
    return schema_form.form_fields(schema_form.load_schema())


def write(tmp_path, text: str, name: str = "ads.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_generated_file_with_labels_passes_with_typed_columns(tmp_path, fields):
    path = data_generator.write_csv(tmp_path / "ads.csv", rows=50, seed=3)
    check = batch.check_csv(path, fields)
    assert check.ok and check.problems == ()
    assert list(check.frame.columns) == list(features.RAW_COLUMNS)
    assert len(check.frame) == 50
    expected = pd.read_csv(path)
    assert check.frame["Age"].tolist() == expected["Age"].tolist()
    assert check.frame["City"].tolist() == expected["City"].tolist()
    assert str(check.frame["Age"].dtype) == "int64"


def test_the_kaggle_header_without_label_passes_and_extras_are_ignored(tmp_path, fields):
    path = write(tmp_path, KAGGLE_HEADER + ",Note\n" + GOOD_LINE + ",hello\n")
    check = batch.check_csv(path, fields)
    assert check.ok, check.problems
    assert check.ignored_columns == ("Note",)
    assert features.LABEL_KEY not in check.frame.columns
    assert check.frame.loc[0, "DailyTimeSpentOnSite"] == 68.95


def test_missing_columns_and_bad_types_are_all_listed(tmp_path, fields):
    path = write(tmp_path, "Age,City,Male\nabc,Oslo,0\n", name="upload.csv")
    check = batch.check_csv(path, fields, display_name="my ads.csv")
    assert not check.ok and check.frame is None
    missing = [p for p in check.problems if p.startswith("missing column")]
    assert len(missing) == 6 and "missing column 'Timestamp'" in missing
    assert any(p.startswith("my ads.csv has the columns Age, City, Male; expected "
                            "DailyTimeSpentOnSite") for p in check.problems)
    # The pipeline's own type check and wording, for the columns that are there.
    assert "column 'Age' should hold an integer but has VARCHAR values such as 'abc'" in \
        check.problems
    assert not any(str(tmp_path) in p for p in check.problems)


def test_values_outside_the_schema_and_empty_cells_give_line_numbers(tmp_path, fields):
    lines = [KAGGLE_HEADER + ",Clicked On Ad", GOOD_LINE + ",1",
             GOOD_LINE.replace(",35,", ",500,") + ",0",
             GOOD_LINE.replace(",61833.9,", ",-5,").replace(",0,Tunisia", ",,Tunisia") + ",1",
             GOOD_LINE.replace("2016-03-27 00:53:11", "2016/03/27 00:53") + ",2"]
    check = batch.check_csv(write(tmp_path, "\n".join(lines) + "\n"), fields)
    assert check.frame is None
    assert check.problems == (
        "column 'Timestamp' should be 'YYYY-MM-DD HH:MM:SS' but has values such as "
        "'2016/03/27 00:53'",
        "label column 'ClickedOnAd' should be 0 or 1 but has values such as 2",
        "column 'Age': 1 value(s) outside the schema's range 10..110 on line(s) 3 "
        "(the first: 500)",
        "column 'AreaIncome': 1 value(s) outside the schema's range 0..1000000 on line(s) 4 "
        "(the first: -5.0)",
        "column 'Male': 1 empty value(s) on line(s) 4",
    )


def test_many_bad_lines_are_abbreviated(tmp_path, fields):
    text = KAGGLE_HEADER + "\n" + "\n".join(
        GOOD_LINE.replace(",35,", f",{200 + i},") for i in range(8)) + "\n"
    (problem,) = batch.check_csv(write(tmp_path, text), fields).problems
    assert problem == ("column 'Age': 8 value(s) outside the schema's range 10..110 on line(s) "
                       "2, 3, 4, 5, 6, ... (the first: 200)")


@pytest.mark.parametrize("text, problem", [
    ("", "ads.csv is empty (0 bytes)"),
    (KAGGLE_HEADER + "\n", "ads.csv has a header but no rows"),
])
def test_empty_files_are_named(tmp_path, fields, text, problem):
    (found,) = batch.check_csv(write(tmp_path, text), fields).problems
    assert found.startswith(problem)


def test_too_many_rows_is_refused_before_reading(tmp_path, fields):
    text = KAGGLE_HEADER + "\n" + (GOOD_LINE + "\n") * 3
    (problem,) = batch.check_csv(write(tmp_path, text), fields, max_rows=2).problems
    assert problem == "ads.csv has 3 rows; the dashboard scores at most 2 at a time (split the " \
                      "file)"


def test_a_binary_file_is_a_readable_error(tmp_path, fields):
    path = tmp_path / "ads.csv"
    path.write_bytes(b"\x00\x01\x02\xff\xfe" * 100)
    check = batch.check_csv(path, fields)
    assert check.frame is None and len(check.problems) >= 1
    assert all("Traceback" not in p for p in check.problems)


def test_csv_bytes_round_trip(tmp_path):
    frame = pd.DataFrame({"Age": [35, 40], "probability": [0.25, 0.5]})
    path = tmp_path / "out.csv"
    path.write_bytes(batch.to_csv_bytes(frame))
    pd.testing.assert_frame_equal(pd.read_csv(path), frame)
