"""The README's modality picture."""
import numpy as np

from vl_tracking_ros.data.panel import render_modality_panel
from vl_tracking_ros.data.scene import ClipConfig
from vl_tracking_ros.data.world import render_clip


def test_modality_panel_png(tmp_path):
    clip = render_clip(ClipConfig(width=160, height=120, num_frames=6), 3)
    path = render_modality_panel(clip, 5, tmp_path / "p" / "panel.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < len(data) < 300_000
    import matplotlib.image as mpimg
    img = mpimg.imread(path)
    assert img.shape[1] > 3 * img.shape[0]          # four panels side by side
    assert np.std(img[..., :3]) > 0.05               # not blank
