"""config/ and weights/ are found in a checkout and in an installed share dir."""
import subprocess
import sys
from pathlib import Path

from vl_tracking_ros import resources


def test_checkout_layout_is_found():
    resources.share_dir.cache_clear()
    root = Path(resources.__file__).resolve().parents[1]
    assert resources.share_dir() == root
    assert resources.model_config_path("mvlm-small") == root / "config" / "models" / "mvlm-small.yaml"
    assert (resources.weights_dir() / "manifest.json").is_file()


def test_env_override_and_clear_error(tmp_path, monkeypatch):
    (tmp_path / "config" / "models").mkdir(parents=True)
    monkeypatch.setenv(resources.ENV_VAR, str(tmp_path))
    resources.share_dir.cache_clear()
    try:
        assert resources.share_dir() == tmp_path
        assert resources.weights_dir() == tmp_path / "weights"
    finally:
        resources.share_dir.cache_clear()


def test_installed_package_finds_the_share_dir(tmp_path):
    """Run from outside the checkout: the installed copy in the venv must find
    <prefix>/share/vl_tracking_ros (what `make` installs, like colcon)."""
    share = Path(sys.prefix) / "share" / "vl_tracking_ros" / "config" / "models"
    if not share.is_dir():
        import pytest
        pytest.skip("package not installed into this prefix (run `make install`)")
    out = subprocess.run([sys.executable, "-c", "from vl_tracking_ros import resources; "
                          "print(resources.share_dir(), resources.__file__)"],
                         cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert Path(out[0]) == Path(sys.prefix) / "share" / "vl_tracking_ros", out
