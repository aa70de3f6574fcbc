// An independent statement of MMDetection's CornerNet state_dict (names and
// shapes, in module-registration order), written from the reference's module
// definitions: HourglassNet (stem, hourglass_modules, inters, conv1x1s,
// out_convs, remap_convs), ResLayer/BasicBlock, ConvModule, CornerHead and
// BiCornerPool. The tests hold the engine's model against it.
import type { ModelConfig } from '../../lib/configs';

export type Key = [name: string, shape: number[]];

export function referenceKeys(c: ModelConfig): Key[] {
  const out: Key[] = [];
  const bn = (p: string, ch: number) => {
    for (const s of ['weight', 'bias', 'running_mean', 'running_var']) out.push([`${p}.${s}`, [ch]]);
    out.push([`${p}.num_batches_tracked`, []]);
  };
  // mmcv ConvModule: bias only when there is no norm layer.
  const convModule = (p: string, cin: number, cout: number, k: number, norm = true) => {
    out.push([`${p}.conv.weight`, [cout, cin, k, k]]);
    if (norm) bn(`${p}.bn`, cout);
    else out.push([`${p}.conv.bias`, [cout]]);
  };
  const basicBlock = (p: string, cin: number, cout: number, stride: number) => {
    out.push([`${p}.conv1.weight`, [cout, cin, 3, 3]]);
    bn(`${p}.bn1`, cout);
    out.push([`${p}.conv2.weight`, [cout, cout, 3, 3]]);
    bn(`${p}.bn2`, cout);
    if (stride !== 1 || cin !== cout) {
      out.push([`${p}.downsample.0.weight`, [cout, cin, 1, 1]]);
      bn(`${p}.downsample.1`, cout);
    }
  };
  const resLayer = (p: string, cin: number, cout: number, n: number, stride: number, downsampleFirst = true) => {
    if (downsampleFirst) {
      basicBlock(`${p}.0`, cin, cout, stride); // built even for n = 0, as the reference does
      for (let i = 1; i < n; i++) basicBlock(`${p}.${i}`, cout, cout, 1);
    } else {
      for (let i = 0; i < n - 1; i++) basicBlock(`${p}.${i}`, cin, cin, 1);
      basicBlock(`${p}.${n - 1}`, cin, cout, stride);
    }
  };
  const hourglass = (p: string, depth: number, ch: number[], blocks: number[]) => {
    const [cur, nxt] = [ch[0]!, ch[1]!];
    resLayer(`${p}up1`, cur, cur, blocks[0]!, 1);
    resLayer(`${p}low1`, cur, nxt, blocks[0]!, 2);
    if (depth > 1) hourglass(`${p}low2.`, depth - 1, ch.slice(1), blocks.slice(1));
    else resLayer(`${p}low2`, nxt, nxt, blocks[1]!, 1);
    resLayer(`${p}low3`, nxt, cur, blocks[0]!, 1, false);
  };
  const cur = c.stageChannels[0]!;
  convModule('backbone.stem.0', 3, cur / 2, 7);
  resLayer('backbone.stem.1', cur / 2, cur, 1, 2);
  for (let s = 0; s < c.numStacks; s++)
    hourglass(`backbone.hourglass_modules.${s}.`, c.downsampleTimes, c.stageChannels, c.stageBlocks);
  resLayer('backbone.inters', cur, cur, c.numStacks - 1, 1);
  for (let s = 0; s < c.numStacks - 1; s++) convModule(`backbone.conv1x1s.${s}`, cur, cur, 1);
  for (let s = 0; s < c.numStacks; s++) convModule(`backbone.out_convs.${s}`, cur, c.featChannel, 3);
  for (let s = 0; s < c.numStacks - 1; s++) convModule(`backbone.remap_convs.${s}`, c.featChannel, cur, 1);

  const f = c.featChannel;
  const pool = (p: string) => {
    convModule(`${p}.direction1_conv`, f, c.poolFeatChannels, 3);
    convModule(`${p}.direction2_conv`, f, c.poolFeatChannels, 3);
    convModule(`${p}.aftpool_conv`, c.poolFeatChannels, f, 3);
    convModule(`${p}.conv1`, f, f, 1);
    convModule(`${p}.conv2`, f, f, 3);
  };
  const branch = (p: string, outCh: number) => {
    convModule(`${p}.0`, f, c.headFeatChannels, 3, false);
    convModule(`${p}.1`, c.headFeatChannels, outCh, 1, false);
  };
  const levels = [...Array(c.numStacks).keys()];
  for (const l of levels) pool(`bbox_head.tl_pool.${l}`);
  for (const l of levels) pool(`bbox_head.br_pool.${l}`);
  for (const [name, ch] of [
    ['tl_heat', c.numClasses],
    ['br_heat', c.numClasses],
    ['tl_off', 2],
    ['br_off', 2],
    ['tl_emb', c.cornerEmbChannels],
    ['br_emb', c.cornerEmbChannels],
  ] as const)
    for (const l of levels) branch(`bbox_head.${name}.${l}`, ch);
  return out;
}
