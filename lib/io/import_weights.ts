// `cornernet import`: a PyTorch checkpoint converted (torch_import.ts), checked
// by name and shape against an architecture, and written as safetensors
// weights that record that architecture (__metadata__.config), the class names
// when the checkpoint has them (__metadata__.classes) and a non-reference input
// normalisation (__metadata__.input), so `--weights OUT` needs no --config.
import { type ModelConfig } from '../configs';
import { configFromSpec } from '../eval/open_model';
import { Model } from '../model';
import { saveSafetensorsAsync, type SafetensorsData } from './safetensors';
import { importTorchCheckpoint, type ImportReport, type InputNormalisation, type KeyScheme } from './torch_import';
import { CLASSES_METADATA_KEY, INPUT_METADATA_KEY } from './weights';

export interface ImportOptions {
  checkpoint: string;
  out: string;
  from?: KeyScheme | 'auto';
  /** A recipe, model preset or JSON config (default hourglass104); the class count comes from the checkpoint's heads. */
  config?: string;
  /** Progress of reading the tensors. */
  onTensor?: (done: number, total: number) => void;
}

export interface ImportResult {
  report: ImportReport;
  out: string;
  config: ModelConfig;
  /** What set numClasses: the checkpoint's heat head (named), or the config. */
  classesFrom: string;
  /** Model entries the weights fill. */
  matched: number;
  classNames: string[] | null;
  input: InputNormalisation | null;
}

/** Shape mismatches, missing and unexpected keys against the architecture, each by name. */
export class ImportMismatchError extends Error {
  constructor(
    message: string,
    readonly report: ImportReport,
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: string[],
  ) {
    super(message);
  }
}

const listed = (v: string[]) => `${v.slice(0, 3).join('; ')}${v.length > 3 ? `; ... ${v.length - 3} more` : ''}`;

export async function importWeights(o: ImportOptions): Promise<ImportResult> {
  const w = await importTorchCheckpoint(o.checkpoint, { from: o.from, onTensor: o.onTensor });
  let config = configFromSpec(o.config ?? 'hourglass104');
  // The class count is the dataset's, not the architecture's: the last level's heat convolution says it.
  let classesFrom = o.config !== undefined ? `--config ${o.config}` : 'hourglass104';
  const heat = Object.keys(w.stateDict)
    .filter((k) => /^bbox_head\.tl_heat\.\d+\.1\.conv\.weight$/.test(k))
    .sort()
    .pop();
  if (heat && w.stateDict[heat]!.shape.length === 4) {
    config = { ...config, numClasses: w.stateDict[heat]!.shape[0]! };
    classesFrom = heat;
  }
  const model = new Model(config);
  const keys = model.keys();
  const missing: string[] = [];
  const mismatched: string[] = [];
  let matched = 0;
  for (const k of keys) {
    const t = w.stateDict[k.name];
    if (!t) missing.push(k.name);
    else if (t.shape.join(',') !== k.shape.join(',')) mismatched.push(`${k.name} [${t.shape.join(', ')}] in the file, [${k.shape.join(', ')}] in the model`);
    else if ((t.data instanceof BigInt64Array) !== (k.dtype === 'int64')) mismatched.push(`${k.name} is ${t.data instanceof BigInt64Array ? 'int64' : 'floating point'} in the file, ${k.dtype} in the model`);
    else matched++;
  }
  const known = new Set(keys.map((k) => k.name));
  const unexpected = Object.keys(w.stateDict).filter((k) => !known.has(k));
  if (missing.length || mismatched.length || unexpected.length) {
    const parts = [
      mismatched.length ? `${mismatched.length} of another shape or type (${listed(mismatched)})` : '',
      missing.length ? `${missing.length} missing (${listed(missing)})` : '',
      unexpected.length ? `${unexpected.length} not in the model (${listed(unexpected)})` : '',
    ].filter(Boolean);
    throw new ImportMismatchError(
      `${o.checkpoint} does not fit the architecture ${o.config ?? 'hourglass104'} (${config.numClasses} classes): ${parts.join(', ')}; nothing was written. ` +
        `Pass the --config the weights were trained with${w.report.scheme === 'mmdet' && o.from === undefined ? ', or --from original if they come from princeton-vl/CornerNet' : ''}`,
      w.report,
      missing,
      unexpected,
      mismatched,
    );
  }
  // The model's order, which is the reference's.
  const entries: [string, { shape: number[]; data: SafetensorsData }][] = keys.map((k) => [k.name, w.stateDict[k.name]!]);
  const metadata: Record<string, string> = { config: JSON.stringify(config) };
  // Names that do not fit the heads (a checkpoint fine-tuned without updating its meta) would label detections wrongly.
  const classNames = w.classNames && w.classNames.length === config.numClasses ? w.classNames : null;
  if (w.classNames && !classNames) w.report.notes.push(`meta.CLASSES not recorded: ${w.classNames.length} names for ${config.numClasses} classes`);
  if (classNames) metadata[CLASSES_METADATA_KEY] = JSON.stringify(classNames);
  if (w.input) metadata[INPUT_METADATA_KEY] = JSON.stringify(w.input);
  await saveSafetensorsAsync(o.out, entries, metadata);
  return { report: w.report, out: o.out, config, classesFrom, matched, classNames, input: w.input };
}

/** The import report as lines. */
export function formatImportReport(r: ImportResult): string {
  const rep = r.report;
  const converted = Object.entries(rep.converted).map(([d, n]) => `${d} ${n}`).join(', ');
  const total = Object.values(rep.converted).reduce((a, b) => a + b, 0);
  const lines = [
    `read ${rep.file} (${rep.format === 'zip' ? 'torch >= 1.6 zip' : 'legacy torch.save'} format), state_dict ${rep.stateDictPath ? `under '${rep.stateDictPath}'` : 'at the top level'}`,
    `key names: ${rep.scheme === 'mmdet' ? "MMDetection's (the reference's)" : "the original CornerNet's"} (${rep.schemeFrom === 'flag' ? 'as --from says' : 'decided from the key names'})`,
    `tensors converted: ${total} (${converted}) -> float32, num_batches_tracked int64`,
    `keys mapped to the reference's names: ${rep.mapped}${rep.prefixStripped ? `; 'module.' prefix stripped from ${rep.prefixStripped}` : ''}`,
    `keys ignored: ${rep.ignored.length ? rep.ignored.join(', ') : 'none'}`,
    ...rep.notes,
    `architecture: ${r.config.numStacks} stack${r.config.numStacks === 1 ? '' : 's'}, ${r.config.numClasses} classes (from ${r.classesFrom}); all ${r.matched} entries match by name and shape`,
  ];
  if (r.classNames) lines.push(`class names: ${r.classNames.length} (from meta.CLASSES)`);
  if (r.input) lines.push(`input normalisation recorded: mean ${r.input.mean.map((v) => v.toFixed(3)).join('/')}, std ${r.input.std.map((v) => v.toFixed(3)).join('/')} (${r.input.source})`);
  lines.push(`wrote ${r.out}`);
  return lines.join('\n');
}
