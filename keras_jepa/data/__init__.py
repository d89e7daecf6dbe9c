"""keras_jepa.data."""
