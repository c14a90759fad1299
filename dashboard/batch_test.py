"""Checking uploaded CSV files line by line: headers, every kind of bad cell, line numbers."""

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


def checked(tmp_path, fields, text: str) -> list[batch.Line]:
    path = write(tmp_path, text)
    header = batch.read_header(path, "ads.csv")
    assert header.problems == ()
    return list(batch.read_lines(path, header, fields))


def test_a_generated_file_with_labels_passes_with_typed_values(tmp_path, fields):
    import pandas as pd

    path = data_generator.write_csv(tmp_path / "ads.csv", rows=50, seed=3)
    header = batch.read_header(path, "ads.csv")
    assert header.problems == () and header.labelled and header.ignored == ()
    lines = list(batch.read_lines(path, header, fields))
    assert [line.problems for line in lines] == [[]] * 50
    assert [line.line for line in lines] == list(range(2, 52))
    expected = pd.read_csv(path)
    assert [line.values["Age"] for line in lines] == expected["Age"].tolist()
    assert [line.values["Timestamp"] for line in lines] == expected["Timestamp"].tolist()
    assert [line.label for line in lines] == expected[features.LABEL_KEY].tolist()
    assert all(isinstance(line.values["Age"], int) for line in lines)


def test_the_kaggle_header_without_label_passes_and_extras_are_ignored(tmp_path, fields):
    (line,) = checked(tmp_path, fields, KAGGLE_HEADER + ",Note\n" + GOOD_LINE + ",hello\n")
    assert line.problems == [] and line.label is None
    assert line.values["DailyTimeSpentOnSite"] == 68.95
    header = batch.read_header(tmp_path / "ads.csv", "ads.csv")
    assert header.ignored == ("Note",) and not header.labelled


def test_missing_columns_are_all_listed_with_the_file_name(tmp_path, fields):
    path = write(tmp_path, "Age,City,Male\nabc,Oslo,0\n", name="upload.csv")
    header = batch.read_header(path, "my ads.csv")
    missing = [p for p in header.problems if p.startswith("missing column")]
    assert len(missing) == 6 and "missing column 'Timestamp'" in missing
    assert header.problems[-1].startswith("my ads.csv has the columns Age, City, Male; expected "
                                          "DailyTimeSpentOnSite")


def test_repeated_columns_are_refused_by_the_pipelines_rule(tmp_path, fields):
    path = write(tmp_path, KAGGLE_HEADER + ",AGE\n" + GOOD_LINE + ",40\n")
    (problem,) = batch.read_header(path, "ads.csv").problems
    assert "'Age' (column 2) and 'AGE' (column 10) both match the expected column 'Age'" in \
        problem
    assert str(tmp_path) not in problem and "ads.csv (the header)" in problem


@pytest.mark.parametrize("field, cell, problem", [
    ("Age", "thirty", "Age: 'thirty' is not a whole number"),
    ("Age", "35.5", "Age: '35.5' is not a whole number"),
    ("Age", "500", "Age: 500 is outside the allowed range 10..110"),
    ("AreaIncome", "5e7", "AreaIncome: 5e7 is outside the allowed range 0..1000000"),
    ("AreaIncome", "nan", "AreaIncome: 'nan' is not a number"),
    ("AreaIncome", "1_000", "AreaIncome: '1_000' is not a number"),
    ("DailyTimeSpentOnSite", "-5", "DailyTimeSpentOnSite: -5 is outside the allowed range "
                                   "0..1440"),
    ("City", "", "City: empty"),
    ("Timestamp", "2016/03/27 00:53", "Timestamp: '2016/03/27 00:53' is not a date and time "
                                      "written YYYY-MM-DD HH:MM:SS"),
    ("Timestamp", "2016-3-27 0:53:11", "Timestamp: '2016-3-27 0:53:11' is not a date and time "
                                       "written YYYY-MM-DD HH:MM:SS"),
    ("Timestamp", "2016-02-30 10:00:00", "Timestamp: '2016-02-30 10:00:00' is not a real date "
                                         "and time"),
])
def test_each_bad_cell_is_named_with_its_line(tmp_path, fields, field, cell, problem):
    names = KAGGLE_HEADER.split(",")
    cells = GOOD_LINE.split(",")
    position = [n.replace(" ", "").lower() for n in names].index(field.lower())
    bad = cells.copy()
    bad[position] = cell
    good, wrong = checked(tmp_path, fields, "\n".join([KAGGLE_HEADER, GOOD_LINE, ",".join(bad)]))
    assert good.problems == []
    assert wrong.line == 3 and wrong.problems == [f"line 3, {problem}"]


def test_a_line_lists_all_its_problems_and_a_short_line_is_named(tmp_path, fields):
    lines = [KAGGLE_HEADER + ",Clicked On Ad",
             GOOD_LINE.replace(",35,", ",abc,").replace(",0,Tunisia", ",,Tunisia") + ",2",
             "68.95,35,61833.9",
             GOOD_LINE + ",1"]
    first, short, good = checked(tmp_path, fields, "\n".join(lines) + "\n")
    assert first.problems == ["line 2, Age: 'abc' is not a whole number", "line 2, Male: empty",
                              "line 2, ClickedOnAd: '2' should be 0 or 1"]
    assert short.problems == ["line 3: 3 value(s), but the header has 10 columns"]
    assert good.problems == [] and good.label == 1 and good.line == 4


def test_line_numbers_count_quoted_newlines_and_skip_blank_lines(tmp_path, fields):
    quoted = GOOD_LINE.replace("Cloned 5thgeneration orchestration", '"two\nlines"')
    text = "\n".join([KAGGLE_HEADER, quoted, "", GOOD_LINE.replace(",35,", ",5,")])
    first, second = checked(tmp_path, fields, text)
    assert first.problems == [] and first.values["AdTopicLine"] == "two\nlines"
    assert second.problems == ["line 5, Age: 5 is outside the allowed range 10..110"]


def test_bytes_that_are_not_utf8_are_located_and_kept(tmp_path, fields):
    path = tmp_path / "ads.csv"
    path.write_bytes((KAGGLE_HEADER + "\n" + GOOD_LINE.replace("Wrightburgh", "Z\xfcrich")
                      ).encode("latin-1"))
    header = batch.read_header(path, "ads.csv")
    (line,) = batch.read_lines(path, header, fields)
    assert line.problems == ["line 2, City: 'Z\ufffdrich' is not UTF-8 text (save the file "
                             "as UTF-8)"]


@pytest.mark.parametrize("content, problem", [
    (b"", "ads.csv is empty (0 bytes)"),
    (b"\x00\x01\x02\xff\xfe" * 100, "cannot read ads.csv line 1: bytes 0xff are not "
                                    "UTF-8"),
    (b"Age,\x00City\n1,2\n", "ads.csv has no header line that can be read as CSV text"),
    (KAGGLE_HEADER.replace("City", "Z\xfcrich").encode("latin-1") + b"\n",
     "cannot read ads.csv (the header) line 1, the header: bytes 0xfc are not UTF-8"),
])
def test_empty_or_binary_files_are_a_readable_problem(tmp_path, fields, content, problem):
    path = tmp_path / "ads.csv"
    path.write_bytes(content)
    found = batch.read_header(path, "ads.csv").problems
    assert found[0].startswith(problem)
    assert all("Traceback" not in p for p in found)


def test_count_lines_reads_in_blocks(tmp_path):
    path = write(tmp_path, "a\n" * 10_000)
    assert batch.count_lines(path, block=7) == 10_000


def test_an_upload_in_memory_is_read_where_it_is_and_left_open(tmp_path, fields):
    import io

    data = io.BytesIO((KAGGLE_HEADER + "\n" + GOOD_LINE + "\n" + GOOD_LINE.replace(
        ",35,", ",x,") + "\n").encode())
    header = batch.read_header(data, "ads.csv")
    good, bad = batch.read_lines(data, header, fields)
    assert good.problems == [] and bad.problems == ["line 3, Age: 'x' is not a whole number"]
    assert batch.count_lines(data) == 3
    assert not data.closed  # Streamlit reruns the page on the same upload
    assert batch.read_header(data, "ads.csv") == header
