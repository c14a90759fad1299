"""The pipeline image arms every interpreter against CVE-2023-47248 (no Docker engine needed).

pyarrow's advisory (GHSA-5wvp-7f3h-6wmm): pyarrow < 14.0.1 unpickles a pickled
``arrow.py_extension_type`` from a Parquet file's schema, running its code. In the image, KFP,
Vertex and Beam's SDK harness start interpreters that never import our code, so
``deployment/pipeline/Dockerfile`` puts ``pyarrow_hotfix.pth`` into site-packages. Here the
Dockerfile is read with the emulator's parser, its COPY lines staged as a build would, and its
RUN line for the ``.pth`` file run against a fresh virtual environment's site-packages (made
from this interpreter, seeing .venv's packages through a path file): then a bare
``python -c "import pyarrow.parquet as pq; pq.read_table(f)"`` there must refuse the exploit,
and without the ``.pth`` file it must not (so the test can fail).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from pipelines.cloud.emulator import image
from pipelines.testing.crafted_parquet import ROOT, write_exploit

PTH = "deployment/pipeline/pyarrow_hotfix.pth"
_BARE_READ = "import sys, pyarrow.parquet as pq; pq.read_table(sys.argv[1])"


def _run_line(text: str) -> str:
    """The Dockerfile's RUN instruction that installs the .pth file, as a shell command."""
    [line] = [line for _, line in image._instructions(text)
              if line.startswith("RUN ") and "pyarrow_hotfix.pth" in line]
    return line.removeprefix("RUN ")


@pytest.fixture
def bare_env(tmp_path: Path) -> Path:
    """A virtual environment with no packages of its own; a path file (sorted before any
    other) lets it import .venv's, as the image's interpreter finds its own."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    [site] = (venv / "lib").glob("python3*/site-packages")
    (site / "00-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def _bare(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)


def test_the_image_installs_the_pinned_hotfix_and_copies_the_pth() -> None:
    text = (ROOT / image.DOCKERFILE).read_text()
    img = image.parse_dockerfile(text)
    assert (PTH, "pyarrow_hotfix.pth") in img.copies_to
    [install] = [line for _, line in image._instructions(text)
                 if line.startswith("RUN python -m pip install -c constraints.txt")]
    assert " pyarrow-hotfix " in install
    assert "pyarrow-hotfix==0.7\n" in (ROOT / "constraints.txt").read_text()
    for requirements in ("requirements.txt", "dashboard/requirements.txt"):
        assert re.search(r"^pyarrow-hotfix==0\.7$", (ROOT / requirements).read_text(), re.M)
    ignore = (ROOT / "deployment" / "pipeline" / "Dockerfile.dockerignore").read_text()
    assert f"!{PTH}\n" in ignore  # or the build context lacks it
    assert [line for line in (ROOT / PTH).read_text().splitlines()
            if not line.startswith("#")] == ["import pyarrow_hotfix"]


def test_a_bare_interpreter_of_the_image_refuses_the_exploit(tmp_path: Path, bare_env) -> None:
    text = (ROOT / image.DOCKERFILE).read_text()
    workdir = image.stage(ROOT, image.parse_dockerfile(text), tmp_path / "pipeline")
    marker = tmp_path / "pwned"
    crafted = write_exploit(tmp_path / "crafted.parquet", marker)

    before = _bare(bare_env, "python", "-c", _BARE_READ, str(crafted), cwd=workdir)
    assert marker.is_dir(), before.stderr  # without the .pth file the exploit runs here
    marker.rmdir()

    build = _bare(bare_env, "sh", "-c", _run_line(text), cwd=workdir)  # its own check passes
    assert build.returncode == 0, build.stderr
    [site] = (bare_env / "lib").glob("python3*/site-packages")
    assert (site / "pyarrow_hotfix.pth").is_file()

    after = _bare(bare_env, "python", "-c", _BARE_READ, str(crafted), cwd=workdir)
    assert not marker.exists()
    assert after.returncode != 0
    assert "Disallowed deserialization of 'arrow.py_extension_type'" in after.stderr
