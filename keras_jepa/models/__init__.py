"""Models: the ViT encoder, the JEPA predictor, I-JEPA."""

from keras_jepa.models.ijepa import IJEPA
from keras_jepa.models.jepa_predictor import JEPAPredictor
from keras_jepa.models.vit_encoder import ViTEncoder
from keras_jepa.models.vit_presets import VIT_PRESETS
