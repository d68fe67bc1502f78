"""The installed packages are exactly requirements.lock (make install installs it; make lock makes it)."""

from __future__ import annotations

import re
import sysconfig
from importlib import metadata
from pathlib import Path

LOCK = Path(__file__).resolve().parents[1] / "requirements.lock"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if m:
            pins[_norm(m.group(1))] = m.group(2)
    return pins


def _installed() -> dict[str, str]:
    # what pip installed into the environment: its site-packages only (ray puts its vendored
    # psutil and colorama on sys.path when it is imported)
    paths = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    return {_norm(d.metadata["Name"]): d.version for d in metadata.distributions(path=paths)}


def test_lock_pins_the_design_cards_versions():
    pins = _locked()
    assert pins["torch"] == "2.13.0+cpu" and pins["bpy"] == "5.0.1" and pins["numpy"].startswith("1.")
    assert pins["pyopengl"] == "3.1.10"  # the override of pyrender's 3.1.0 pin (requirements-overrides.txt)
    assert not [p for p in pins if p.startswith("nvidia-")]  # no CUDA wheels


def test_installed_packages_are_the_lock():
    pins, have = _locked(), _installed()
    wrong = {p: (v, have.get(p)) for p, v in pins.items() if have.get(p) != v}
    assert not wrong, f"installed versions differ from requirements.lock (run make install): {wrong}"
    extra = set(have) - set(pins) - {"atelier", "pip"}
    assert not extra, f"installed but not in requirements.lock: {sorted(extra)}"
