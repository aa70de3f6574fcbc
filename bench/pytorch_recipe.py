# PyTorch's side of the recipe comparison (bench/pytorch_recipe.ts drives it):
# the CornerNet re-statement of pytorch_cornernet.py trained on a dataset's
# train split until a wall-clock deadline, with the recipe the issue measured
# PyTorch with (batch 16, Adam lr 4e-3, 200 linear warm-up iterations from 1/3,
# x0.1 at 86 % of the time, RandomCenterCropPad at a 128 crop with the
# reference's ratios, flip; no photometric distortion), or what the options say.
# Writes the state dict (the reference's key names) for the engine to evaluate,
# and prints one JSON object.
#
# Usage: python3 pytorch_recipe.py SPLIT_PREFIX OUT_PTH OPTIONS_JSON
#   SPLIT_PREFIX  SPLIT_PREFIX.bin: the train images, RGB uint8, one after the other;
#                 SPLIT_PREFIX.json: {numClasses, images: [{offset, width, height, boxes, labels}]}
#   OPTIONS_JSON  {deadline (Unix seconds), model (the engine's ModelConfig), batch, lr, warmup,
#                  ratios, stepFraction, seed, threads}
import json
import math
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from pytorch_cornernet import CornerNet, corner_targets, total_loss

MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)
SIZE = 128
BORDER = 128


def crop_border(border, size):
    """RandomCenterCropPad._get_border: the largest border / 2^m with size > 2 * border."""
    k = 2 * border / size
    i = 2 ** (math.ceil(math.log2(math.ceil(k))) + (1 if k == int(k) else 0))
    return border // i


def train_sample(rng, img, boxes, labels, ratios):
    """RandomCenterCropPad (train mode) at a SIZE crop, resize to SIZE, flip (0.5), normalise."""
    h, w = img.shape[:2]
    hb, wb = crop_border(BORDER, h), crop_border(BORDER, w)
    cx_b, cy_b = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2

    def inside(x0, y0, x1, y1):
        return (cx_b > x0) & (cy_b > y0) & (cx_b < x1) & (cy_b < y1)

    chosen = None
    for rnd in range(200):  # the reference retries for ever; the last window is taken after 200 rounds
        ratio = rng.choice(ratios)
        new = int(SIZE * ratio)
        for _ in range(50):
            cx, cy = rng.randrange(wb, w - wb), rng.randrange(hb, h - hb)
            x0, x1 = max(0, cx - new // 2), min(cx + new // 2, w)
            y0, y1 = max(0, cy - new // 2), min(cy + new // 2, h)
            if len(labels) == 0 or inside(x0, y0, x1, y1).any() or rnd == 199:
                chosen = (cx, cy, new, x0, x1, y0, y1)
                break
        if chosen:
            break
    cx, cy, new, x0, x1, y0, y1 = chosen
    half = new // 2
    # The canvas holds the mean (0 once normalised) where no image lands.
    canvas = np.zeros((new, new, 3), dtype=np.float32)
    px, py = half - (cx - x0), half - (cy - y0)
    canvas[py:py + (y1 - y0), px:px + (x1 - x0)] = (img[y0:y1, x0:x1].astype(np.float32) - MEAN) / STD
    t = F.interpolate(torch.from_numpy(canvas).permute(2, 0, 1)[None], size=(SIZE, SIZE), mode="bilinear",
                      align_corners=False)[0]
    flip = rng.random() < 0.5
    if flip:
        t = t.flip(2)
    keep = inside(x0, y0, x1, y1)
    b = np.clip(boxes[keep] + np.array([half - cx, half - cy] * 2, dtype=np.float32), 0, new) * (SIZE / new)
    lab = labels[keep]
    ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    b, lab = b[ok], lab[ok]
    if flip:
        b = np.stack([SIZE - b[:, 2], b[:, 1], SIZE - b[:, 0], b[:, 3]], axis=1)
    return t, [tuple(map(float, r)) for r in b], [int(v) for v in lab]


def main():
    prefix, out, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    torch.set_num_threads(options.get("threads", 2))
    torch.manual_seed(options.get("seed", 0))
    rng = random.Random(options.get("seed", 0))
    batch, lr, warmup = options.get("batch", 16), options.get("lr", 4e-3), options.get("warmup", 200)
    ratios = options.get("ratios", [0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3])
    step_fraction = options.get("stepFraction", 0.86)

    index = json.load(open(prefix + ".json"))
    raw = np.fromfile(prefix + ".bin", dtype=np.uint8)
    images = []
    for im in index["images"]:
        n = im["width"] * im["height"] * 3
        images.append((raw[im["offset"]:im["offset"] + n].reshape(im["height"], im["width"], 3),
                       np.array(im["boxes"], dtype=np.float32).reshape(-1, 4), np.array(im["labels"], dtype=np.int64)))
    cfg = options["model"]
    model = CornerNet(cfg)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    t0 = time.time()
    budget = options["deadline"] - t0  # the training time left once the data is loaded
    it, epochs, images_seen, order, last_loss = 0, 0, 0, [], float("nan")
    while time.time() - t0 < budget:
        if len(order) < batch:  # a new epoch (the last partial batch is dropped)
            order = list(range(len(images)))
            rng.shuffle(order)
            epochs += 1
        idx, order = order[:batch], order[batch:]
        samples = [train_sample(rng, *images[i], ratios) for i in idx]
        x = torch.stack([s[0] for s in samples])
        factor = 0.1 if time.time() - t0 >= step_fraction * budget else 1.0
        if it < warmup:  # mmcv's linear warm-up from 1/3
            factor *= 1 - (1 - 1 / 3) * (1 - it / warmup)
        for g in opt.param_groups:
            g["lr"] = lr * factor
        outs = model(x)
        targets, matches = corner_targets([s[1] for s in samples], [s[2] for s in samples], cfg["numClasses"],
                                          outs[0]["tl_heat"].shape[2:], (SIZE, SIZE))
        loss = total_loss(outs, targets, matches)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 35)
        opt.step()
        it += 1
        images_seen += batch
        last_loss = loss.item()
    seconds = time.time() - t0
    torch.save(model.state_dict(), out)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "iterations": it,
                      "images": images_seen, "epochs": epochs, "trainSeconds": seconds,
                      "imagesPerSecond": images_seen / seconds, "lastLoss": last_loss}))


if __name__ == "__main__":
    main()
