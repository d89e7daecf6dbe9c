"""keras_jepa.layers."""
