// Explicit lifecycle of the objects that hold engine memory (Model, Detector,
// the native Trainer): dispose() frees it now, `await using` calls
// [Symbol.asyncDispose], and a call after that throws naming the object and the
// method. Garbage collection alone frees native memory late: V8 sees only a small
// wrapper object, not the hundreds of megabytes of weights behind it, so it has no
// reason to collect it soon. The FinalizationRegistry here is a backstop for
// objects dropped without dispose(), never the way memory is meant to go.

/** Thrown by a method of an object that was disposed. */
export class DisposedError extends Error {
  override name = 'DisposedError';
}

/**
 * Tracks whether an object was disposed and runs its release once: on
 * dispose(), or when the owner is garbage-collected without it.
 */
export class Lifecycle {
  private state: 'live' | 'disposed' = 'live';
  private static readonly backstop = new FinalizationRegistry<() => void>((release) => release());

  /**
   * `objectName` names the owner in errors ('Model', 'Detector', ...); `release`
   * frees its engine memory and must not refer to `owner` (else the owner could
   * never be collected).
   */
  constructor(
    owner: object,
    private readonly objectName: string,
    private readonly release: () => void,
  ) {
    Lifecycle.backstop.register(owner, release, this);
  }

  get disposed(): boolean {
    return this.state === 'disposed';
  }

  /** Throws a DisposedError naming `method` when the owner was disposed. */
  check(method: string): void {
    if (this.state === 'disposed')
      throw new DisposedError(`${this.objectName}.${method}: this ${this.objectName} was disposed (its engine memory is freed); create a new one`);
  }

  /** Releases once; later calls do nothing. */
  dispose(): void {
    if (this.state === 'disposed') return;
    this.state = 'disposed';
    Lifecycle.backstop.unregister(this);
    this.release();
  }
}
