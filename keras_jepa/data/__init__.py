"""tf.data input pipelines: sources, augmentation and mask attachment.

TensorFlow is imported here (tf.data is the pipeline on every backend).
"""

from keras_jepa.data.digits import digits_dataset
from keras_jepa.data.digits import load_digits
from keras_jepa.data.mask_attachment import attach_masks
