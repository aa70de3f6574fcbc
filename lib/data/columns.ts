// Growable typed-array columns for the streaming loader (an annotation count is
// not known until the file ends).
type TypedArray = Float64Array | Float32Array | Int32Array | Uint8Array;
type Ctor<T extends TypedArray> = { new (n: number): T };

export class Column<T extends TypedArray> {
  private buf: T;
  length = 0;
  constructor(
    private readonly ctor: Ctor<T>,
    private readonly width = 1,
    capacity = 1024
  ) {
    this.buf = new ctor(capacity * width);
  }
  push(...v: number[]): void {
    const need = (this.length + 1) * this.width;
    if (need > this.buf.length) {
      const next = new this.ctor(Math.max(need, this.buf.length * 2));
      next.set(this.buf as never);
      this.buf = next;
    }
    for (let i = 0; i < this.width; i++) this.buf[this.length * this.width + i] = v[i]!;
    this.length++;
  }
  /** The filled part, trimmed to size (copies once). */
  finish(): T {
    return this.buf.slice(0, this.length * this.width) as T;
  }
}
