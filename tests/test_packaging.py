"""The wheel carries the specs and py.typed, and works installed, from another folder."""
from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_installs_and_imports_from_another_folder(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(ROOT)],
                   check=True)
    wheel = next((tmp_path / "dist").glob("etcd3_py-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for version in ("3.2", "3.3", "3.4", "3.5", "3.6"):
        for document in ("rpc", "v3lock", "v3election"):
            assert "etcd3/_specs/v%s/%s.swagger.json" % (version, document) in names
    assert "etcd3/py.typed" in names
    assert not any(n.startswith(("tests/", "specs/")) for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run(
        [str(python), "-c", "import etcd3, etcd3.spec as s; print(etcd3.__file__); "
                            "print(s.bundled_versions()); print(len(s.load_bundle('3.5').operations)); "
                            "print(s._version_cache('3.5') is not None)"],
        cwd=elsewhere, check=True, capture_output=True, text=True).stdout.split("\n")
    assert str(env_dir) in out[0]
    assert out[1] == "['3.2', '3.3', '3.4', '3.5', '3.6']"
    assert int(out[2]) > 40
    assert out[3] == "True"  # the installed cache module describes the installed specs
