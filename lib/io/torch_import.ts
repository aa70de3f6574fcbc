// A PyTorch checkpoint (pth.ts) as weights under the reference's (MMDetection's)
// key names: the state_dict is found (top level, or under `state_dict` /
// `model`), other sections (meta, optimizer, ...) are ignored and named,
// DataParallel's `module.` prefixes are stripped, floating tensors become
// float32 and int64 stays int64 (BN's num_batches_tracked), and keys of the
// original princeton-vl/CornerNet are renamed to the reference's
// (shared/reference/cornernet.md, appendix A).
//
// Original weights were trained on BGR images scaled to [0, 1] and normalised
// with COCO's statistics. The stem convolution's input channels are reversed
// on import, so converted weights take RGB input like every other weights
// here; what stays different is the normalisation, returned as `input` (the
// same statistics in RGB order on 0..255) for the test pipeline to use. One
// difference is not carried over: the original pads test images with black
// before normalising, the reference (and this package) with the mean pixel.
import type { StateDict } from '../model';
import { openTorchFile, TensorRef, type TorchFile, type TorchFormat, type TorchTensor } from './pth';

export type KeyScheme = 'mmdet' | 'original';

/** Per-channel mean and std of the network input, RGB order, on 0..255 pixels. */
export interface InputNormalisation {
  mean: number[];
  std: number[];
  /** Where these statistics come from. */
  source: string;
}

/** princeton-vl/CornerNet (db/coco.py): BGR on [0, 1] -> RGB on 0..255. */
export const ORIGINAL_INPUT: Readonly<InputNormalisation> = Object.freeze({
  mean: [0.47026115, 0.44719302, 0.40789654].map((v) => v * 255),
  std: [0.27809835, 0.27408164, 0.28863828].map((v) => v * 255),
  source: 'princeton-vl/CornerNet (COCO statistics, BGR on [0, 1]; stem input channels reversed to RGB on import)',
});

export interface ImportReport {
  file: string;
  format: TorchFormat;
  scheme: KeyScheme;
  /** How the scheme was chosen: named by --from, or decided from the key names. */
  schemeFrom: 'flag' | 'keys';
  /** Where the state_dict was: '' (the top level), 'state_dict' or 'model'. */
  stateDictPath: string;
  /** Tensors converted, by dtype in the file. */
  converted: Record<string, number>;
  /** Keys renamed to the reference's names (original scheme). */
  mapped: number;
  /** Keys that lost a DataParallel `module.` prefix. */
  prefixStripped: number;
  /** Sections and entries left out, each with why: "optimizer (training state)", "meta (...)". */
  ignored: string[];
  /** Notes on what was changed beyond names (the stem's channel order). */
  notes: string[];
}

export interface ImportedWeights {
  stateDict: StateDict;
  report: ImportReport;
  /** mmdet's meta.CLASSES, when the checkpoint records it. */
  classNames: string[] | null;
  /** The input normalisation the weights expect when it is not the reference's; null: the reference's. */
  input: InputNormalisation | null;
}

const sectionWhy: Record<string, string> = {
  optimizer: 'optimizer state',
  meta: 'metadata',
  epoch: 'training position',
  iter: 'training position',
  iteration: 'training position',
  scheduler: 'scheduler state',
  lr_scheduler: 'scheduler state',
  amp: 'mixed-precision state',
};

function describeValue(v: unknown): string {
  if (v instanceof TensorRef) return 'a tensor';
  if (v instanceof Map) return `a dict of ${v.size}`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  return v === null ? 'None' : typeof v;
}

function isTensorDict(v: unknown): v is Map<unknown, unknown> {
  return v instanceof Map && v.size > 0 && [...v.values()].some((x) => x instanceof TensorRef);
}

/** The state_dict inside a checkpoint's top level, and what else the top level held. */
function findStateDict(file: string, root: unknown): { dict: Map<unknown, unknown>; path: string; ignored: string[] } {
  if (!(root instanceof Map)) throw new Error(`${file}: holds ${describeValue(root)}, not a dict of tensors (a state_dict or a checkpoint with one)`);
  for (const key of ['state_dict', 'model']) {
    const v = root.get(key);
    if (isTensorDict(v)) {
      const ignored = [...root.keys()].filter((k) => k !== key).map((k) => `${String(k)} (${sectionWhy[String(k)] ?? describeValue(root.get(k))})`);
      return { dict: v, path: key, ignored };
    }
  }
  if (isTensorDict(root)) return { dict: root, path: '', ignored: [] };
  throw new Error(`${file}: no tensors found: the top level holds ${[...root.keys()].slice(0, 8).map(String).join(', ') || 'nothing'}, and neither state_dict nor model is a dict of tensors`);
}

/** original -> reference name; null when the key has no counterpart. */
export function originalToReference(key: string): string | null {
  const skip = (p: string) => p.replace(/(^|\.)skip\./g, '$1downsample.');
  let m: RegExpMatchArray | null;
  if ((m = key.match(/^pre\.0\.(conv|bn)\.(.+)$/))) return `backbone.stem.0.${m[1]}.${m[2]}`;
  if ((m = key.match(/^pre\.1\.(.+)$/))) return `backbone.stem.1.0.${skip(m[1]!)}`;
  if ((m = key.match(/^kps\.(\d+)\.(.+)$/))) return `backbone.hourglass_modules.${m[1]}.${skip(m[2]!)}`;
  if ((m = key.match(/^cnvs\.(\d+)\.(conv|bn)\.(.+)$/))) return `backbone.out_convs.${m[1]}.${m[2]}.${m[3]}`;
  if ((m = key.match(/^inters_\.(\d+)\.([01])\.(.+)$/))) return `backbone.conv1x1s.${m[1]}.${m[2] === '0' ? 'conv' : 'bn'}.${m[3]}`;
  if ((m = key.match(/^cnvs_\.(\d+)\.([01])\.(.+)$/))) return `backbone.remap_convs.${m[1]}.${m[2] === '0' ? 'conv' : 'bn'}.${m[3]}`;
  if ((m = key.match(/^inters\.(\d+)\.(.+)$/))) return `backbone.inters.${m[1]}.${skip(m[2]!)}`;
  if ((m = key.match(/^(tl|br)_cnvs\.(\d+)\.(.+)$/))) {
    const head = `bbox_head.${m[1]}_pool.${m[2]}`;
    const rest = m[3]!;
    let r: RegExpMatchArray | null;
    if ((r = rest.match(/^p([12])_conv1\.(conv|bn)\.(.+)$/))) return `${head}.direction${r[1]}_conv.${r[2]}.${r[3]}`;
    if ((r = rest.match(/^p_conv1\.(.+)$/))) return `${head}.aftpool_conv.conv.${r[1]}`;
    if ((r = rest.match(/^p_bn1\.(.+)$/))) return `${head}.aftpool_conv.bn.${r[1]}`;
    if ((r = rest.match(/^conv1\.(.+)$/))) return `${head}.conv1.conv.${r[1]}`;
    if ((r = rest.match(/^bn1\.(.+)$/))) return `${head}.conv1.bn.${r[1]}`;
    if ((r = rest.match(/^conv2\.(conv|bn)\.(.+)$/))) return `${head}.conv2.${r[1]}.${r[2]}`;
    return null;
  }
  if ((m = key.match(/^(tl|br)_(heats|tags|regrs)\.(\d+)\.(.+)$/))) {
    const branch = { heats: 'heat', tags: 'emb', regrs: 'off' }[m[2] as 'heats' | 'tags' | 'regrs'];
    const head = `bbox_head.${m[1]}_${branch}.${m[3]}`;
    let r: RegExpMatchArray | null;
    if ((r = m[4]!.match(/^0\.conv\.(weight|bias)$/))) return `${head}.0.conv.${r[1]}`;
    if ((r = m[4]!.match(/^1\.(weight|bias)$/))) return `${head}.1.conv.${r[1]}`;
    return null;
  }
  return null;
}

/** Which naming a set of keys follows, or null when neither. */
export function detectScheme(keys: string[]): KeyScheme | null {
  if (keys.some((k) => k.startsWith('backbone.') || k.startsWith('bbox_head.'))) return 'mmdet';
  if (keys.some((k) => /^(pre|kps|tl_cnvs|br_cnvs|tl_heats|br_heats)\./.test(k))) return 'original';
  return null;
}

function toWeight(key: string, t: TorchTensor, file: string): StateDict[string] {
  switch (t.dtype) {
    case 'float32':
    case 'float16':
    case 'bfloat16':
      return { data: t.data as Float32Array, shape: t.shape };
    case 'float64':
      return { data: Float32Array.from(t.data as Float64Array), shape: t.shape };
    case 'int64':
      return { data: t.data as BigInt64Array, shape: t.shape };
    default:
      throw new Error(`${file}: ${key} is ${t.dtype}; weights are floating point (num_batches_tracked: int64)`);
  }
}

/** Reverses dim 1 of [out, 3, kh, kw]: a BGR-input convolution becomes the same one on RGB. */
function reverseInputChannels(w: StateDict[string]): StateDict[string] {
  const [o, c, kh, kw] = w.shape as [number, number, number, number];
  const src = w.data as Float32Array;
  const out = new Float32Array(src.length);
  const plane = kh * kw;
  for (let i = 0; i < o; i++) for (let j = 0; j < c; j++) out.set(src.subarray((i * c + j) * plane, (i * c + j + 1) * plane), (i * c + (c - 1 - j)) * plane);
  return { data: out, shape: w.shape };
}

function classNamesOf(root: unknown): string[] | null {
  const meta = root instanceof Map ? root.get('meta') : undefined;
  const classes = meta instanceof Map ? meta.get('CLASSES') : undefined;
  return Array.isArray(classes) && classes.length && classes.every((c) => typeof c === 'string') ? (classes as string[]) : null;
}

/** Reads `file` (torch.save, zip or legacy) as weights under the reference's key names. */
export async function importTorchCheckpoint(
  file: string,
  opts: {
    from?: KeyScheme | 'auto';
    /** With 'auto', keys of neither scheme: an error (default), or kept as they are for a loader that names what does not fit. */
    undecided?: 'error' | 'keep';
    /** Called after each tensor is read (a checkpoint of hundreds of MB takes seconds). */
    onTensor?: (done: number, total: number) => void;
  } = {},
): Promise<ImportedWeights> {
  const tf: TorchFile = await openTorchFile(file);
  try {
    const { dict, path, ignored } = findStateDict(file, tf.root);
    const names: string[] = [];
    const refs: TensorRef[] = [];
    let prefixStripped = 0;
    for (const [k, v] of dict) {
      if (typeof k !== 'string') {
        ignored.push(`${String(k)} (a key that is not a string)`);
        continue;
      }
      if (!(v instanceof TensorRef)) {
        ignored.push(`${path ? `${path}.` : ''}${k} (${describeValue(v)}, not a tensor)`);
        continue;
      }
      let name = k;
      while (name.startsWith('module.')) name = name.slice(7);
      if (name !== k) prefixStripped++;
      names.push(name);
      refs.push(v);
    }
    const requested = opts.from ?? 'auto';
    let scheme = requested === 'auto' ? detectScheme(names) : requested;
    const notes: string[] = [];
    if (!scheme && opts.undecided === 'keep') {
      scheme = 'mmdet';
      notes.push('key names follow neither scheme: kept as they are');
    }
    if (!scheme)
      throw new Error(`${file}: its keys (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''}) follow neither MMDetection's names (backbone.*, bbox_head.*) nor the original CornerNet's (pre.*, kps.*, tl_heats.*); pass --from`);
    let done = 0;
    const tensors = await tf.readTensors(refs, () => {
      opts.onTensor?.(++done, refs.length);
      return new Promise<void>((r) => setImmediate(r));
    });
    const stateDict: StateDict = {};
    const converted: Record<string, number> = {};
    let mapped = 0;
    for (let i = 0; i < names.length; i++) {
      const t = tensors[i]!;
      let name = names[i]!;
      let w = toWeight(name, t, file);
      converted[t.dtype] = (converted[t.dtype] ?? 0) + 1;
      if (scheme === 'original') {
        const ref = originalToReference(name);
        if (ref !== null) {
          if (name === 'pre.0.conv.weight' && w.shape.length === 4 && w.shape[1] === 3) {
            w = reverseInputChannels(w);
            notes.push('pre.0.conv.weight: input channels reversed (BGR -> RGB)');
          }
          name = ref;
          mapped++;
        }
      }
      if (name in stateDict) throw new Error(`${file}: two entries map to ${name}`);
      stateDict[name] = w;
    }
    return {
      stateDict,
      report: { file, format: tf.format, scheme, schemeFrom: requested === 'auto' ? 'keys' : 'flag', stateDictPath: path, converted, mapped, prefixStripped, ignored, notes },
      classNames: classNamesOf(tf.root),
      input: scheme === 'original' ? { ...ORIGINAL_INPUT, mean: [...ORIGINAL_INPUT.mean], std: [...ORIGINAL_INPUT.std] } : null,
    };
  } finally {
    tf.close();
  }
}
