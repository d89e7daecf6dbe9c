"""keras_jepa.evaluation."""
