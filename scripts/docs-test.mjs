#!/usr/bin/env node
// The docs test: every fenced `ts`/`js` block of every Markdown document in the repository is
// type-checked as a module against the workspace's packages (built to dist/, as users get them),
// and the blocks marked `run` (```` ```ts run ````) are run with Node.
//
// - A fragment may use the names listed in scripts/docs/fragments.mjs (`app`, `resource`,
//   `verifier`, ...) without defining them; anything else must be imported or defined.
// - ```` ```ts continues ```` appends a block to the one before it in the same document: the
//   program so far plus this block must type-check (and run, when marked `run`).
// - `<!-- docs-test app=express -->` in a document types `app` and handlers as Express's.
// - A runnable block that listens on port 3000 gets a free port instead; the comment lines after
//   a `console.log(...)` are the output it must print (see check-blocks.mjs).
//
// Usage: node scripts/docs-test.mjs [path-substring ...]   (e.g. `fastify/README`)
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  consumerOptions,
  expectedOutput,
  freePort,
  freshDir,
  runUnits,
  typeCheck,
  withPort,
} from './docs/check-blocks.mjs'
import { prepareBlock } from './docs/fragments.mjs'
import { findDocs, isCodeBlock, readDoc } from './docs/markdown-blocks.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const only = process.argv.slice(2)
const work = freshDir(join(root, '.docs-test'))
const started = Date.now()

// Blocks import the packages as users do, through their exports (dist/).
execFileSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-b', ...workspaceTsconfigs()],
  {
    cwd: root,
    stdio: 'inherit',
  },
)
linkModules(join(work, 'node_modules'))
writeFileSync(join(work, 'package.json'), '{ "type": "module", "private": true }\n')

const units = []
for (const path of findDocs(root)) {
  if (only.length > 0 && !only.some((o) => path.includes(o))) continue
  const doc = readDoc(root, path)
  let previous
  for (const block of doc.blocks.filter(isCodeBlock)) {
    const continues = block.meta.includes('continues')
    if (continues && !previous)
      throw new Error(`${path}:${block.line}: "continues" needs a code block before it`)
    // Segments map lines of the assembled program back to the document.
    const segments = continues ? [...previous.segments] : []
    const code = continues ? `${previous.code}${block.code}` : block.code
    segments.push({ from: continues ? previous.code.split('\n').length - 1 : 0, docLine: block.line + 1 })
    const id = `${path}:${block.line}`
    const file = `${path.replace(/[^\w]+/g, '_')}_${block.line}.${block.lang.startsWith('j') || block.lang === 'mjs' ? 'js' : 'ts'}`
    const unit = {
      id,
      path,
      block,
      code,
      segments,
      file,
      run: block.meta.includes('run'),
      framework: doc.settings.app,
    }
    units.push(unit)
    previous = unit
  }
}

for (const unit of units) {
  if (unit.run) unit.port = await freePort()
  const code = unit.run ? withPort(unit.code, unit.port) : unit.code
  const { source, offset } = prepareBlock(code, unit.framework)
  unit.source = source
  unit.expected = unit.run ? expectedOutput(code) : []
  unit.where = (line) => {
    const at = line - 1 - offset
    const segment = unit.segments.findLast((s) => s.from <= at) ?? unit.segments[0]
    return `${unit.path}:${segment.docLine + at - segment.from}`
  }
}

const blocksDir = join(work, 'blocks')
mkdirSync(blocksDir)
const options = consumerOptions('node16', { skipLibCheck: true })
const failed = new Set()
let oldProgram
for (const path of new Set(units.map((u) => u.path))) {
  const docUnits = units.filter((u) => u.path === path)
  const result = typeCheck(blocksDir, docUnits, options, { emit: true, oldProgram })
  oldProgram = result.program
  for (const failure of result.failures) {
    failed.add(failure.id)
    console.log(`FAIL ${failure.message}`)
  }
  if (result.failures.length === 0) console.log(`ok   ${path} (${docUnits.length} blocks)`)
}

const ran = await runUnits(blocksDir, units, failed, (unit, error) => {
  failed.add(unit.id)
  console.log(`FAIL ${unit.id} (run): ${error}`)
})

const seconds = ((Date.now() - started) / 1000).toFixed(1)
console.log(
  `docs: ${units.length} blocks type-checked, ${ran} run, ${failed.size} failed (${findDocs(root).length} documents, ${seconds} s)`,
)
process.exit(failed.size === 0 ? 0 : 1)

function workspaceTsconfigs() {
  return ['packages', 'examples'].flatMap((group) =>
    readdirSync(join(root, group))
      .map((name) => join(group, name, 'tsconfig.json'))
      .filter((p) => existsSync(join(root, p))),
  )
}

/**
 * A node_modules for the blocks: every workspace package under its name, and every dependency any
 * workspace package has (first found wins), as symlinks. New packages and their dependencies are
 * found without a list.
 */
function linkModules(target) {
  mkdirSync(target, { recursive: true })
  const link = (name, to) => {
    const at = join(target, name)
    if (existsSync(at)) return
    mkdirSync(dirname(at), { recursive: true })
    symlinkSync(to, at, 'dir')
  }
  const workspaces = ['test', ...['examples', 'packages', 'bench'].flatMap((g) => listDirs(join(root, g)))]
    .map((p) => (p.startsWith('/') ? p : join(root, p)))
    .filter((p) => existsSync(join(p, 'package.json')))
  for (const dir of workspaces) link(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name, dir)
  for (const dir of [...workspaces, root]) {
    const modules = join(dir, 'node_modules')
    for (const name of listNames(modules)) link(name, join(modules, name))
  }
}

function listDirs(dir) {
  return existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => join(dir, e.name))
    : []
}

function listNames(modules) {
  if (!existsSync(modules)) return []
  return readdirSync(modules).flatMap((name) => {
    if (name.startsWith('.')) return []
    if (name.startsWith('@')) return readdirSync(join(modules, name)).map((n) => `${name}/${n}`)
    return [name]
  })
}
