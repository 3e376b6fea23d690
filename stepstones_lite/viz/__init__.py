"""House style and the figures the notebooks draw.

Every figure is titled, heatmaps carry a colour bar, and :func:`save_figure` writes PNG into
``figures_dir()`` (``$STEPSTONES_FIGURES`` or ``<root>/figures``). Only matplotlib/seaborn are
imported here, so notebooks can import this module cheaply.

One module per topic; every name is re-exported here (``from stepstones_lite import viz; viz.frame_strip``):

* :mod:`.style`: house style (``set_style``, ``save_figure``, ``HEATMAP_CMAP``) and the pipeline figure (00);
* :mod:`.data`: notebook 01 (frames, log-mel, palette, class counts, small maps);
* :mod:`.stage1`: notebooks 02/03 (stage 1 and the mask priors);
* :mod:`.stage2`: notebooks 04/05 (stage 2 and its attention);
* :mod:`.study`: notebook 06 (the study's arms and the prior sweep);
* :mod:`.check`: the figure check (overlapping texts, legends over data, class colours, overlay contrast).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ..utils import figures_dir
from . import (
    check as _check,
)
from . import (
    data as _data,
)
from . import (
    stage1 as _stage1,
)
from . import (
    stage2 as _stage2,
)
from . import (
    study as _study,
)
from . import (
    style as _style,
)
from .check import FigureCheckError, check_figure, delta_e, note_class_colours, note_overlay, overlay_contrast
from .data import (
    OUTLINE_COLOUR,
    SOUNDING_COLOUR,
    _label_rgba,
    _np_image,
    _np_map,
    class_histogram,
    frame_strip,
    mask_panels,
    palette_swatches,
    plot_log_mel,
)
from .stage1 import (
    _BOTH_RGB,
    _GT_RGB,
    _MISSED_RGB,
    _PRED_RGB,
    OVERLAY_LEGEND,
    _np_img,
    _np_mask,
    compare_bars,
    mask_overlay,
    overlay_report,
    plot_attention_matrix,
    plot_history,
    plot_prior_quality,
    plot_query_similarity,
    prediction_grid,
    prior_gallery,
)
from .stage2 import (
    _KEY_STATE_COLOURS,
    KEY_STATE_NAMES,
    _as_array,
    _heat_array,
    _image_array,
    _labels_rgba_array,
    _upsample_map,
    annotated_heatmap,
    attention_grid,
    prior_modules_figure,
    robust_key_maps,
    semantic_overlay,
    semantic_rows,
    share_and_lift_heatmaps,
    similarity_over_time,
    split_loss_panel,
    training_curves,
)
from .study import payoff_ladder, plot_gap_map, plot_prior_sweep, plot_study
from .style import _STAGE_COLOURS, HEATMAP_CMAP, _arrow, _box, plot_pipeline, save_figure, set_style

__all__ = [
    *_style.__all__,
    *_check.__all__,
    *_study.__all__,
    *_data.__all__,
    *_stage1.__all__,
    *_stage2.__all__,
]
