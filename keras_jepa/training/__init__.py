"""Training machinery: the per-backend train step, EMA, schedules and the optimizer.

The only part of keras_jepa that imports jax, tensorflow or torch for training.
"""

from keras_jepa.training.checkpoints import SafeModelCheckpoint
from keras_jepa.training.checkpoints import check_checkpoint_file
from keras_jepa.training.checkpoints import checkpoint_mismatches
from keras_jepa.training.checkpoints import load_checkpoint
from keras_jepa.training.checkpoints import load_model
from keras_jepa.training.checkpoints import non_finite_weights
from keras_jepa.training.checkpoints import save_atomically
from keras_jepa.training.ema import copy_weights
from keras_jepa.training.ema import ema_update
from keras_jepa.training.ema import pair_variables
from keras_jepa.training.gradient_scope import no_gradient
from keras_jepa.training.optimizers import ScheduledAdamW
from keras_jepa.training.optimizers import ijepa_optimizer
from keras_jepa.training.schedules import CosineSchedule
from keras_jepa.training.schedules import LinearSchedule
from keras_jepa.training.schedules import WarmupCosineSchedule
from keras_jepa.training.self_supervised_model import SelfSupervisedModel
from keras_jepa.training.step_checks import InvalidBatchError
from keras_jepa.training.step_checks import NonFiniteLossError
from keras_jepa.training.step_checks import StepGuard
from keras_jepa.training.tensor_checks import is_concrete
