# PyTorch's side of the whole-model comparison (bench/pytorch.ts drives it):
# a re-statement of the reference CornerNet with MMDetection v2 semantics and
# key names (HourglassNet + CornerHead, mmcv's cummax corner pooling, Gaussian
# focal + associative embedding + smooth-L1 offset losses, the reference's
# target drawing), timed the way bench/model.ts and bench/train.ts time the
# engine. One measurement per process, so that its peak RSS is its own.
# Prints one JSON object.
#
# Usage: python3 pytorch_cornernet.py KIND THREADS CONFIG_JSON SIZE BATCH WARMUP REPS
#   KIND   eval    forward in eval mode without autograd (Model.forward)
#          fwdbwd  forward in train mode, targets, losses of every level, backward
#          train   fwdbwd + gradient clipping (35) + Adam (one training step)
#   CONFIG_JSON  the engine's model config (lib/configs ModelConfig, camelCase)
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvModule(nn.Module):
    """mmcv ConvModule: conv (bias only without norm) -> BN -> ReLU; keys conv.*, bn.*."""

    def __init__(self, cin, cout, k, stride=1, norm=True, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=not norm)
        self.bn = nn.BatchNorm2d(cout) if norm else None
        self.act = act

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x, inplace=True) if self.act else x


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity, inplace=True)


def res_layer(cin, cout, n, stride=1, downsample_first=True):
    if downsample_first:
        blocks = [BasicBlock(cin, cout, stride)] + [BasicBlock(cout, cout) for _ in range(n - 1)]
    else:
        blocks = [BasicBlock(cin, cin) for _ in range(n - 1)] + [BasicBlock(cin, cout, stride)]
    return nn.Sequential(*blocks)


class HourglassModule(nn.Module):
    def __init__(self, depth, channels, blocks):
        super().__init__()
        cur, nxt = channels[0], channels[1]
        self.up1 = res_layer(cur, cur, blocks[0])
        self.low1 = res_layer(cur, nxt, blocks[0], stride=2)
        self.low2 = HourglassModule(depth - 1, channels[1:], blocks[1:]) if depth > 1 else res_layer(nxt, nxt, blocks[1])
        self.low3 = res_layer(nxt, cur, blocks[0], downsample_first=False)

    def forward(self, x):
        up1 = self.up1(x)
        low3 = self.low3(self.low2(self.low1(x)))
        return up1 + F.interpolate(low3, size=up1.shape[2:], mode="nearest")


class HourglassNet(nn.Module):
    def __init__(self, c):
        super().__init__()
        ch, blocks, stacks = c["stageChannels"], c["stageBlocks"], c["numStacks"]
        cur, feat = ch[0], c["featChannel"]
        self.num_stacks = stacks
        self.stem = nn.Sequential(ConvModule(3, cur // 2, 7, stride=2), res_layer(cur // 2, cur, 1, stride=2))
        self.hourglass_modules = nn.ModuleList(
            [HourglassModule(c["downsampleTimes"], ch, blocks) for _ in range(stacks)])
        self.inters = res_layer(cur, cur, stacks - 1) if stacks > 1 else nn.Sequential(BasicBlock(cur, cur))
        self.conv1x1s = nn.ModuleList([ConvModule(cur, cur, 1, act=False) for _ in range(stacks - 1)])
        self.out_convs = nn.ModuleList([ConvModule(cur, feat, 3) for _ in range(stacks)])
        self.remap_convs = nn.ModuleList([ConvModule(feat, cur, 1, act=False) for _ in range(stacks - 1)])

    def forward(self, x):
        inter = self.stem(x)
        outs = []
        for i in range(self.num_stacks):
            out = self.out_convs[i](self.hourglass_modules[i](inter))
            outs.append(out)
            if i < self.num_stacks - 1:
                inter = self.inters[i](F.relu(self.conv1x1s[i](inter) + self.remap_convs[i](out), inplace=True))
        return outs


def corner_pool(x, mode):
    """mmcv CornerPool for torch >= 1.5: cummax along the scan, flipped for top/left."""
    dim = 2 if mode in ("top", "bottom") else 3
    if mode in ("top", "left"):
        return torch.cummax(x.flip(dim), dim)[0].flip(dim)
    return torch.cummax(x, dim)[0]


class BiCornerPool(nn.Module):
    def __init__(self, cin, directions, feat, out):
        super().__init__()
        self.directions = directions
        self.direction1_conv = ConvModule(cin, feat, 3)
        self.direction2_conv = ConvModule(cin, feat, 3)
        self.aftpool_conv = ConvModule(feat, out, 3, act=False)
        self.conv1 = ConvModule(cin, out, 1, act=False)
        self.conv2 = ConvModule(cin, out, 3)

    def forward(self, x):
        p1 = corner_pool(self.direction1_conv(x), self.directions[0])
        p2 = corner_pool(self.direction2_conv(x), self.directions[1])
        return self.conv2(F.relu(self.aftpool_conv(p1 + p2) + self.conv1(x), inplace=True))


def branch(cin, feat, out):
    return nn.Sequential(ConvModule(cin, feat, 3, norm=False), ConvModule(feat, out, 1, norm=False, act=False))


class CornerHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        cin, levels = c["featChannel"], c["numStacks"]
        pool, head, classes, emb = c["poolFeatChannels"], c["headFeatChannels"], c["numClasses"], c["cornerEmbChannels"]
        self.tl_pool = nn.ModuleList([BiCornerPool(cin, ("top", "left"), pool, cin) for _ in range(levels)])
        self.br_pool = nn.ModuleList([BiCornerPool(cin, ("bottom", "right"), pool, cin) for _ in range(levels)])
        for corner in ("tl", "br"):
            setattr(self, f"{corner}_heat", nn.ModuleList([branch(cin, head, classes) for _ in range(levels)]))
            setattr(self, f"{corner}_emb", nn.ModuleList([branch(cin, head, emb) for _ in range(levels)]))
            setattr(self, f"{corner}_off", nn.ModuleList([branch(cin, head, 2) for _ in range(levels)]))
        for heat in list(self.tl_heat) + list(self.br_heat):
            nn.init.constant_(heat[1].conv.bias, -2.1972)  # -log((1 - 0.1) / 0.1)

    def forward(self, feats):
        outs = []
        for lvl, x in enumerate(feats):
            tl, br = self.tl_pool[lvl](x), self.br_pool[lvl](x)
            outs.append({
                "tl_heat": self.tl_heat[lvl](tl), "br_heat": self.br_heat[lvl](br),
                "tl_emb": self.tl_emb[lvl](tl), "br_emb": self.br_emb[lvl](br),
                "tl_off": self.tl_off[lvl](tl), "br_off": self.br_off[lvl](br),
            })
        return outs


class CornerNet(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.backbone = HourglassNet(c)
        self.bbox_head = CornerHead(c)

    def forward(self, x):
        return self.bbox_head(self.backbone(x))


# ---- targets and losses (mmdet CornerHead.get_targets / loss_single) -------------

def gaussian_radius(h, w, min_overlap=0.3):
    b1, c1 = h + w, w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 - math.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - min_overlap) * w * h
    r2 = (b2 - math.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (h + w), (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def draw_gaussian(heat, cx, cy, r):
    d = 2 * r + 1
    sigma = d / 6
    ax = torch.arange(-r, r + 1, dtype=torch.float32)
    g = torch.exp(-(ax[None, :] ** 2 + ax[:, None] ** 2) / (2 * sigma * sigma))
    g[g < torch.finfo(torch.float32).eps * g.max()] = 0
    H, W = heat.shape
    l, rt = min(cx, r), min(W - cx, r + 1)
    t, b = min(cy, r), min(H - cy, r + 1)
    region = heat[cy - t:cy + b, cx - l:cx + rt]
    torch.max(region, g[r - t:r + b, r - l:r + rt], out=region)


def corner_targets(boxes, labels, num_classes, feat_hw, pad_hw):
    n = len(boxes)
    H, W = feat_hw
    rw, rh = W / pad_hw[1], H / pad_hw[0]
    t = {k: torch.zeros(n, num_classes, H, W) for k in ("tl_heat", "br_heat")}
    t.update({k: torch.zeros(n, 2, H, W) for k in ("tl_off", "br_off")})
    matches = []
    for i in range(n):
        m = []
        for (x1, y1, x2, y2), lab in zip(boxes[i], labels[i]):
            sx1, sy1, sx2, sy2 = x1 * rw, y1 * rh, x2 * rw, y2 * rh
            tx, ty = int(min(sx1, W - 1)), int(min(sy1, H - 1))
            bx, by = int(min(sx2, W - 1)), int(min(sy2, H - 1))
            r = max(0, int(gaussian_radius(math.ceil(sy2 - sy1), math.ceil(sx2 - sx1))))
            draw_gaussian(t["tl_heat"][i, lab], tx, ty, r)
            draw_gaussian(t["br_heat"][i, lab], bx, by, r)
            t["tl_off"][i, 0, ty, tx], t["tl_off"][i, 1, ty, tx] = sx1 - tx, sy1 - ty
            t["br_off"][i, 0, by, bx], t["br_off"][i, 1, by, bx] = sx2 - bx, sy2 - by
            m.append(((ty, tx), (by, bx)))
        matches.append(m)
    return t, matches


EPS = 1.1920929e-07  # mmdet's avg_factor epsilon


def gaussian_focal(logits, gt, alpha=2.0, gamma=4.0):
    p = logits.sigmoid()
    pos = gt.eq(1)
    pos_loss = -(p + 1e-12).log() * (1 - p).pow(alpha) * pos
    neg_loss = -(1 - p + 1e-12).log() * p.pow(alpha) * (1 - gt).pow(gamma)
    return (pos_loss + neg_loss).sum() / (max(1, int(pos.sum())) + EPS)


def ae_loss(tl_emb, br_emb, matches):
    pull, push = tl_emb.new_zeros(()), tl_emb.new_zeros(())
    for i, m in enumerate(matches):
        if not m:
            continue
        tl = torch.stack([tl_emb[i, 0, ty, tx] for (ty, tx), _ in m])
        br = torch.stack([br_emb[i, 0, by, bx] for _, (by, bx) in m])
        mean = (tl + br) / 2
        pull = pull + ((tl - mean) ** 2 + (br - mean) ** 2).sum() / len(m)
        if len(m) > 1:
            diff = (mean[:, None] - mean[None, :]).abs()
            margin = F.relu(1 - diff) * (1 - torch.eye(len(m)))
            push = push + margin.sum() / (len(m) * (len(m) - 1))
    return 0.1 * pull, 0.1 * push


def offset_loss(off, gt_off, gt_heat):
    mask = gt_heat.eq(1).any(1, keepdim=True).float()
    return (F.smooth_l1_loss(off, gt_off, reduction="none", beta=1.0) * mask).sum() / (mask.sum() + EPS)


def total_loss(outs, t, matches):
    loss = 0
    for o in outs:
        det = (gaussian_focal(o["tl_heat"], t["tl_heat"]) + gaussian_focal(o["br_heat"], t["br_heat"])) / 2
        off = (offset_loss(o["tl_off"], t["tl_off"], t["tl_heat"]) + offset_loss(o["br_off"], t["br_off"], t["br_heat"])) / 2
        pull, push = ae_loss(o["tl_emb"], o["br_emb"], matches)
        loss = loss + det + off + pull + push
    return loss


def synthetic_batch(gen, n, size, num_classes, boxes_per_image):
    """Random boxes of 1/8 to 1/2 of the side, as bench/trainer_steps.ts syntheticBatch draws them."""
    images = torch.rand(n, 3, size, size, generator=gen) - 0.5
    boxes, labels = [], []
    for _ in range(n):
        b, lab = [], []
        for _ in range(boxes_per_image):
            w, h = (size * (0.125 + 0.375 * v) for v in torch.rand(2, generator=gen).tolist())
            x, y = ((size - d) * v for d, v in zip((w, h), torch.rand(2, generator=gen).tolist()))
            b.append((x, y, x + w, y + h))
            lab.append(int(torch.randint(num_classes, (1,), generator=gen)))
        boxes.append(b)
        labels.append(lab)
    return images, boxes, labels


def main():
    kind, threads, cfg_json, size, batch, warmup, reps = sys.argv[1:8]
    threads, size, batch, warmup, reps = int(threads), int(size), int(batch), int(warmup), int(reps)
    cfg = json.loads(cfg_json)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = CornerNet(cfg)
    gen = torch.Generator().manual_seed(7)
    # The engine's batches: 2 boxes per image for hourglass104, 3 for the small models' steps.
    per_image = 2 if kind in ("eval", "fwdbwd") else 3
    batches = [synthetic_batch(gen, batch, size, cfg["numClasses"], per_image) for _ in range(2)]
    opt = torch.optim.Adam(model.parameters(), lr=5e-4) if kind == "train" else None

    def step(i):
        images, boxes, labels = batches[i % len(batches)]
        if kind == "eval":
            model.eval()
            with torch.no_grad():
                model(images)
            return
        model.train()
        outs = model(images)
        feat = outs[0]["tl_heat"].shape[2:]
        t, matches = corner_targets(boxes, labels, cfg["numClasses"], feat, (size, size))
        loss = total_loss(outs, t, matches)
        if opt is not None:
            opt.zero_grad(set_to_none=True)
        else:
            model.zero_grad(set_to_none=True)
        loss.backward()
        if opt is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 35)
            opt.step()

    for i in range(warmup):
        step(i)
    seconds, cpu, faults = [], 0.0, 0
    for i in range(reps):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        c0, t0 = time.process_time(), time.perf_counter()
        step(warmup + i)
        seconds.append(time.perf_counter() - t0)
        cpu += time.process_time() - c0
        faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    print(json.dumps({
        "torch": torch.__version__,
        "kind": kind,
        "threads": torch.get_num_threads(),
        "seconds": seconds,
        "cpuSeconds": cpu / reps,
        "minorFaultsPerCall": faults / reps,
        "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "parameters": sum(p.numel() for p in model.parameters()),
    }))


if __name__ == "__main__":
    main()
