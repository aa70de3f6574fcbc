// Bad arguments to the ops, through the raw addon functions (as untyped JS
// would call them): every one must throw (sync) or reject (async) a JS Error
// whose message names the offending argument, and never take the process down.
import * as assert from 'assert';
import { native } from '../../lib/native';

type Fn = (args?: unknown, backend?: unknown) => unknown;

const f32 = (shape: number[], fill = 0.5) => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill), shape });
const x4 = f32([1, 3, 4, 5]);
const ch = (n: number) => f32([n]);
const bnArgs = { x: x4, weight: ch(3), bias: ch(3), runningMean: ch(3), runningVar: ch(3) };

interface BadCase {
  what: string;
  op: string;
  args: unknown;
  backend?: unknown;
  /** The message must match (it names the argument). */
  message: RegExp;
}

const CASES: BadCase[] = [
  // wrong shapes
  { what: 'a 3-D x', op: 'cornerPoolForward', args: { x: f32([3, 4, 5]), mode: 'top' }, message: /argument 'x' must have 4 dimensions \(NCHW\), got shape \[3,4,5\]/ },
  { what: 'weight of the wrong channel count', op: 'batchNormForwardTrain', args: { ...bnArgs, weight: ch(4) }, message: /argument 'weight' must have shape \[3\] \(one per channel of x\), got \[4\]/ },
  { what: 'runningVar of the wrong shape', op: 'batchNormForwardEval', args: { ...bnArgs, runningVar: f32([3, 1]) }, message: /argument 'runningVar' must have shape \[3\]/ },
  { what: 'gradY not the shape of x', op: 'cornerPoolBackward', args: { x: x4, mode: 'left', gradY: f32([1, 3, 5, 4]) }, message: /ops\.cornerPoolBackward(Async)?: corner_pool_backward: gradY has shape \[1,3,5,4\] but x has \[1,3,4,5\]/ },
  { what: 'gradY not the shape of x', op: 'maxPool3x3Backward', args: { x: x4, gradY: f32([1, 3, 4, 6]) }, message: /maxpool3x3_backward: gradY has shape \[1,3,4,6\]/ },
  { what: 'b not the shape of a', op: 'addForward', args: { a: f32([2, 3]), b: f32([3, 2]) }, message: /add_forward: b has shape \[3,2\] but a has \[2,3\]/ },
  { what: 'gradY not the shape of y', op: 'sigmoidBackward', args: { y: f32([4]), gradY: f32([5]) }, message: /sigmoid_backward: gradY has shape \[5\] but y has \[4\]/ },
  { what: 'an odd-sized gradY', op: 'upsample2xBackward', args: { gradY: f32([1, 1, 5, 4]) }, message: /argument 'gradY' must have an even height and width/ },
  { what: 'one value per channel in training', op: 'batchNormForwardTrain', args: { ...bnArgs, x: f32([1, 3, 1, 1]) }, message: /argument 'x' must hold more than one value per channel/ },
  { what: 'saveInvstd of the wrong shape', op: 'batchNormBackward', args: { x: x4, weight: ch(3), saveMean: ch(3), saveInvstd: ch(2), gradY: x4 }, message: /argument 'saveInvstd' must have shape \[3\]/ },
  // wrong types
  { what: 'Float64Array data', op: 'reluForward', args: { x: { data: new Float64Array(4), shape: [4] } }, message: /argument 'x' \.data must be a Float32Array, got a Float64Array/ },
  { what: 'a plain array as data', op: 'cornerPoolForward', args: { x: { data: [1, 2, 3, 4], shape: [1, 1, 2, 2] }, mode: 'top' }, message: /argument 'x' \.data must be a Float32Array, got an array/ },
  { what: 'a string as tensor', op: 'sigmoidForward', args: { x: 'tensor' }, message: /argument 'x' must be a tensor \{data: Float32Array, shape: number\[\]\}, got a string/ },
  { what: 'a bare Float32Array as tensor', op: 'reluForward', args: { x: new Float32Array(4) }, message: /argument 'x' must be a tensor/ },
  { what: 'a string shape', op: 'reluForward', args: { x: { data: new Float32Array(4), shape: '4' } }, message: /argument 'x' \.shape must be an array/ },
  { what: 'a string in the shape', op: 'reluForward', args: { x: { data: new Float32Array(4), shape: ['4'] } }, message: /argument 'x' \.shape\[0\] must be a non-negative integer, got a string/ },
  { what: 'a numeric mode', op: 'cornerPoolForward', args: { x: x4, mode: 1 }, message: /argument 'mode' must be a string/ },
  { what: 'an unknown mode', op: 'cornerPoolForward', args: { x: x4, mode: 'diagonal' }, message: /argument 'mode' must be one of 'top', 'bottom', 'left', 'right', got 'diagonal'/ },
  { what: 'a string eps', op: 'batchNormForwardTrain', args: { ...bnArgs, eps: '1e-5' }, message: /argument 'eps' must be a number/ },
  { what: 'a negative eps', op: 'batchNormForwardEval', args: { ...bnArgs, eps: -1 }, message: /argument 'eps' must be >= 0/ },
  { what: 'momentum above 1', op: 'batchNormForwardTrain', args: { ...bnArgs, momentum: 2 }, message: /argument 'momentum' must be in \[0, 1\]/ },
  { what: 'a non-boolean training', op: 'batchNormBackward', args: { x: x4, weight: ch(3), saveMean: ch(3), saveInvstd: ch(3), gradY: x4, training: 'yes' }, message: /argument 'training' must be a boolean/ },
  // sizes
  { what: 'a negative size', op: 'reluForward', args: { x: { data: new Float32Array(4), shape: [-2, -2] } }, message: /argument 'x' \.shape\[0\] must be a non-negative integer, got -2/ },
  { what: 'a fractional size', op: 'cornerPoolForward', args: { x: { data: new Float32Array(6), shape: [1, 1, 1.5, 4] }, mode: 'top' }, message: /argument 'x' \.shape\[2\] must be a non-negative integer, got 1\.5/ },
  { what: 'a NaN size', op: 'reluForward', args: { x: { data: new Float32Array(1), shape: [NaN] } }, message: /argument 'x' \.shape\[0\]/ },
  { what: 'sizes whose product overflows', op: 'reluForward', args: { x: { data: new Float32Array(4), shape: [2 ** 40, 2 ** 40] } }, message: /argument 'x' has shape .* but \.data holds 4 elements/ },
  { what: 'data shorter than the shape', op: 'upsample2xForward', args: { x: { data: new Float32Array(5), shape: [1, 1, 2, 3] } }, message: /argument 'x' has shape \[1,1,2,3\] \(6 elements\) but \.data holds 5 elements/ },
  { what: 'data longer than the shape', op: 'copy', args: { x: { data: new Float32Array(7), shape: [2, 3] } }, message: /argument 'x' has shape \[2,3\] \(6 elements\) but \.data holds 7 elements/ },
  // missing arguments
  { what: 'a missing b', op: 'addForward', args: { a: f32([2]) }, message: /argument 'b' must be a tensor .* got undefined/ },
  { what: 'a missing mode', op: 'cornerPoolForward', args: { x: x4 }, message: /argument 'mode' is required/ },
  { what: 'a missing runningMean', op: 'batchNormForwardTrain', args: { x: x4, weight: ch(3), bias: ch(3), runningVar: ch(3) }, message: /argument 'runningMean'/ },
  { what: 'a null x', op: 'maxPool3x3Forward', args: { x: null }, message: /argument 'x' must be a tensor .* got null/ },
  { what: 'no arguments at all', op: 'reluForward', args: undefined, message: /expected an object of named arguments as the first argument, got undefined/ },
  { what: 'a number instead of the arguments', op: 'cornerPoolForward', args: 5, message: /expected an object of named arguments as the first argument, got a number/ },
  { what: 'an array instead of the arguments', op: 'cornerPoolForward', args: [x4], message: /expected an object of named arguments/ },
  // backends
  { what: 'an unknown backend', op: 'reluForward', args: { x: x4 }, backend: 'tpu', message: /unknown backend 'tpu'/ },
  { what: 'a numeric backend', op: 'reluForward', args: { x: x4 }, backend: 0, message: /argument 'backend' must be a string/ },
  { what: 'an unknown CPU ISA', op: 'cornerPoolForward', args: { x: x4, mode: 'top' }, backend: 'cpu:neon', message: /backend 'cpu:neon': unknown ISA 'neon'/ },
  { what: 'a bad CUDA index', op: 'reluForward', args: { x: x4 }, backend: 'cuda:-1', message: /backend 'cuda:-1'/ },
];

function opFn(name: string): Fn {
  const f = native().ops[name];
  assert.strictEqual(typeof f, 'function', `addon has no op '${name}'`);
  return f as unknown as Fn;
}

describe('bad input to ops', () => {
  for (const c of CASES) {
    it(`${c.op} with ${c.what} throws naming it`, () => {
      assert.throws(
        () => opFn(c.op)(c.args, c.backend),
        (e: unknown) => {
          assert.ok(e instanceof Error, `threw a non-Error: ${String(e)}`);
          assert.match(e.message, c.message);
          assert.match(e.message, new RegExp(`^ops\\.${c.op}: `), 'the message starts with the function name');
          return true;
        }
      );
    });
    it(`${c.op}Async with ${c.what} rejects naming it`, async () => {
      let p: unknown;
      try {
        p = opFn(`${c.op}Async`)(c.args, c.backend);
      } catch (e) {
        assert.fail(`threw synchronously instead of rejecting: ${e instanceof Error ? e.message : String(e)}`);
      }
      assert.ok(p instanceof Promise, 'did not return a Promise');
      await assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof Error, `rejected with a non-Error: ${String(e)}`);
        assert.match(e.message, c.message);
        assert.match(e.message, new RegExp(`^ops\\.${c.op}Async: `));
        return true;
      });
    });
  }

  it('an argument getter that throws surfaces as that error', async () => {
    const args = {
      get x(): unknown {
        throw new Error('getter exploded');
      },
    };
    assert.throws(() => opFn('reluForward')(args), /getter exploded/);
    await assert.rejects(opFn('reluForwardAsync')(args) as Promise<unknown>, /getter exploded/);
  });

  it('an op a backend has no kernel for is refused by name, pointing at the cpu backend', function () {
    const info = native().info();
    if (!(info.cudaEmu.loaded && info.cudaEmu.status === 'ok')) this.skip();
    // Needs an op cuda-emu has no kernel for: with every engine op on it there is nothing to refuse.
    if (native().backendInfo('cuda-emu').supports.includes('conv2d_forward')) this.skip();
    const conv = { x: x4, weight: f32([2, 3, 3, 3]), bias: ch(2), stride: 1, padding: 1 };
    assert.throws(() => opFn('conv2dForward')(conv, 'cuda-emu'), /op conv2d_forward has no kernel on the 'cuda-emu' backend.*'cpu' backend/);
  });

  it('the process is still alive and the ops still work afterwards', () => {
    const { y } = opFn('reluForward')({ x: { data: Float32Array.from([-1, 2]), shape: [2] } }) as { y: { data: Float32Array } };
    assert.deepStrictEqual(Array.from(y.data), [0, 2]);
  });
});
