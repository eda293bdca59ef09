// The packages a bench measures: the built ones of this checkout (`tsc -b` first; the scripts import
// dist/, not sources), and, when PORTCULLIS_BASELINE names another checkout whose packages are built,
// the same packages from there, so a script can load before and after in the same batches.
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const ROOT = new URL('../../', import.meta.url)

/** The built package `name` (core, fastify, express, redis) of this checkout. */
export const thisBuild = (name) => import(new URL(`packages/${name}/dist/index.js`, ROOT).href)

/** The built package `name` of the PORTCULLIS_BASELINE checkout, or undefined without one. */
export function baselineBuild(name) {
  const dir = process.env.PORTCULLIS_BASELINE
  if (dir === undefined || dir === '') return undefined
  return import(pathToFileURL(`${dir}/packages/${name}/dist/index.js`).href)
}

/**
 * The Express the PORTCULLIS_BASELINE checkout's `@portcullis/express` resolves (its own install, so
 * its own module), or undefined without one. Portcullis defines `req.auth` once on the request
 * prototype of the Express copy it meets first; a second build in the same process meeting the same
 * copy finds `auth` taken and writes `req.auth` on every request, which it would not do alone.
 */
export function baselineExpress() {
  const dir = process.env.PORTCULLIS_BASELINE
  if (dir === undefined || dir === '') return undefined
  return createRequire(`${dir}/packages/express/package.json`)('express')
}

/** `{ this: module, baseline: module | undefined }` for each of `names`. */
export async function builds(...names) {
  const entries = await Promise.all(
    names.map(async (name) => [name, { this: await thisBuild(name), baseline: await baselineBuild(name) }]),
  )
  return Object.fromEntries(entries)
}

/** Exits with a clear line when a variant asks for the baseline and there is none. */
export function needBaseline(what) {
  if (process.env.PORTCULLIS_BASELINE) return
  console.error(`${what} needs PORTCULLIS_BASELINE=<a checkout whose packages are built>`)
  process.exit(2)
}
