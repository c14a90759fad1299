"""The Dockerfile's COPY lines, parsed and staged (the real Dockerfile and edge cases)."""

from pathlib import Path

import pytest

from pipelines.cloud.emulator import image

ROOT = Path(__file__).resolve().parents[3]


def test_the_pipeline_image_copies_keep_their_paths() -> None:
    img = image.read_image(ROOT)
    assert img.workdir == "/pipeline"
    assert ("models", "models") in img.copies_to
    assert ("pipelines/pipeline.py", "pipelines/pipeline.py") in img.copies_to
    assert ("PYTHONPATH", "/pipeline") in img.env
    assert img.copies("pipelines/data/sql/training_examples.sql")
    assert not img.copies("pipelines/data/generator.py")


def test_copy_from_another_image_and_continuations() -> None:
    # Docker copies a folder's contents: "COPY b/ ./" puts b's files in WORKDIR itself.
    text = ("FROM x\nWORKDIR /app\nCOPY --from=beam /opt /opt\nENV A=1 \\\n    B=2\n"
            "COPY a.py b/ ./\nCOPY src/ code/\nCOPY one.txt renamed.txt\n")
    img = image.parse_dockerfile(text)
    assert img.sources == ("a.py", "b", "src", "one.txt")
    assert img.copies_to == (("a.py", "a.py"), ("b", "."), ("src", "code"),
                             ("one.txt", "renamed.txt"))
    assert img.env == (("A", "1"), ("B", "2"))


def test_errors_name_the_file_and_line() -> None:
    with pytest.raises(image.ImageError, match="Dockerfile:2: COPY needs a source"):
        image.parse_dockerfile("WORKDIR /a\nCOPY only\n", "Dockerfile")
    with pytest.raises(image.ImageError, match="no WORKDIR"):
        image.parse_dockerfile("COPY a b\n", "Dockerfile")


def test_staging_copies_only_what_the_image_has(tmp_path) -> None:
    staged = image.stage(ROOT, image.read_image(ROOT), tmp_path / "pipeline")
    assert (staged / "pipelines" / "pipeline.py").is_file()
    assert (staged / "schema" / "schema.pbtxt").is_file()
    assert not (staged / "pipelines" / "data" / "generator.py").exists()
    assert not (staged / "local_runner.py").exists()
    assert not list(staged.rglob("*_test.py"))
