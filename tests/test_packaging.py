"""The wheel the Dockerfile's build stage makes carries everything the daemon needs at run time:
the simulated cluster's image catalogue, the example manifests, the console script."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_code_data_and_the_command(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = list(tmp_path.glob("userpods-*.whl"))
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    for needed in (
        "userpods/__main__.py",
        "userpods/py.typed",
        "userpods/sim/images.yaml",
        "userpods/examples/ubuntu_sciencedata.yaml",
        "userpods/daemon/core.py",
        "userpods/plugins/tokens.py",
    ):
        assert needed in names, needed
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "userpods = userpods.__main__:main" in archive.read(entry_points).decode()
    assert not any(n.startswith("tests/") for n in names)
