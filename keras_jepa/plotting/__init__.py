"""keras_jepa.plotting: matplotlib figures of training, evaluation and the theory.

The evaluation figures (probe curves, mask overlays, I-JEPA prediction-error maps,
PCA of patch features) are exported here; the training and theory figures live in
``keras_jepa.plotting.training_figures``, ``reconstructions`` and ``theory_figures``.
"""

from keras_jepa.plotting.evaluation_figures import feature_pca_rgb
from keras_jepa.plotting.evaluation_figures import plot_feature_pca
from keras_jepa.plotting.evaluation_figures import plot_mask_overlays
from keras_jepa.plotting.evaluation_figures import plot_prediction_error_maps
from keras_jepa.plotting.evaluation_figures import plot_probe_curves
from keras_jepa.plotting.evaluation_figures import prediction_error_map

__all__ = [
    "feature_pca_rgb",
    "plot_feature_pca",
    "plot_mask_overlays",
    "plot_prediction_error_maps",
    "plot_probe_curves",
    "prediction_error_map",
]
