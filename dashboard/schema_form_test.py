"""Form fields from the curated schema: ranges, choices, help texts and their checks."""

import pytest
from tensorflow_metadata.proto.v0 import schema_pb2

from dashboard import cells, schema_form
from models import features


@pytest.fixture
def schema():
    return schema_form.load_schema()


def test_fields_follow_the_curated_schema(schema):
    fields = {f.name: f for f in schema_form.form_fields(schema)}
    assert list(fields) == list(features.SERVING_FEATURES)
    assert (fields["Age"].kind, fields["Age"].minimum, fields["Age"].maximum) == ("int", 10, 110)
    assert (fields["DailyTimeSpentOnSite"].minimum,
            fields["DailyTimeSpentOnSite"].maximum) == (0.0, 1440.0)
    assert (fields["Male"].minimum, fields["Male"].maximum) == (0, 1)
    assert fields["Timestamp"].kind == "timestamp"
    # City and Country are open vocabularies in the schema: free text, no choices.
    assert fields["City"].choices is None and fields["Country"].choices is None
    assert fields["Age"].help == "Age in years."
    assert all(cells.parse_cell(f, str(f.default)) == (f.default, None) for f in fields.values())


def test_a_string_domain_becomes_choices(schema):
    country = next(f for f in schema.feature if f.name == "Country")
    country.string_domain.value.extend(["Norway", "Peru"])
    city = next(f for f in schema.feature if f.name == "City")
    city.domain = "cities"
    schema.string_domain.add(name="cities", value=["Oslo"])
    fields = {f.name: f for f in schema_form.form_fields(schema)}
    assert fields["Country"].choices == ("Norway", "Peru")
    assert fields["Country"].default == "Norway"  # the example row's country is not offered
    assert fields["City"].choices == ("Oslo",)
    assert cells.parse_cell(fields["Country"], "Tunisia") == (
        None, "'Tunisia' is not one of Norway, Peru")


def test_a_narrower_range_clips_the_default(schema):
    age = next(f for f in schema.feature if f.name == "Age")
    age.int_domain.min = 50
    field = next(f for f in schema_form.form_fields(schema) if f.name == "Age")
    assert field.default == 50 and field.range_text() == "50..110"


def test_a_schema_without_a_serving_feature_is_an_error():
    schema = schema_pb2.Schema()
    schema.feature.add(name="Age", type=schema_pb2.INT)
    with pytest.raises(schema_form.SchemaError, match="no feature DailyTimeSpentOnSite, "
                                                      "AreaIncome"):
        schema_form.form_fields(schema)


def test_unreadable_or_broken_schema_files_name_the_file(tmp_path):
    with pytest.raises(schema_form.SchemaError, match=r"cannot read the schema .*nothing.pbtxt"):
        schema_form.load_schema(tmp_path / "nothing.pbtxt")
    broken = tmp_path / "schema.pbtxt"
    broken.write_text("feature { name: ")
    with pytest.raises(schema_form.SchemaError, match=r"schema\.pbtxt is not a valid schema"):
        schema_form.load_schema(broken)
