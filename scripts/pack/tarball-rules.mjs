// What a published tarball must hold, checked on the file pnpm pack made.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'

const REQUIRED_FIELDS = [
  'description',
  'keywords',
  'repository',
  'homepage',
  'bugs',
  'license',
  'engines',
  'sideEffects',
  'files',
]
const DEPENDENCY_FIELDS = ['dependencies', 'peerDependencies', 'optionalDependencies']

/** The files of a tarball, without the leading `package/`. */
export function listTarball(tarball) {
  return execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.startsWith('package/') && !line.endsWith('/'))
    .map((line) => line.slice('package/'.length))
}

/** Every problem with a tarball, as sentences; none means it is fit to publish. */
export function checkTarball(tarball, files, license) {
  const dir = `${tarball}.d`
  mkdirSync(dir, { recursive: true })
  execFileSync('tar', ['xzf', tarball, '-C', dir])
  const at = (path) => join(dir, 'package', path)
  const has = (path) => files.includes(normalize(path).replace(/^\.\//, ''))
  const problems = []
  const manifest = JSON.parse(readFileSync(at('package.json'), 'utf8'))

  if (!has('LICENSE')) problems.push('no LICENSE in the tarball')
  else if (readFileSync(at('LICENSE'), 'utf8') !== license)
    problems.push("LICENSE differs from the repository's")
  if (!has('README.md')) problems.push('no README.md in the tarball')
  for (const field of REQUIRED_FIELDS)
    if (manifest[field] === undefined) problems.push(`package.json has no "${field}"`)
  if (Array.isArray(manifest.keywords) && manifest.keywords.length === 0)
    problems.push('package.json has no keywords')
  if (manifest.license !== 'MIT') problems.push(`license is ${manifest.license}, not MIT`)
  if (!manifest.engines?.node) problems.push('engines.node is not set')
  if (manifest.type !== 'module') problems.push('"type" is not "module"')

  // pnpm pack rewrites workspace ranges; npm refuses any that is left (EUNSUPPORTEDPROTOCOL).
  for (const field of DEPENDENCY_FIELDS)
    for (const [name, range] of Object.entries(manifest[field] ?? {}))
      if (/^(workspace|link|file):/.test(range)) problems.push(`${field}.${name} is "${range}"`)

  // Every path the manifest names must be in the tarball: exports (each condition), types, bin.
  const targets = []
  const collect = (value, where) => {
    if (typeof value === 'string') targets.push([value, where])
    else if (value && typeof value === 'object')
      for (const [k, v] of Object.entries(value)) collect(v, `${where}[${JSON.stringify(k)}]`)
  }
  collect(manifest.exports, 'exports')
  collect(manifest.types, 'types')
  collect(manifest.main, 'main')
  collect(typeof manifest.bin === 'string' ? { [manifest.name]: manifest.bin } : manifest.bin, 'bin')
  for (const [path, where] of targets)
    if (!has(path)) problems.push(`${where} names ${path}, which is not in the tarball`)

  // Source maps and declaration maps must point at shipped sources.
  for (const file of files.filter((f) => f.endsWith('.map'))) {
    const map = JSON.parse(readFileSync(at(file), 'utf8'))
    for (const source of map.sources ?? []) {
      const resolved = normalize(join(dirname(file), map.sourceRoot ?? '', source))
      if (!files.includes(resolved))
        problems.push(`${file} points at ${resolved}, which is not in the tarball`)
    }
  }
  for (const file of files) {
    if (/(^|\/)test\/|\.test\.|\.tsbuildinfo$|(^|\/)node_modules\//.test(file))
      problems.push(`${file} should not be published`)
  }
  if (!existsSync(at('package.json'))) problems.push('no package.json')
  return problems
}
