"""The official I-JEPA train step (facebookresearch/ijepa, PyTorch), timed like ours.

Used by `ijepa_step_time.py` when `IJEPA_SRC` points at an extracted copy of the
official repository (the folder holding `src/`). The official modules build the
networks, the optimizer and its schedules (`src.helper.init_opt`); the loop below
follows the order of operations of the official `train.py` (target features under
`no_grad`, layer norm, the target blocks gathered and repeated per context mask,
context encoder and predictor, smooth-L1 loss, backward, AdamW step, EMA of the
target). The masks are keras_jepa's multi-block masks of the same sizes as ours:
the official sampler does not terminate on an 8×8 grid with its minimum-size rule.
"""

import copy
import os
import sys
import time


def official_source():
    """The `IJEPA_SRC` folder, or None when unset (the caller then skips the row)."""
    src = os.environ.get("IJEPA_SRC")
    if not src:
        return None
    if not os.path.isfile(os.path.join(src, "src", "models", "vision_transformer.py")):
        raise SystemExit(f"IJEPA_SRC={src!r} does not hold src/models/vision_transformer.py")
    return src


def time_official_steps(src, config, batches, threads, repeats, dtype=None):
    """Per-step wall times of the official step over `batches` (numpy dicts), `repeats` times.

    `batches`: list of {"images" [B, H, W, 3], "context_indices" [B, Kc],
    "target_indices" [B, M, Kt]}. Returns (list of intervals in seconds, compile-free
    warm-up seconds of the first step).
    """
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass
    sys.path.insert(0, src)
    from src.helper import init_opt
    from src.masks.utils import apply_masks
    from src.models.vision_transformer import VisionTransformer
    from src.models.vision_transformer import VisionTransformerPredictor
    from src.utils.tensors import repeat_interleave_batch

    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    enc = config["encoder"]
    encoder = VisionTransformer(
        img_size=[enc["image_size"]], patch_size=enc["patch_size"],
        embed_dim=enc["hidden_dim"], depth=enc["depth"], num_heads=enc["num_heads"]).to(device)
    predictor = VisionTransformerPredictor(
        num_patches=encoder.patch_embed.num_patches, embed_dim=enc["hidden_dim"],
        predictor_embed_dim=config["predictor"]["hidden_dim"],
        depth=config["predictor"]["depth"], num_heads=enc["num_heads"]).to(device)
    target_encoder = copy.deepcopy(encoder)
    for p in target_encoder.parameters():
        p.requires_grad = False
    steps = len(batches)
    optimizer, scaler, scheduler, wd_scheduler = init_opt(
        encoder, predictor, iterations_per_epoch=steps, start_lr=2e-4, ref_lr=1e-3,
        warmup=1, num_epochs=1000, wd=0.04, final_wd=0.4, final_lr=1e-6,
        use_bfloat16=dtype == "bfloat16")
    momentum = iter([0.996 + i * 0.004 / (steps * 1000) for i in range(steps * 1000 + 1)])

    def to_torch(batch):
        images = torch.from_numpy(batch["images"]).permute(0, 3, 1, 2).contiguous().to(device)
        context = [torch.from_numpy(batch["context_indices"]).long().to(device)]
        targets = torch.from_numpy(batch["target_indices"]).long().to(device)
        return images, context, [targets[:, m] for m in range(targets.shape[1])]

    data = [to_torch(b) for b in batches]
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bfloat16")

    def step(images, masks_enc, masks_pred):
        scheduler.step()
        wd_scheduler.step()
        with autocast:
            with torch.no_grad():
                h = target_encoder(images)
                h = F.layer_norm(h, (h.size(-1),))
                h = apply_masks(h, masks_pred)
                h = repeat_interleave_batch(h, len(images), repeat=len(masks_enc))
            z = predictor(encoder(images, masks_enc), masks_enc, masks_pred)
            loss = F.smooth_l1_loss(z, h)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        with torch.no_grad():
            m = next(momentum)
            for q, k in zip(encoder.parameters(), target_encoder.parameters()):
                k.data.mul_(m).add_((1.0 - m) * q.detach().data)
        return loss

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    start = time.perf_counter()
    float(step(*data[0]))  # warm-up (allocator, kernels)
    sync()
    first = time.perf_counter() - start
    intervals = []
    for _ in range(repeats):
        last = None
        for batch in data:
            float(step(*batch))  # the loss on the host, as a logging loop reads it
            sync()
            now = time.perf_counter()
            if last is not None:
                intervals.append(now - last)
            last = now
    return intervals, first
