"""ViT sizes: the reference's widths, depths and heads, plus a CPU-sized `micro`."""

VIT_PRESETS = {
    # CPU-sized: trains on the 8×8 digits (upsampled to 16 px, patch 2) in minutes.
    "micro": {"hidden_dim": 64, "depth": 4, "num_heads": 4, "mlp_ratio": 4.0},
    "tiny": {"hidden_dim": 192, "depth": 12, "num_heads": 3, "mlp_ratio": 4.0},
    "small": {"hidden_dim": 384, "depth": 12, "num_heads": 6, "mlp_ratio": 4.0},
    "base": {"hidden_dim": 768, "depth": 12, "num_heads": 12, "mlp_ratio": 4.0},
    "large": {"hidden_dim": 1024, "depth": 24, "num_heads": 16, "mlp_ratio": 4.0},
    "huge": {"hidden_dim": 1280, "depth": 32, "num_heads": 16, "mlp_ratio": 4.0},
    "giant": {"hidden_dim": 1408, "depth": 40, "num_heads": 16, "mlp_ratio": 48 / 11},
}
