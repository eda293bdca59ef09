// Taking V8 CPU profiles in-process (`cpuProfile`) and reading them (`.cpuprofile`, the inspector's
// `Profiler.stop`): each sample is charged to the nearest frame, from the sample up, that a
// classifier names.
import { readdirSync, statSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { join } from 'node:path'

/** The `.cpuprofile` files named by `inputs`: files as given, directories by their profiles. */
export const profileFiles = (inputs) =>
  inputs.flatMap((input) =>
    statSync(input).isDirectory()
      ? readdirSync(input)
          .filter((name) => name.endsWith('.cpuprofile'))
          .map((name) => join(input, name))
      : [input],
  )

/** Whether a frame's script is Portcullis's own code: a package's build, `packages/<name>/dist`. */
export const isPortcullisUrl = (url) => /\/packages\/[\w-]+\/dist\//.test(url)

/**
 * For a profile and `classify(callFrame)` (a name, or `undefined` to ask the caller's frame):
 * `classOf(nodeId)`, memoized, `rootClass` when no frame up to the root is named; and
 * `nearest(nodeId, test)`, the nearest call frame (from the node up) that passes `test`.
 */
export function profileClasses(profile, classify, rootClass) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const known = new Map()
  const classOf = (id) => {
    if (known.has(id)) return known.get(id)
    const own = classify(nodes.get(id).callFrame)
    const up = parent.get(id)
    const found = own ?? (up === undefined ? rootClass : classOf(up))
    known.set(id, found)
    return found
  }
  const nearest = (id, test) => {
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const frame = nodes.get(at).callFrame
      if (test(frame)) return frame
    }
    return undefined
  }
  return { classOf, nearest }
}

/** Counts of `profile.samples` by `classOf` (samples, not time deltas: the last carries the wait for the stop). */
export function countSamples(samples, classOf) {
  const counts = new Map()
  for (const id of samples) {
    const name = classOf(id)
    counts.set(name, (counts.get(name) ?? 0) + 1)
  }
  return counts
}

/**
 * A V8 CPU profile of `work` (sync or async) in this process, sampled every `interval` µs; returns
 * `{ profile, result }`, `result` being what `work` returned.
 */
export async function cpuProfile(work, interval = 100) {
  const session = new Session()
  session.connect()
  try {
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval })
    await session.post('Profiler.start')
    const result = await work()
    const { profile } = await session.post('Profiler.stop')
    return { profile, result }
  } finally {
    session.disconnect()
  }
}
