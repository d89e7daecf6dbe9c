"""keras_jepa.models."""
