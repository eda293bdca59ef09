import { OptionsError } from '../support/options.js'
import { MemoryDenyList, type MemoryDenyListOptions } from './deny-list.js'

/**
 * A deny list in this process's memory (see `MemoryDenyList`): the factory named like every other
 * of Portcullis's (`jwtVerifier`, `redisDenyList`, `attemptLimiter`), for a single instance.
 *
 * @example
 * const denyList = memoryDenyList()
 * await app.register(portcullis, { resource, authorizationServers, verifier, denyList })
 * denyList.add(revocationOf({ token }, { defaultTtl: 3600 }))
 */
export function memoryDenyList(options: MemoryDenyListOptions = {}): MemoryDenyList {
  try {
    return new MemoryDenyList(options)
  } catch (error) {
    // Errors name what the caller called.
    throw error instanceof OptionsError ? error.relabel('memoryDenyList') : error
  }
}
