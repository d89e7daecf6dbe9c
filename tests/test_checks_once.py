"""The masks are checked once per step and per call, at the model's boundary.

`IJEPA.call`, `compute_ssl_loss` and `MAE.predict_patches` check the token indices; the
encoder, the predictor and the decoder they call trust them (they check them only when a
user calls them directly, see tests/test_bad_inputs.py).
"""

import collections

import numpy as np
import pytest
from helpers import random_batch
from helpers import tiny_encoder
from helpers import tiny_ijepa

import keras_jepa.models.ijepa as ijepa_module
import keras_jepa.models.jepa_predictor as predictor_module
import keras_jepa.models.mae as mae_module
import keras_jepa.models.mae_decoder as decoder_module
import keras_jepa.models.vit_encoder as encoder_module
from keras_jepa.models import MAE
from keras_jepa.models import JEPAPredictor


@pytest.fixture
def counts(monkeypatch):
    """Counts `check_token_indices` calls by the indices' name, in every model module."""
    counter = collections.Counter()
    for module in (ijepa_module, predictor_module, mae_module, decoder_module,
                   encoder_module):
        original = module.check_token_indices

        def counted(indices, num_patches, name, rank, _original=original):
            counter[name] += 1
            return _original(indices, num_patches, name, rank)

        monkeypatch.setattr(module, "check_token_indices", counted)
    return counter


def _ijepa_and_batch():
    return tiny_ijepa(), random_batch(np.random.default_rng(0))


def _mae_and_batch():
    model = MAE(tiny_encoder())
    masks = model.sample_masks(2)
    return model, {"images": np.zeros((2, 8, 8, 1), "float32"),
                   **{key: np.asarray(value) for key, value in masks.items()}}


@pytest.mark.parametrize("make, names", [
    (_ijepa_and_batch, ("context_indices", "target_indices")),
    (_mae_and_batch, ("visible_indices", "masked_indices")),
], ids=["ijepa", "mae"])
def test_a_model_checks_its_masks_once_per_step_and_call(make, names, counts):
    model, batch = make()
    model(batch)
    for run in (lambda: model.compute_ssl_loss(batch), lambda: model(batch)):
        counts.clear()
        run()
        assert dict(counts) == dict.fromkeys(names, 1)


def test_a_sub_network_called_directly_still_checks(counts):
    encoder = tiny_encoder()
    predictor = JEPAPredictor.for_encoder(encoder, hidden_dim=8, depth=1, num_heads=2)
    tokens = encoder(np.zeros((1, 8, 8, 1), "float32"), token_indices=np.array([[0, 1]]))
    assert counts["token_indices"] == 1
    with pytest.raises(ValueError, match=r"`target_indices` must lie in \[0, 16\)"):
        predictor(tokens, np.array([[0, 1]]), np.array([[[16]]]))
