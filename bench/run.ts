// The benchmark runner (`npm run bench`): runs the groups of bench/groups.ts,
// prints one table on stdout, optionally writes the results as JSON.
//
//   node dist/bench/run.js [--only NAME[,NAME...]] [--json FILE] [--list]
//
// A group that needs another engine thread count than this process has (the
// pool size is fixed when the addon loads) runs in a child process of this
// same script with CORNERNET_NUM_THREADS set; its rows join the same table.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { native } from '../lib/native';
import { groups } from './groups';
import type { BenchContext, BenchGroup, BenchResult } from './harness';

interface Outcome {
  results: BenchResult[];
  notes: string[];
  failures: string[];
}

const USAGE = 'usage: node dist/bench/run.js [--only NAME[,NAME...]] [--json FILE] [--list]';

async function runHere(group: BenchGroup, threads: number): Promise<Outcome> {
  const notes: string[] = [];
  const ctx: BenchContext = { threads, note: (line) => notes.push(line) };
  try {
    return { results: await group.run(ctx), notes, failures: [] };
  } catch (e) {
    return { results: [], notes, failures: [`${group.name}: ${e instanceof Error ? e.message : String(e)}`] };
  }
}

function runInChild(group: BenchGroup, threads: number): Outcome {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cornernet-bench-'));
  const file = path.join(dir, 'out.json');
  try {
    const r = spawnSync(process.execPath, [__filename, '--only', group.name, '--child-output', file], {
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

function table(results: BenchResult[]): string {
  const head = ['group', 'benchmark', 'value', 'reference / target', 'ratio'];
  const rows = results.map((r) => [
    r.group,
    r.name,
    `${fmt(r.value)} ${r.metric}`,
    r.reference ? `${fmt(r.reference.value)} ${r.metric} (${r.reference.label})` : '',
    r.ratio === undefined ? '' : r.ratio.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 2 || i === 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
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
        'child-output': { type: 'string' },
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
    for (const g of groups) console.log(`${g.name.padEnd(12)} ${g.description}`);
    return 0;
  }
  const wanted = (values.only ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((w) => !groups.some((g) => g.name === w));
  if (unknown.length) {
    console.error(`unknown benchmark group${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (known: ${groups.map((g) => g.name).join(', ')})`);
    return 2;
  }
  const selected = wanted.length ? groups.filter((g) => wanted.includes(g.name)) : groups;
  const threads = native().info().threads;
  const child = values['child-output'];

  const all: Outcome = { results: [], notes: [], failures: [] };
  for (const g of selected) {
    if (!child) process.stderr.write(`bench: ${g.name}...\n`);
    const o = g.threads !== undefined && g.threads !== threads && !child ? runInChild(g, g.threads) : await runHere(g, threads);
    all.results.push(...o.results);
    all.notes.push(...o.notes);
    all.failures.push(...o.failures);
  }
  if (child) {
    fs.writeFileSync(child, JSON.stringify(all));
    return 0;
  }

  const info = native().info();
  console.log(`cornernet-native bench: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${threads} engine threads, ISA ${info.isa}, node ${process.version}`);
  console.log('value: best of the timed calls (medians and CPU time in --json); ratio > 1: better than the reference,');
  console.log('and for GFLOP/s against a peak, the fraction of that peak.\n');
  console.log(table(all.results));
  for (const n of all.notes) console.log(`note: ${n}`);
  for (const f of all.failures) console.log(`FAILED: ${f}`);
  if (values.json) {
    const doc = {
      date: new Date().toISOString(),
      cpu: os.cpus()[0]?.model,
      threads,
      isa: info.isa,
      node: process.version,
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
