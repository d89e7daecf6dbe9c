"""keras_jepa.masking: mask generators with static shapes (numpy, usable in tf.data).

``MultiBlockMaskGenerator`` draws I-JEPA's context and target blocks;
``RandomMaskGenerator`` draws MAE's random visible/masked split. The I-JEPA paper's
masking ablations, in the same contract as multi-block: ``RasterizedMaskGenerator``
(one quadrant predicts the other three), ``BlockMaskGenerator`` (one large target
block, context its complement) and ``RandomTargetMaskGenerator`` (random target
patches). All are seeded, offer a stateless ``sample(batch_size, seed)`` for
pipelines, and serialize with ``get_config``. ``keras_jepa.data.attach_masks`` adds
them to a tf.data pipeline.
"""

from keras_jepa.masking.base import MaskGenerator
from keras_jepa.masking.block import BlockMaskGenerator
from keras_jepa.masking.multi_block import MultiBlockMaskGenerator
from keras_jepa.masking.random_mask import RandomMaskGenerator
from keras_jepa.masking.random_target import RandomTargetMaskGenerator
from keras_jepa.masking.rasterized import RasterizedMaskGenerator

__all__ = [
    "BlockMaskGenerator",
    "MaskGenerator",
    "MultiBlockMaskGenerator",
    "RandomMaskGenerator",
    "RandomTargetMaskGenerator",
    "RasterizedMaskGenerator",
]
