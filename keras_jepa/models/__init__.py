"""Models: the ViT encoder, the JEPA predictor, I-JEPA, the MAE baseline with its decoder,
and an image classifier for probing and fine-tuning."""

from keras_jepa.models.encoder_contract import check_encoder
from keras_jepa.models.ijepa import IJEPA
from keras_jepa.models.image_classifier import ImageClassifier
from keras_jepa.models.jepa_predictor import JEPAPredictor
from keras_jepa.models.mae import MAE
from keras_jepa.models.mae_decoder import MAEDecoder
from keras_jepa.models.mae_decoder import patchify
from keras_jepa.models.mae_decoder import unpatchify
from keras_jepa.models.pretrained import ijepa_from_reference_checkpoint
from keras_jepa.models.pretrained import vit_encoder_from_hf_ijepa
from keras_jepa.models.pretrained import vit_encoder_from_reference_state_dict
from keras_jepa.models.vit_encoder import ViTEncoder
from keras_jepa.models.vit_presets import VIT_PRESETS
