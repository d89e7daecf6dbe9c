"""Which features of MNIST tokens are most predictable, and what the theory says follows.

Command:   python recipes/mnist_feature_influence.py          (CPU, ~10 s, no training)
Output:    recipes/outputs/mnist_study/feature_influence.md (+ .json)

The deep linear theory (`keras_jepa.theory`, docs/theory.md) orders features by the
critical time `t*(λ, ρ)`: JEPA learns features with a large regression coefficient ρ
first and suppresses low-ρ ones (fixed point ρ^L); every time scales as 1/λ. This script
measures λ and ρ for the features an I-JEPA token carries on the MNIST-5k main job
(28 px, patch 4, 7×7 grid) and puts them through `critical_time`:

- position: the fixed sin-cos code of the target position. The predictor is given the
  target's position, so this feature is perfectly predictable: ρ = 1. Its λ is the
  variance of the code's entries (0.5).
- local content: principal components of the 4×4 pixel patches, minus each position's
  mean (the predictor knows the position, so only the rest is content). ρ_k is the
  regression coefficient of component k at a patch on the same component at the
  neighbouring patch of the same image (what a context token says about the adjacent
  target token).
- global content: the same components averaged over the patches of a random
  multi-block context and over a target block of the same image (what the context as a
  whole says about a target block's average).

In token space a content feature's variance is its pixel variance times the squared
patch-embedding weight (std `init_std` = 0.02), while the position code is added at
unit scale; that ratio is λ_content / λ_position below.
"""

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from keras_jepa import theory  # noqa: E402
from keras_jepa.data.mnist import load_mnist  # noqa: E402
from keras_jepa.masking import MultiBlockMaskGenerator  # noqa: E402
from keras_jepa.runner.report import markdown_table  # noqa: E402

PATCH, GRID, INIT_STD, DEPTH, EPS = 4, 7, 0.02, 4, 1e-3


def patches(images):
    """`[N, 49, 16]` flattened 4×4 patches in row-major grid order."""
    n = len(images)
    x = images.reshape(n, GRID, PATCH, GRID, PATCH).transpose(0, 1, 3, 2, 4)
    return x.reshape(n, GRID * GRID, PATCH * PATCH).astype("float64")


def influence(x, y):
    """Per-feature (λ, ρ) of paired views `[N, K]`: λ = E[x y], ρ = λ / E[x²] (centred)."""
    x, y = x - x.mean(0), y - y.mean(0)
    lam = (x * y).mean(0)
    return lam, lam / (x * x).mean(0)


def main():
    images, _ = load_mnist("train")
    tokens = patches(images)  # [N, 49, 16]
    flat = tokens.reshape(-1, PATCH * PATCH)
    mean = flat.mean(0)
    _, _, components = np.linalg.svd(flat - mean, full_matrices=False)
    scores = (tokens - mean) @ components[:6].T  # [N, 49, 6]: top-6 patch components
    # The predictor is told every position, so content features are measured given the
    # position: each position's own mean is removed (else "centre patches are inky"
    # reads as content predictability).
    scores = scores - scores.mean(0, keepdims=True)

    # Local: a patch and its right-hand neighbour (both inside the grid).
    rows = np.arange(GRID * GRID).reshape(GRID, GRID)
    left, right = rows[:, :-1].ravel(), rows[:, 1:].ravel()
    local_lam, local_rho = influence(scores[:, left].reshape(-1, 6),
                                     scores[:, right].reshape(-1, 6))

    # Global: the context's average vs a target block's average, under I-JEPA's masks.
    generator = MultiBlockMaskGenerator(grid_size=GRID, seed=0)
    masks = generator(len(images))
    context = np.take_along_axis(scores, masks["context_indices"][..., None], 1).mean(1)
    block = masks["target_indices"][:, 0]
    weights = masks["target_weights"][:, 0][..., None]
    target = (np.take_along_axis(scores, block[..., None], 1) * weights).sum(1) / weights.sum(1)
    global_lam, global_rho = influence(context, target)

    position_lam = 0.5  # variance of a sin/cos entry over the grid
    token_scale = INIT_STD**2  # pixel variance → token variance through the patch kernel
    rows_out = [{"feature": "position (sin-cos code)", "lam_token": position_lam, "rho": 1.0}]
    for k in range(6):
        rows_out.append({"feature": f"local patch component {k + 1}",
                         "lam_token": float(local_lam[k] * token_scale),
                         "rho": float(local_rho[k])})
    for k in range(3):
        rows_out.append({"feature": f"global (context vs block mean) component {k + 1}",
                         "lam_token": float(global_lam[k] * token_scale),
                         "rho": float(global_rho[k])})
    for row in rows_out:
        # A feature with λ ≤ 0 (anti-correlated between the views) is never learned; one
        # with ρ ≤ ε^(1/L) starts above its JEPA asymptote and only shrinks.
        rho = min(row["rho"], 0.999999)
        learnable = row["lam_token"] > 0 and rho > 0
        row["t_star_jepa"] = (float(theory.critical_time("jepa", row["lam_token"], rho, DEPTH,
                                                         EPS))
                              if learnable and EPS ** (1 / DEPTH) < rho else None)
        row["t_star_mae"] = (float(theory.critical_time("mae", row["lam_token"], rho, DEPTH,
                                                        EPS)) if learnable else None)
        row["jepa_fixed_point"] = max(rho, 0.0) ** DEPTH
    reference = rows_out[0]["t_star_jepa"]
    lines = [
        f"Measured on MNIST-5k train (4,000 images), 4×4 patches, 7×7 grid; token λ = pixel "
        f"λ × {INIT_STD}² (patch kernel init); theory depth L = {DEPTH}, ε = {EPS}.",
        "",
    ]
    cells = []
    for row in rows_out:
        t = row["t_star_jepa"]
        cells.append([
            row["feature"], f"{row['lam_token']:.2e}", f"{row['rho']:.3f}",
            "—" if t is None else f"{t:.3g}",
            "—" if t is None else f"{t / reference:.3g}",
            "—" if row["t_star_mae"] is None else format(row["t_star_mae"], ".3g"),
            f"{row['jepa_fixed_point']:.3f}"])
    lines.append(markdown_table(["feature", "λ (token space)", "ρ", "JEPA t*", "× position's",
                                 "MAE t*", "JEPA fixed point ρ^L"], cells))
    out = os.path.join(HERE, "outputs", "mnist_study")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "feature_influence.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "feature_influence.json"), "w") as f:
        json.dump(rows_out, f, indent=2)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
