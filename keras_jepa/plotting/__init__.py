"""keras_jepa.plotting."""
