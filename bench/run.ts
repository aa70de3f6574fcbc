// The benchmark runner (`npm run bench`): runs the groups of bench/groups.ts,
// prints one table on stdout, optionally writes the results as JSON.
//
//   node dist/bench/run.js [--only NAME[,NAME...]] [--quick] [--json FILE] [--list]
//
// --quick leaves out the groups marked slow (a minute or more each: the
// full-size model, the training loop, the 450 MB annotation file); --only runs
// the named groups, slow or not, and is the only way to run an opt-in group.
//
// A group that needs another engine thread count than this process has (the
// pool size is fixed when the addon loads) runs in a child process of this
// same script with CORNERNET_NUM_THREADS set; its rows join the same table.
//
// Groups marked `gpu` also time their work on the first usable GPU backend
// (bench/gpu.ts): two more columns, that backend's figure and what it is
// compared with. Without a GPU the table has no such columns, and one note says
// why none was found. Testing options, not in the usage line: `--gpu-backend
// NAME` forces the GPU backend (cuda-emu included, which is never picked on its
// own), `--tiny` runs the groups that allow it at their smallest sizes.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { libraryLines } from '../lib/info';
import { native } from '../lib/native';
import { findGpu, type GpuTarget } from './gpu';
import { groups } from './groups';
import type { BenchContext, BenchGroup, BenchResult } from './harness';

interface Outcome {
  results: BenchResult[];
  notes: string[];
  failures: string[];
}

const USAGE = 'usage: node dist/bench/run.js [--only NAME[,NAME...]] [--quick] [--json FILE] [--list]';

interface RunOptions {
  gpu: GpuTarget | null;
  tiny: boolean;
  /** --gpu-backend as given, passed on to child processes. */
  forcedGpu?: string;
}

async function runHere(group: BenchGroup, threads: number, o: RunOptions): Promise<Outcome> {
  const notes: string[] = [];
  const ctx: BenchContext = { threads, note: (line) => notes.push(line), gpu: group.gpu ? o.gpu : null, tiny: o.tiny };
  try {
    return { results: await group.run(ctx), notes, failures: [] };
  } catch (e) {
    return { results: [], notes, failures: [`${group.name}: ${e instanceof Error ? e.message : String(e)}`] };
  }
}

function runInChild(group: BenchGroup, threads: number, o: RunOptions): Outcome {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cornernet-bench-'));
  const file = path.join(dir, 'out.json');
  const pass = [...(o.forcedGpu !== undefined ? ['--gpu-backend', o.forcedGpu] : []), ...(o.tiny ? ['--tiny'] : [])];
  try {
    const r = spawnSync(process.execPath, [__filename, '--only', group.name, '--child-output', file, ...pass], {
      env: { ...process.env, CORNERNET_NUM_THREADS: String(threads) },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (r.status !== 0 || !fs.existsSync(file))
      return { results: [], notes: [], failures: [`${group.name}: child process failed (exit ${r.status ?? r.signal})`] };
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Outcome;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(1) : a >= 10 ? v.toFixed(2) : v.toFixed(3);
}

/** The GPU columns' cells of a row: its figure (or why there is none) and what that is compared with. */
function gpuCells(r: BenchResult): [string, string] {
  const g = r.gpu;
  if (!g) return ['', ''];
  // A failure's message can be long: the table shows its start, --json all of it.
  const why = g.missing ?? 'no figure';
  if (g.value === undefined) return [why.length > 120 ? `${why.slice(0, 117)}...` : why, ''];
  return [`${fmt(g.value)} ${g.metric ?? r.metric}`, g.compare ?? ''];
}

function table(results: BenchResult[]): string {
  // The GPU columns appear only when a group gave a GPU cell (a GPU was found, or forced).
  const gpuBackend = results.find((r) => r.gpu)?.gpu?.backend;
  const head = ['group', 'benchmark', 'value', 'cpu', 'reference / target', 'ratio', ...(gpuBackend ? [gpuBackend, `${gpuBackend} compared with`] : [])];
  const rows = results.map((r) => [
    r.group,
    r.name,
    `${fmt(r.value)} ${r.metric}`,
    r.cpu === undefined ? '' : `${fmt(r.cpu)} ${r.metric}`,
    r.reference ? `${fmt(r.reference.value)} ${r.metric} (${r.reference.label})` : '',
    r.ratio === undefined ? '' : r.ratio.toFixed(2),
    ...(gpuBackend ? gpuCells(r) : []),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const right = (i: number, c: string) => i === 2 || i === 3 || i === 5 || (i === 6 && /^[-\d.]/.test(c));
  const line = (cells: string[]) => cells.map((c, i) => (right(i, c) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        only: { type: 'string', multiple: true },
        json: { type: 'string' },
        list: { type: 'boolean' },
        quick: { type: 'boolean' },
        'child-output': { type: 'string' },
        'gpu-backend': { type: 'string' },
        tiny: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  const { values } = args;
  if (values.list) {
    const width = Math.max(...groups.map((g) => g.name.length));
    for (const g of groups) console.log(`${g.name.padEnd(width)}  ${g.slow ? 'slow ' : '     '}${g.description}`);
    return 0;
  }
  const wanted = (values.only ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((w) => !groups.some((g) => g.name === w));
  if (unknown.length) {
    console.error(`unknown benchmark group${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (known: ${groups.map((g) => g.name).join(', ')})`);
    return 2;
  }
  const selected = wanted.length ? groups.filter((g) => wanted.includes(g.name)) : groups.filter((g) => !g.optIn && !(values.quick && g.slow));
  const skipped = wanted.length ? [] : groups.filter((g) => values.quick && g.slow).map((g) => g.name);
  const threads = native().info().threads;
  const child = values['child-output'];
  // The GPU is looked for only when a selected group times one; a forced backend that cannot run is an error.
  const forcedGpu = values['gpu-backend'];
  let found: ReturnType<typeof findGpu> = { gpu: null, reason: '' };
  if (selected.some((g) => g.gpu) || forcedGpu !== undefined) {
    try {
      found = findGpu(forcedGpu);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      if (forcedGpu !== undefined) {
        console.error(`--gpu-backend ${forcedGpu}: ${why}`);
        return 2;
      }
      // A device the probe listed that the engine cannot open: CPU figures, and the note says why.
      found = { gpu: null, reason: why };
    }
  }
  const runOpts: RunOptions = { gpu: found.gpu, tiny: !!values.tiny, forcedGpu };

  const all: Outcome = { results: [], notes: [], failures: [] };
  const started = Date.now();
  const loadBefore = os.loadavg();
  const seconds: Record<string, number> = {};
  for (const g of selected) {
    if (!child) process.stderr.write(`bench: ${g.name}...\n`);
    const t0 = Date.now();
    const o = g.threads !== undefined && g.threads !== threads && !child ? runInChild(g, g.threads, runOpts) : await runHere(g, threads, runOpts);
    all.results.push(...o.results);
    all.notes.push(...o.notes);
    all.failures.push(...o.failures);
    seconds[g.name] = (Date.now() - t0) / 1000;
  }
  const loadAfter = os.loadavg();
  if (child) {
    fs.writeFileSync(child, JSON.stringify(all));
    return 0;
  }

  const info = native().info();
  const cores = os.cpus().length;
  const loadLine = (l: number[]) => l.map((x) => x.toFixed(1)).join('/');
  const busy = Math.max(loadBefore[0]!, loadAfter[0]!) > 0.5 * cores;
  console.log(`cornernet-native bench: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${threads} engine threads, ISA ${info.isa}, node ${process.version}`);
  console.log(
    `load average (1/5/15 min) ${loadLine(loadBefore)} before, ${loadLine(loadAfter)} after, on ${cores} cores` +
      `${busy ? ': MEASURED UNDER LOAD (other processes held the cores; CPU times in --json)' : ''}; ` +
      `${((Date.now() - started) / 1000).toFixed(0)} s in all${skipped.length ? `; --quick skipped ${skipped.join(', ')}` : ''}`
  );
  console.log('value: best of the timed calls unless a note below says otherwise (medians in --json); cpu: CPU time of the');
  console.log('measuring process for the same work, all threads (about threads x value when the machine is otherwise idle);');
  console.log('ratio > 1: better than the reference, and for GFLOP/s against a peak, the fraction of that peak.');
  const gpuGroups = selected.some((g) => g.gpu);
  if (found.gpu && gpuGroups) {
    console.log(`GPU columns: the same work on ${found.gpu.backend}${forcedGpu !== undefined ? ' (forced with --gpu-backend)' : ''}, kernels synchronized on the device;`);
    console.log(`memory-bound kernels as x times a copy of the same bytes on it. ${found.gpu.backend}: ${found.gpu.device}.`);
  }
  console.log('');
  console.log(table(all.results));
  if (!found.gpu && gpuGroups) all.notes.unshift(`no GPU found (${found.reason}): CPU figures only`);
  if (found.gpu && gpuGroups) {
    // Which of the GPU's optional libraries (cuDNN, cuBLAS) ran ops in this process (the model's children are not counted).
    const libs = libraryLines(native().backendInfo(found.gpu.backend).libraries ?? []);
    if (libs.length) all.notes.push(`${found.gpu.backend} libraries after the run (this process): ${libs.join('; ')}`);
  }
  for (const n of all.notes) console.log(`note: ${n}`);
  for (const f of all.failures) console.log(`FAILED: ${f}`);
  if (values.json) {
    const doc = {
      date: new Date().toISOString(),
      cpu: os.cpus()[0]?.model,
      threads,
      isa: info.isa,
      node: process.version,
      gpu: found.gpu ? { backend: found.gpu.backend, device: found.gpu.device, emulated: found.gpu.emulated } : null,
      ...(!found.gpu && found.reason ? { noGpuReason: found.reason } : {}),
      loadAverage: { before: loadBefore, after: loadAfter, cores },
      groupSeconds: seconds,
      skipped,
      results: all.results,
      notes: all.notes,
      failures: all.failures,
    };
    fs.writeFileSync(values.json, JSON.stringify(doc, null, 2) + '\n');
  }
  return all.failures.length ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exitCode = 1;
  }
);
