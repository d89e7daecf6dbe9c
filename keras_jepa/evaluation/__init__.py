"""Evaluation of frozen encoders: features, linear probe, kNN, few-shot, monitors.

``extract_features`` / ``extract_labeled_features`` compute an encoder's pooled features
(the forward pass of ``model.encode``) from arrays or tf.data datasets;
``linear_probe`` trains a standardised softmax classifier on them with ``fit``;
``knn_classify`` / ``knn_accuracy`` vote with the k most similar training features
(DINO's weighted kNN); ``few_shot_evaluation`` repeats either on stratified samples of
a few labelled examples per class; ``token_probe`` probes the unpooled tokens (PCA-reduced),
which keep the content that mean pooling erases.
"""

# Probes on frozen features.
# === Monitors and callbacks (keras_jepa/evaluation/monitors.py, callbacks.py) ===
from keras_jepa.evaluation.callbacks import ProbeCallback

# === Downstream tasks (keras_jepa/evaluation/downstream.py) ===
from keras_jepa.evaluation.downstream import label_fraction_indices
from keras_jepa.evaluation.downstream import run_downstream
from keras_jepa.evaluation.features import extract_features
from keras_jepa.evaluation.features import extract_labeled_features
from keras_jepa.evaluation.features import select_encoder
from keras_jepa.evaluation.few_shot import few_shot_evaluation
from keras_jepa.evaluation.few_shot import few_shot_indices
from keras_jepa.evaluation.knn import knn_accuracy
from keras_jepa.evaluation.knn import knn_classify
from keras_jepa.evaluation.linear_probe import ProbeResult
from keras_jepa.evaluation.linear_probe import build_probe
from keras_jepa.evaluation.linear_probe import linear_probe
from keras_jepa.evaluation.linear_probe import probe_predictions
from keras_jepa.evaluation.monitors import CollapseMonitor
from keras_jepa.evaluation.monitors import content_blind_loss
from keras_jepa.evaluation.monitors import effective_rank
from keras_jepa.evaluation.monitors import feature_spread
from keras_jepa.evaluation.monitors import feature_std
from keras_jepa.evaluation.monitors import position_share
from keras_jepa.evaluation.token_probe import token_probe
