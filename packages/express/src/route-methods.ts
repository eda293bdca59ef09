import { addRouteMethods } from '@portcullis/core/adapter'
import type { Request } from 'express'
import { forEachRouteAt } from './express-compat.js'

/**
 * The methods the application's routes accept at the path of `req`, for a preflight's
 * `Access-Control-Allow-Methods`, by core's rule (`addRouteMethods`: the same header as the
 * Fastify adapter's). A middleware cannot ask Express which routes exist, so this reads the
 * router's stack through `express-compat.ts` (Express 4 and 5). Anything unexpected gives
 * `undefined` and the caller falls back to `FALLBACK_METHODS`: only the CORS answer depends on
 * it, never whether a request is authenticated.
 */
export function routeMethods(req: Request): string[] | undefined {
  try {
    const methods: string[] = []
    const found = forEachRouteAt(req.app, dispatchPath(req), (route) => {
      const declared = Object.keys(route).filter((name) => route[name] === true)
      // `app.all()`: Express 4 marks it `_all` (Express 5 registers every method Node knows).
      addRouteMethods(methods, declared, declared.includes('_all'))
    })
    return !found || methods.length === 0 ? undefined : methods
  } catch {
    return undefined
  }
}

/**
 * The path the Express router dispatches `req` on, from the root: `req.path` is the router's own
 * parse of the target (`parseurl`, Express 4 and 5), so a fragment (`/admin#.css`), the
 * absolute form (`http://host/admin`) and the query are dropped exactly as the router drops them,
 * and nothing is decoded or normalised that the router keeps. `req.baseUrl` adds back the mount
 * path of a middleware mounted under one. Whatever decides "public or protected" must look at
 * this path, never at the raw target (`req.originalUrl`).
 */
export function dispatchPath(req: Request): string {
  return `${req.baseUrl ?? ''}${req.path ?? ''}`
}
