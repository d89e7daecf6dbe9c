"""Building blocks in keras.ops only: patches, positions, transformer block, gather."""

from keras_jepa.layers.patch_embedding import PatchEmbedding
from keras_jepa.layers.position_embedding import SinCosPositionEmbedding
from keras_jepa.layers.position_embedding import sincos_position_embedding_2d
from keras_jepa.layers.token_gather import gather_tokens
from keras_jepa.layers.transformer_block import TransformerBlock
