// Type-checks prepared doc blocks as one TypeScript program and runs the runnable ones.
import { spawn } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import ts from 'typescript'

/** Compiler options of a consumer's ESM project; `resolution` is `node16` or `bundler`. */
export function consumerOptions(resolution, overrides = {}) {
  const bundler = resolution === 'bundler'
  return {
    target: ts.ScriptTarget.ES2022,
    module: bundler ? ts.ModuleKind.ESNext : ts.ModuleKind.Node16,
    moduleResolution: bundler ? ts.ModuleResolutionKind.Bundler : ts.ModuleResolutionKind.Node16,
    lib: ['lib.es2023.d.ts'],
    types: ['node'],
    strict: true,
    skipLibCheck: false,
    allowJs: true,
    checkJs: true,
    esModuleInterop: true,
    ...overrides,
  }
}

const format = (diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')

/**
 * Type-checks `units` (`{ id, file, source, where(line) }`) written under `dir`; returns the
 * failures as `{ id, message }`, each placed at its line in the document, and the program (give it
 * as `oldProgram` to the next call to reuse what did not change). With `emit`, writes the JavaScript
 * to `out/` (for running the blocks that passed). Each call is one program: a global declaration one document's imports
 * bring in (the MCP SDK's `req.auth?` on Express) must not change how another document checks.
 */
export function typeCheck(dir, units, options, { emit = false, oldProgram } = {}) {
  for (const unit of units) writeFileSync(join(dir, unit.file), unit.source)
  const program = ts.createProgram({
    rootNames: units.map((u) => join(dir, u.file)),
    options: { ...options, noEmit: !emit, outDir: emit ? join(dir, 'out') : undefined, rootDir: dir },
    oldProgram,
  })
  const failures = []
  const byFile = new Map(units.map((u) => [join(dir, u.file), u]))
  const diagnostics = ts.getPreEmitDiagnostics(program)
  for (const diagnostic of diagnostics) {
    const unit = diagnostic.file ? byFile.get(diagnostic.file.fileName) : undefined
    if (!unit) {
      failures.push({
        id: diagnostic.file?.fileName ?? 'program',
        message: `TS${diagnostic.code} ${format(diagnostic)}`,
      })
      continue
    }
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0)
    failures.push({
      id: unit.id,
      message: `${unit.where(line + 1)}: TS${diagnostic.code} ${format(diagnostic)}`,
    })
  }
  if (emit) program.emit()
  return { failures, program }
}

/** A free loopback port, for blocks that listen on a fixed one. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Port 3000 in a block (`:3000`, `port: 3000`, `listen(3000`) becomes `port`, so runs do not collide. */
export const withPort = (code, port) => code.replace(/(?<=[:(]\s?)3000(?!\d)/g, String(port))

/**
 * What a block promises to print: the comment lines right after a `console.log(...)` line,
 * joined, whitespace collapsed (`// 403 Bearer error="insufficient_scope", ...`).
 */
export function expectedOutput(code) {
  const lines = code.split('\n')
  const expected = []
  for (let i = 0; i < lines.length; i++) {
    if (!/console\.log\(/.test(lines[i])) continue
    const comment = []
    for (let j = i + 1; j < lines.length && /^\s*\/\/ /.test(lines[j]); j++)
      comment.push(lines[j].replace(/^\s*\/\/ /, ''))
    if (comment.length > 0) expected.push(squash(comment.join(' ')))
  }
  return expected
}

const squash = (text) => text.replace(/\s+/g, ' ').trim()

/**
 * Runs a compiled block with Node. It passes when it exits 0 having printed what its comments
 * promise, or as soon as it has printed all of that (a block that starts a server is then
 * stopped). It fails on a non-zero exit, on output that differs, or after `timeoutMs`.
 */
export function runBlock(file, { expected = [], cwd, timeoutMs = 60_000, env = {} } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let settled = false
    const finish = (error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (child.exitCode === null) child.kill('SIGKILL')
      resolve(error)
    }
    const met = () => {
      let at = 0
      const out = squash(stdout)
      for (const text of expected) {
        const found = out.indexOf(text, at)
        if (found === -1) return false
        at = found + text.length
      }
      return true
    }
    const timer = setTimeout(
      () =>
        finish(
          `no result after ${timeoutMs} ms; stdout: ${stdout.slice(-500)} stderr: ${stderr.slice(-500)}`,
        ),
      timeoutMs,
    )
    child.stdout.on('data', (chunk) => {
      stdout += chunk
      if (expected.length > 0 && met()) finish(undefined)
    })
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    child.on('exit', (code, signal) => {
      // Let the last output arrive before judging.
      setImmediate(() => {
        if (settled) return
        if (code !== 0)
          return finish(`exited with ${code ?? signal}: ${stderr.slice(-2000) || stdout.slice(-2000)}`)
        if (!met())
          return finish(`printed ${JSON.stringify(squash(stdout))}, the doc says ${JSON.stringify(expected)}`)
        finish(undefined)
      })
    })
  })
}

export function freshDir(dir) {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  return dir
}

/**
 * Runs the runnable units that type-checked, one after the other, from `dir/out/`; calls
 * `onFailure(unit, error)` for each that fails and returns how many ran.
 */
export async function runUnits(dir, units, skip, onFailure) {
  let ran = 0
  for (const unit of units.filter((u) => u.run && !skip.has(u.id))) {
    const error = await runBlock(join(dir, 'out', unit.file.replace(/\.ts$/, '.js')), {
      expected: unit.expected,
      cwd: dir,
    })
    ran++
    if (error) onFailure(unit, error)
    else console.log(`ran  ${unit.id}${unit.expected.length ? ' (output as documented)' : ''}`)
  }
  return ran
}
