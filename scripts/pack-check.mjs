#!/usr/bin/env node
// The packages as users get them: every publishable package under packages/ is packed with pnpm
// (which turns `workspace:*` into versions), the tarballs are checked (LICENSE, README, metadata,
// every file the exports, bin, types and source maps name), then installed with npm into a plain
// project in a temporary directory, outside the workspace. There each package's README quick start
// (the first code block under a "Quick start" heading, else the README's first code block) is
// type-checked with `moduleResolution` `node16` and `bundler`, `skipLibCheck: false`, and the ones
// marked `run` are run (a server is started, hit once by the block itself, stopped).
//
// Needs the npm registry for third-party dependencies; nothing else.
// Usage: node scripts/pack-check.mjs [--keep]   (--keep leaves the temporary project for a look)
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  consumerOptions,
  expectedOutput,
  freePort,
  runUnits,
  typeCheck,
  withPort,
} from './docs/check-blocks.mjs'
import { prepareBlock } from './docs/fragments.mjs'
import { docSettings, extractBlocks, isCodeBlock } from './docs/markdown-blocks.mjs'
import { checkTarball, listTarball } from './pack/tarball-rules.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const keep = process.argv.includes('--keep')
const started = Date.now()
const failures = []
const fail = (where, message) => {
  failures.push(`${where}: ${message}`)
  console.log(`FAIL ${where}: ${message}`)
}

const packages = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name))
  .filter((dir) => existsSync(join(dir, 'package.json')))
  .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter((p) => !p.manifest.private)

// Released together: every publishable package is in the changesets fixed group.
const fixed = JSON.parse(readFileSync(join(root, '.changeset/config.json'), 'utf8')).fixed?.[0] ?? []
for (const pkg of packages)
  if (!fixed.includes(pkg.manifest.name))
    fail(
      pkg.manifest.name,
      'not in the "fixed" group of .changeset/config.json: it would not be versioned with the others',
    )

const work = mkdtempSync(join(tmpdir(), 'portcullis-pack-'))
const tarballs = join(work, 'tarballs')
const project = join(work, 'project')
mkdirSync(tarballs)
mkdirSync(project)

try {
  execFileSync(
    process.execPath,
    [
      join(root, 'node_modules/typescript/bin/tsc'),
      '-b',
      ...packages.map((p) => join(p.dir, 'tsconfig.json')),
    ],
    {
      cwd: root,
      stdio: 'inherit',
    },
  )

  // 1. Pack with pnpm (one run for every package), and check each tarball.
  execFileSync(
    'npx',
    [
      '-y',
      'pnpm@10',
      '-r',
      ...packages.flatMap((p) => ['--filter', p.manifest.name]),
      'pack',
      '--pack-destination',
      tarballs,
    ],
    { cwd: root, stdio: 'pipe' },
  )
  const license = readFileSync(join(root, 'LICENSE'), 'utf8')
  for (const pkg of packages) {
    // pnpm names a tarball <scope>-<name>-<version>.tgz.
    const made = `${pkg.manifest.name.replace(/^@/, '').replace('/', '-')}-${pkg.manifest.version}.tgz`
    if (!existsSync(join(tarballs, made))) {
      fail(pkg.manifest.name, `pnpm pack made no ${made}`)
      continue
    }
    pkg.tarball = join(tarballs, made)
    const files = listTarball(pkg.tarball)
    for (const problem of checkTarball(pkg.tarball, files, license)) fail(pkg.manifest.name, problem)
    console.log(`packed ${pkg.manifest.name}: ${made}, ${files.length} files`)
  }

  // 2. Install the tarballs with npm into a plain ESM project, with what the quick starts import.
  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2)}\n`,
  )
  const thirdParty = ['fastify@5', 'express@5', '@types/express@5', '@types/node@20']
  execFileSync(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      ...packages.filter((p) => p.tarball).map((p) => p.tarball),
      ...thirdParty,
    ],
    { cwd: project, stdio: 'inherit' },
  )
  console.log(`installed ${packages.length} tarballs with npm into ${project}`)

  // 3. Each README quick start, from the installed package, type-checked under both resolutions.
  const units = []
  for (const pkg of packages) {
    const readme = join(project, 'node_modules', pkg.manifest.name, 'README.md')
    if (!existsSync(readme)) continue // reported by the tarball rules
    const markdown = readFileSync(readme, 'utf8')
    const blocks = extractBlocks(markdown).filter(isCodeBlock)
    const block = blocks.find((b) => /quick start/i.test(b.heading)) ?? blocks[0]
    if (!block) {
      fail(pkg.manifest.name, 'the README has no ts code block to use as the quick start')
      continue
    }
    const run = block.meta.includes('run')
    const code = run ? withPort(block.code, await freePort()) : block.code
    const { source, offset } = prepareBlock(code, docSettings(markdown).app)
    const name = pkg.manifest.name.replace(/^@portcullis\//, '')
    units.push({
      id: `${pkg.manifest.name} README.md:${block.line}`,
      file: `quick-start-${name}.ts`,
      source,
      run,
      expected: run ? expectedOutput(code) : [],
      where: (line) => `${pkg.manifest.name} README.md:${block.line + line - offset}`,
    })
  }
  // One program per resolution: with skipLibCheck off, most of the time goes to checking the
  // installed declarations, which all quick starts share.
  const typeRoots = [join(project, 'node_modules/@types')]
  const failed = new Set()
  for (const resolution of ['node16', 'bundler']) {
    const options = consumerOptions(resolution, { typeRoots })
    const result = typeCheck(project, units, options, { emit: resolution === 'node16' })
    for (const failure of result.failures) {
      failed.add(failure.id)
      fail(`${failure.message} [${resolution}]`, 'type error')
    }
    for (const unit of units) if (!failed.has(unit.id)) console.log(`ok   ${unit.id} [${resolution}]`)
  }

  // 4. Run the runnable ones.
  const ran = await runUnits(project, units, failed, (unit, error) => fail(`${unit.id} (run)`, error))

  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  console.log(
    `pack: ${packages.length} packages packed and installed with npm, ${units.length} quick starts type-checked (node16, bundler), ${ran} run, ${failures.length} failures (${seconds} s)`,
  )
} finally {
  if (keep) console.log(`kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
}
process.exit(failures.length === 0 ? 0 : 1)
