// Measuring on a shared machine: CPU time around a piece of work, medians and ranges of batches,
// variants alternated batch by batch, and the load average that says how loaded the machine was.
import { loadavg } from 'node:os'

/** Process CPU time (user + system, all threads) spent while `work` runs, in µs. */
export async function cpuMicros(work) {
  const before = process.cpuUsage()
  await work()
  const used = process.cpuUsage(before)
  return used.user + used.system
}

/** The same for synchronous work, in µs. */
export function cpuMicrosSync(work) {
  const before = process.cpuUsage()
  work()
  const used = process.cpuUsage(before)
  return used.user + used.system
}

/** The median (the mean of the two middle values for an even count). */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** The value below which a share `q` of the values lie (0.5: the upper median). */
export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

/** `[lowest, highest]`. */
export const range = (values) => [Math.min(...values), Math.max(...values)]

/**
 * Runs `measure(subject)` for every subject, `batches` times, each other batch in reverse order
 * (load that drifts weighs on all subjects alike); pushes each figure to `subject.samples`.
 */
export async function alternate(subjects, batches, measure) {
  for (const subject of subjects) subject.samples ??= []
  for (let b = 0; b < batches; b++) {
    const order = b % 2 === 0 ? subjects : [...subjects].reverse()
    for (const subject of order) subject.samples.push(await measure(subject, b))
  }
}

/** The 1, 5 and 15 minute load averages, as `uptime` prints them. */
export const loadAverage = () => loadavg().map((value) => value.toFixed(2))

/** Heap bytes in use after full collections (needs `node --expose-gc`). */
export function heapAfterGc() {
  globalThis.gc()
  globalThis.gc()
  return process.memoryUsage().heapUsed
}

/** Exits with the command to use when the script was started without `--expose-gc`. */
export function requireGc(command) {
  if (typeof globalThis.gc === 'function') return
  console.error(`run with ${command}`)
  process.exit(2)
}

/** The least-squares slope of `[x, y]` points (y per unit of x); 0 with fewer than two or one x. */
export function slopePerMinute(points) {
  if (points.length < 2) return 0
  const n = points.length
  const mx = points.reduce((s, [x]) => s + x, 0) / n
  const my = points.reduce((s, [, y]) => s + y, 0) / n
  let num = 0
  let den = 0
  for (const [x, y] of points) {
    num += (x - mx) * (y - my)
    den += (x - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}
