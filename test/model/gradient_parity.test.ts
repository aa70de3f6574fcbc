// End to end against the reference's gradients: the parity model in train mode
// on input.npy, the engine's CornerNet losses (case 'single'), backward, and
// every parameter's gradient compared with grads_single.safetensors.
//
// One near-tie makes part of the comparison implementation-dependent: in
// bbox_head.br_pool.0 the 'right' pool's input channel 3, row 10, holds
// 1.008514 at column 10 and 1.008507 at column 13. The two values differ by
// 7e-6, inside the forward's float32 agreement with the reference, so which one
// is the running maximum for columns 13-15 (and receives their gradient) can
// differ between implementations. That changes the gradient of that conv's
// channel 3 and, through the level-0 feature, of everything upstream of it
// (stack 0 and the stem) by up to a few percent; every other parameter has to
// match closely. (The engine's own CPU kernels and a naive double-precision
// re-statement agree on that routing.)
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import { loadSafetensors } from '../../lib/io/safetensors';
import { Model, type HeadOutputs } from '../../lib/model';
import { cornerHeadLosses, cornerTargets } from '../../lib/ops';
import { readNpy } from '../helpers/npy';
import { parityDir } from '../helpers/parity_dir';
import { parityCheckpoint } from './parity_checkpoint';

interface LossCase {
  name: string;
  gt_bboxes: number[][][];
  gt_labels: number[][];
  losses: Record<'det_loss' | 'off_loss' | 'pull_loss' | 'push_loss', number[]>;
  total_grad_norm: number;
  params_without_grad: string[];
}

const nearTieUpstream = (name: string) =>
  name.startsWith('bbox_head.br_pool.0.direction2_conv.') ||
  name.startsWith('backbone.out_convs.0.') ||
  name.startsWith('backbone.hourglass_modules.0.') ||
  name.startsWith('backbone.stem.');

async function runCase(c: LossCase) {
  const { config, stateDict } = await parityCheckpoint();
  const m = new Model(config);
  m.loadStateDict(stateDict);
  const out = await m.forward(readNpy(path.join(parityDir, 'input.npy')), { train: true });
  const t = cornerTargets({
    images: c.gt_bboxes.map((boxes, i) => ({ boxes, labels: c.gt_labels[i]! })),
    numClasses: config.numClasses,
    featureSize: [16, 16],
    padSize: [64, 64],
  });
  const losses = out.map((o) =>
    cornerHeadLosses({ ...o, tlHeatmap: t.tlHeatmap, brHeatmap: t.brHeatmap, tlOffset: t.tlOffset, brOffset: t.brOffset, match: t.match })
  );
  const grads: Partial<HeadOutputs>[] = losses.map((r) => ({
    tlHeat: r.gradTlHeat,
    brHeat: r.gradBrHeat,
    tlEmb: r.gradTlEmb,
    tlOff: r.gradTlOff,
    brOff: r.gradBrOff,
    // The reference leaves br_emb without a gradient when no image has a box.
    ...(r.brEmbHasGrad ? { brEmb: r.gradBrEmb } : {}),
  }));
  await m.backward(grads);
  return { losses, gradients: m.gradients() };
}

describe('model gradients against the reference (model-parity fixture)', () => {
  const cases = (JSON.parse(fs.readFileSync(path.join(parityDir, 'losses.json'), 'utf8')) as { cases: LossCase[] }).cases;

  it("case 'single': the losses, every parameter's gradient, and the total gradient norm", async () => {
    const c = cases.find((k) => k.name === 'single')!;
    const { losses, gradients } = await runCase(c);
    losses.forEach((r, l) => {
      const got = [r.det, r.off, r.pull, r.push];
      const want = [c.losses.det_loss[l]!, c.losses.off_loss[l]!, c.losses.pull_loss[l]!, c.losses.push_loss[l]!];
      got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= 1e-4 * Math.abs(want[i]!), `level ${l} loss ${i}: ${v} vs ${want[i]}`));
    });
    const ref = loadSafetensors(path.join(parityDir, 'grads_single.safetensors')).tensors;
    assert.strictEqual(Object.keys(gradients).length, ref.size);
    let total = 0;
    const failures: string[] = [];
    for (const [name, r] of ref) {
      const g = gradients[name];
      assert.ok(g, `no gradient for ${name}`);
      assert.deepStrictEqual(g.shape, r.shape, name);
      const want = r.data as Float32Array;
      let diff = 0, norm = 0, own = 0;
      for (let i = 0; i < want.length; i++) {
        diff += (g.data[i]! - want[i]!) ** 2;
        norm += want[i]! ** 2;
        own += g.data[i]! ** 2;
      }
      total += own;
      const rel = Math.sqrt(diff / norm);
      const tol = nearTieUpstream(name) ? 5e-2 : 1e-4;
      if (!(rel <= tol)) failures.push(`${name}: relative L2 difference ${rel.toExponential(2)} > ${tol}`);
    }
    assert.deepStrictEqual(failures, []);
    // Dominated by the stem's gradient, which the near-tie moves by ~0.3%.
    assert.ok(Math.abs(Math.sqrt(total) / c.total_grad_norm - 1) < 1e-2, `total gradient norm ${Math.sqrt(total)} vs ${c.total_grad_norm}`);
  });

  it("case 'empty': no box, so br_emb gets no gradient, exactly the parameters the reference lists", async () => {
    const c = cases.find((k) => k.name === 'empty')!;
    const { gradients } = await runCase(c);
    const { config } = await parityCheckpoint();
    const all = new Model(config).keys().filter((k) => k.kind === 'parameter').map((k) => k.name);
    assert.deepStrictEqual(all.filter((n) => !(n in gradients)).sort(), [...c.params_without_grad].sort());
    assert.ok(c.params_without_grad.length > 0);
  });
});
