"""keras_jepa.theory: the deep linear analysis of why JEPA avoids noisy features, runnable.

Littwin et al., "How JEPA Avoids Noisy Features: The Implicit Bias of Deep Linear Self
Distillation Networks" (NeurIPS 2024). The ODE mathematics (`fixed_point`, `critical_time`,
`critical_time_leading`, `simulate`) is numpy/scipy; the networks (`DeepLinearJEPA`,
`DeepLinearMAE`, and the encoder-agnostic `TwoViewJEPA` / `TwoViewMAE`) are Keras models
trained with ``fit`` on every backend, on data with exact second moments
(`make_two_view_data`, `make_temporal_data`). See docs/theory.md for the derivations. The
ablation without stop-gradient (`DeepLinearJEPA(target_mode="no_stop_gradient")`,
`simulate_no_stop_gradient`) collapses; its derivation is in `no_stop_gradient.py`.
"""

from keras_jepa.theory.callbacks import ResponseHistory
from keras_jepa.theory.critical_times import critical_time
from keras_jepa.theory.critical_times import critical_time_leading
from keras_jepa.theory.critical_times import kendall_tau
from keras_jepa.theory.critical_times import measured_critical_time
from keras_jepa.theory.deep_linear import DeepLinearJEPA
from keras_jepa.theory.deep_linear import DeepLinearMAE
from keras_jepa.theory.dynamics import paper_time
from keras_jepa.theory.dynamics import response_rate
from keras_jepa.theory.dynamics import simulate
from keras_jepa.theory.feature_response import feature_response
from keras_jepa.theory.fixed_points import fixed_point
from keras_jepa.theory.full_batch import train_full_batch
from keras_jepa.theory.no_stop_gradient import no_stop_gradient_invariant
from keras_jepa.theory.no_stop_gradient import no_stop_gradient_rates
from keras_jepa.theory.no_stop_gradient import simulate_no_stop_gradient
from keras_jepa.theory.synthetic_data import estimate_lam_rho
from keras_jepa.theory.synthetic_data import make_temporal_data
from keras_jepa.theory.synthetic_data import make_two_view_data
from keras_jepa.theory.two_view_jepa import TwoViewJEPA
from keras_jepa.theory.two_view_mae import TwoViewMAE
