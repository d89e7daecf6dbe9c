"""tf.data input pipelines: sources, augmentation, mask attachment and batching.

TensorFlow is imported here (tf.data is the pipeline on every backend). A source
(``from_arrays``, ``from_image_folder``, ``from_tfds``, ``from_digits``,
``from_mnist``) says where the
images come from; ``make_pretraining_dataset`` turns any source into batches of
augmented images with masks, ``make_eval_dataset`` into deterministic batches for
features and probes. With a backend other than TensorFlow, the builders hide the
GPUs/TPUs from TensorFlow first (``hide_accelerators_from_tensorflow``).
"""

from keras_jepa.data.accelerators import hide_accelerators_from_tensorflow
from keras_jepa.data.augmentation import center_crop_resize
from keras_jepa.data.augmentation import random_resized_crop
from keras_jepa.data.augmentation import sample_crop_box
from keras_jepa.data.digits import digits_dataset
from keras_jepa.data.digits import from_digits
from keras_jepa.data.digits import load_digits
from keras_jepa.data.downstream_datasets import DOWNSTREAM_TASKS
from keras_jepa.data.downstream_datasets import DownstreamTask
from keras_jepa.data.downstream_datasets import downstream_source
from keras_jepa.data.downstream_datasets import get_downstream_task
from keras_jepa.data.feature_pipeline import make_feature_dataset
from keras_jepa.data.image_folder import IMAGE_EXTENSIONS
from keras_jepa.data.image_folder import from_image_folder
from keras_jepa.data.mask_attachment import attach_masks
from keras_jepa.data.mnist import MNIST_MEAN
from keras_jepa.data.mnist import MNIST_STD
from keras_jepa.data.mnist import from_mnist
from keras_jepa.data.mnist import load_mnist
from keras_jepa.data.pipeline import IMAGENET_MEAN
from keras_jepa.data.pipeline import IMAGENET_STD
from keras_jepa.data.pipeline import make_eval_dataset
from keras_jepa.data.pipeline import make_pretraining_dataset
from keras_jepa.data.resumable_epochs import backup_epoch
from keras_jepa.data.resumable_epochs import epoch_datasets
from keras_jepa.data.resumable_epochs import epoch_seed
from keras_jepa.data.sources import ImageSource
from keras_jepa.data.sources import from_arrays
from keras_jepa.data.synthetic import synthetic_arrays
from keras_jepa.data.tfds_source import from_tfds
