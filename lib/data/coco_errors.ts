// The one error type of the data loader: it names the file, where in it
// (e.g. "annotations[17].bbox") and what is wrong, so a bad dataset can be fixed
// without a debugger.
import * as path from 'path';

import { shortJson } from '../io/json_file';

export class CocoFormatError extends Error {
  constructor(
    readonly file: string,
    readonly where: string,
    readonly problem: string
  ) {
    super(`${path.basename(file)}: ${where ? `${where}: ` : ''}${problem}`);
    this.name = 'CocoFormatError';
  }
}

/** A short rendering of a JSON value for error messages. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `array ${shortJson(v)}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  return `${typeof v} ${String(v)}`;
}
