/** True for a promise or any other thenable: what may be awaited rather than used at once. */
export const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as { then?: unknown } | null)?.then === 'function'
