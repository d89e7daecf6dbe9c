"""The shared runner behind the command line: configs, training, probes and the quickstart.

A config is a plain dict (see `digits_micro_config` for every key) that names a data
source, the image and patch size, the encoder preset and overrides, the I-JEPA predictor,
the MAE decoder, both methods' masks, the batch size, the epoch budget and the optimizer.
I-JEPA and MAE built from one config share the encoder and the budget, so they compare
like with like. Config files are Python modules with `get_config(smoke=False)`, loaded by path
(`load_config`); the named ones ship in `keras_jepa/configs/`.

`train` pretrains one method and writes a run folder (checkpoint, resolved config,
CSV/JSON logs, figures); `evaluate` probes a saved checkpoint; `quickstart` trains both
methods on the digits and prints a comparison table.

The code lives in `keras_jepa.runner`, one module a stage (config → data → model →
train → evaluate → report); this module gathers its names, so `keras_jepa.experiment.X`
keeps working. To replace a function for a test, patch it in the module that calls it
(for example `keras_jepa.runner.train.make_training_dataset`).
"""

from keras_jepa.evaluation.monitors import CollapseMonitor
from keras_jepa.evaluation.monitors import effective_rank
from keras_jepa.runner.build import IJEPA_MASK_GENERATORS
from keras_jepa.runner.build import _set_distribution
from keras_jepa.runner.build import build_model
from keras_jepa.runner.build import build_optimizer
from keras_jepa.runner.build import grid_size
from keras_jepa.runner.build import make_mask_generator
from keras_jepa.runner.config import _REQUIRED_KEYS
from keras_jepa.runner.config import CONFIG_DIR
from keras_jepa.runner.config import DATA_SOURCES
from keras_jepa.runner.config import FILE_SOURCES
from keras_jepa.runner.config import METHODS
from keras_jepa.runner.config import ExperimentError
from keras_jepa.runner.config import _check_data_path
from keras_jepa.runner.config import available_configs
from keras_jepa.runner.config import check_config
from keras_jepa.runner.config import check_method
from keras_jepa.runner.config import load_config
from keras_jepa.runner.config import resolve_config_path
from keras_jepa.runner.evaluate import evaluate
from keras_jepa.runner.evaluate import evaluate_checkpoint
from keras_jepa.runner.evaluate import feature_metrics
from keras_jepa.runner.evaluate import pixel_features
from keras_jepa.runner.evaluate import probe_accuracy
from keras_jepa.runner.micro_configs import SIGREG
from keras_jepa.runner.micro_configs import _micro_config
from keras_jepa.runner.micro_configs import digits_micro_config
from keras_jepa.runner.micro_configs import mnist_micro_config
from keras_jepa.runner.quickstart import DEFAULT_COMPARE
from keras_jepa.runner.quickstart import _probe_callbacks
from keras_jepa.runner.quickstart import _slug
from keras_jepa.runner.quickstart import comparison_runs
from keras_jepa.runner.quickstart import quickstart
from keras_jepa.runner.report import _to_json
from keras_jepa.runner.report import _verdict
from keras_jepa.runner.report import comparison_table
from keras_jepa.runner.report import write_json
from keras_jepa.runner.sources import _distractor_bound
from keras_jepa.runner.sources import _load_npz
from keras_jepa.runner.sources import _normalization
from keras_jepa.runner.sources import _source
from keras_jepa.runner.sources import _split_path
from keras_jepa.runner.sources import _synthetic_arrays
from keras_jepa.runner.sources import _with_distractor
from keras_jepa.runner.sources import data_has_labels
from keras_jepa.runner.sources import load_probe_arrays
from keras_jepa.runner.sources import make_training_dataset
from keras_jepa.runner.sources import with_data
from keras_jepa.runner.train import _check_finite
from keras_jepa.runner.train import _resumed_config
from keras_jepa.runner.train import train

__all__ = [
    "CONFIG_DIR", "DATA_SOURCES", "ExperimentError", "FILE_SOURCES", "METHODS",
    "_REQUIRED_KEYS", "_check_data_path", "available_configs", "check_config",
    "check_method", "load_config", "resolve_config_path", "SIGREG", "_micro_config",
    "digits_micro_config", "mnist_micro_config", "_distractor_bound", "_load_npz",
    "_normalization", "_source", "_split_path", "_synthetic_arrays",
    "_with_distractor", "data_has_labels", "load_probe_arrays", "make_training_dataset",
    "with_data", "IJEPA_MASK_GENERATORS", "_set_distribution", "build_model",
    "build_optimizer", "grid_size", "make_mask_generator", "_check_finite",
    "_resumed_config", "train", "evaluate", "evaluate_checkpoint", "feature_metrics",
    "pixel_features", "probe_accuracy", "_to_json", "_verdict", "comparison_table",
    "write_json", "DEFAULT_COMPARE", "_probe_callbacks", "_slug", "comparison_runs",
    "quickstart", "CollapseMonitor", "effective_rank",
]
