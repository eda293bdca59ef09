#!/usr/bin/env node
// A smoke run of the benchmarks: each command bench/README.md takes its figures from, at the
// smallest sizes, so a bench that no longer starts, serves or reports fails CI instead of the next
// person who measures. No figure is judged (on a shared machine at these sizes they mean nothing);
// what is checked is that each command exits 0, prints the rows it exists to print, and that
// every HTTP scenario served its requests without a wrong status, an error or a timeout.
//
//   node scripts/bench-smoke.mjs            # about 2.5 minutes; builds the packages the benches import
//   node scripts/bench-smoke.mjs --list     # the commands, without running them
//   node scripts/bench-smoke.mjs --only soak   # the build and the steps whose description names soak
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const RESULTS = join(ROOT, 'bench/results')
const node = process.execPath
// Where cold-steps writes its profiles for the profile tools to read; made when the steps run.
const profiles = join(tmpdir(), `bench-smoke-${process.pid}`)

/** Every HTTP scenario of the run whose JSON is `file` served requests, all answered as expected. */
function checkHttpResults(file) {
  const { scenarios } = JSON.parse(readFileSync(file, 'utf8'))
  const problems = []
  for (const s of scenarios) {
    if (s.error !== undefined) problems.push(`${s.name}: ${s.error}`)
    else if (!(s.requests > 0)) problems.push(`${s.name}: no request answered`)
    else if (s.problems.length > 0) problems.push(`${s.name}: ${s.problems.join('; ')}`)
    for (const run of s.runs ?? []) {
      if (run.non2xx > 0 || run.errors > 0 || run.timeouts > 0) {
        problems.push(
          `${s.name}: ${run.non2xx} wrong statuses, ${run.errors} errors, ${run.timeouts} timeouts`,
        )
      }
    }
  }
  if (scenarios.length < 30) problems.push(`only ${scenarios.length} scenarios ran`)
  return problems
}

// The newest HTTP results (http.mjs writes one JSON per run), named in a step's arguments.
const NEWEST_HTTP_JSON = '<the newest bench/results/http-*.json>'
const newestHttpJson = () => {
  if (!existsSync(RESULTS)) return undefined
  const names = readdirSync(RESULTS).filter((name) => name.startsWith('http-') && name.endsWith('.json'))
  return names.length === 0 ? undefined : join(RESULTS, names.sort().at(-1))
}

// Each step: what it measures; node and its arguments (or `command`, a script node runs, such as
// tsc); `env`; lines its output must contain; `check`, problems found in what it wrote.
const STEPS = [
  {
    what: 'the build of the packages the benches import (tsc -b)',
    command: join(ROOT, 'node_modules/typescript/bin/tsc'),
    args: [
      '-b',
      ...['core', 'fastify', 'express', 'redis', 'client', 'dev-idp'].map(
        (p) => `packages/${p}/tsconfig.json`,
      ),
    ],
    expect: [],
  },
  {
    what: 'every HTTP scenario (http.mjs)',
    args: ['bench/http.mjs', '--duration', '1', '--warmup', '0', '--warmup-requests', '0', '--no-build'],
    expect: [
      '| Fastify, bare route |',
      "| Fastify + Portcullis, distinct tokens, signatureCheck 'thread-pool' |",
      '| MCP tools/call, same + Portcullis mcpRoute (warm) |',
      '| Fastify + Portcullis (JWT) + Redis deny list and limiter, distinct tokens, two processes |',
      '| Portcullis warm / bare Fastify |',
    ],
    check: () => {
      const file = newestHttpJson()
      return file === undefined ? ['it wrote no results'] : checkHttpResults(file)
    },
  },
  {
    what: 'the HTTP tables again from the JSON (http-report.mjs)',
    args: ['bench/http-report.mjs', NEWEST_HTTP_JSON],
    expect: ['| Fastify + Portcullis, one token (warm) |', '| Portcullis warm / bare Fastify |'],
  },
  {
    what: 'warm ratios, servers loaded in turn (http-interleaved.mjs)',
    args: [
      'bench/http-interleaved.mjs',
      '--only',
      'express-bare,express-portcullis-warm',
      '--sets',
      '1',
      '--slices',
      '2',
      '--slice',
      '0.2',
      '--warmup',
      '0',
      '--warmup-requests',
      '200',
    ],
    expect: ['| Express 5 + Portcullis, one token (warm) |', '| Express + Portcullis / bare Express |'],
  },
  {
    what: 'the cold path against the raw verify (cold-path.mjs)',
    args: [
      'bench/cold-path.mjs',
      '--algs',
      'ES256,RS256,EdDSA',
      '--batches',
      '1',
      '--requests',
      '50',
      '--variants',
      'bare,raw-hook,min-verifier,rules-verifier,event-loop,thread-pool',
    ],
    expect: ['| ES256 |', '| RS256 |', '| EdDSA |'],
  },
  {
    what: 'a new token step by step and by profile (cold-steps.mjs)',
    args: [
      'bench/cold-steps.mjs',
      '--algs',
      'ES256',
      '--batches',
      '1',
      '--tokens',
      '20',
      '--profiles',
      '1',
      '--profile-tokens',
      '50',
      '--cpu-prof',
      profiles,
    ],
    expect: [
      '| gate (new token) |',
      '| rules-verifier |',
      '| gate, signature not checked |',
      '| min-verifier |',
    ],
  },
  {
    what: 'a profile by line (profile-lines.mjs)',
    args: ['bench/profile-lines.mjs', profiles],
    expect: ['| function (self time) | share |'],
  },
  {
    what: 'two profiles against each other (profile-diff.mjs)',
    args: [
      'bench/profile-diff.mjs',
      '--skip-ms',
      '0',
      profiles,
      'steps-ES256-rules-verifier:100',
      'steps-ES256-gate:110',
    ],
    expect: ['| where the code is |'],
  },
  {
    what: 'the warm hit path in-process (hit-path-variants.mjs)',
    args: ['bench/hit-path-variants.mjs', '--batches', '1', '--requests', '50'],
    env: { VARIANTS: 'bare,portcullis,express-bare,express-portcullis' },
    expect: ['| express-portcullis |', '| portcullis |'],
  },
  {
    what: 'MCP overhead (mcp-overhead.mjs)',
    args: ['bench/mcp-overhead.mjs', '--batches', '1', '--requests', '20'],
    expect: ['| mcp-portcullis |'],
  },
  {
    what: 'memory per remembered outcome (memory.mjs)',
    nodeArgs: ['--expose-gc'],
    args: ['bench/memory.mjs', '--entries', '200'],
    expect: ['`jwtVerifier`, verified token', '`introspectionVerifier`, active answer'],
  },
  {
    what: 'a full LruCache per insert (cache-eviction.mjs)',
    args: ['bench/cache-eviction.mjs', '--inserts', '2000'],
    expect: [],
  },
  {
    what: 'token verification on one thread (core-verify.mjs, bench:core)',
    args: ['bench/core-verify.mjs'],
    env: { BENCH_BUDGET_MS: '300' },
    expect: ['RS256', 'ES256', 'EdDSA'],
  },
  {
    what: 'DPoP against Bearer (dpop.mjs, bench:dpop)',
    args: ['bench/dpop.mjs'],
    env: { BENCH_REQUESTS: '200', BENCH_ROUNDS: '1' },
    expect: ['| bearer |', '| dpop   |'],
  },
  {
    what: 'the client: authFetch and the refresh storm (client-auth-fetch.mjs, bench:client)',
    args: ['bench/client-auth-fetch.mjs'],
    env: { BENCH_BUDGET_MS: '300', BENCH_STORM: '50' },
    expect: ['target exactly 1: met'],
  },
  {
    what: 'heap bytes per cached authentication (telemetry-alloc.mjs, bench:telemetry)',
    nodeArgs: ['--expose-gc', '--min-semi-space-size=256', '--max-semi-space-size=256'],
    args: ['bench/telemetry-alloc.mjs'],
    env: { CALLS: '500' },
    expect: ['heap bytes per cached authentication'],
  },
  {
    what: 'what an options object costs the MCP transport (object-shapes.mjs)',
    args: ['bench/object-shapes.mjs', '--runs', '1', '--count', '1000'],
    expect: ['| { ...options, ...settings } |'],
  },
  {
    what: 'the soak run, every answer checked (soak.mjs)',
    args: ['bench/soak.mjs', '--duration', '3', '--rate', '200', '--distinct', '500', '--no-build'],
    expect: ['| errors (wrong status, 5xx, connection) | 0 |'],
  },
]

if (process.argv.includes('--list')) {
  for (const step of STEPS) {
    const command = ['node', ...(step.nodeArgs ?? []), ...(step.command ? [step.command] : []), ...step.args]
    console.log(`${step.what}:\n  ${command.join(' ')}`)
  }
  process.exit(0)
}

// `--only <text>`: the build, and the steps whose description contains the text.
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined
const chosen = STEPS.filter((step, i) => i === 0 || only === undefined || step.what.includes(only))

mkdirSync(profiles, { recursive: true })
const failures = []
for (const step of chosen) {
  const started = performance.now()
  const args = step.args.map((arg) => (arg === NEWEST_HTTP_JSON ? (newestHttpJson() ?? arg) : arg))
  const result = spawnSync(
    node,
    [...(step.nodeArgs ?? []), ...(step.command ? [step.command] : []), ...args],
    {
      cwd: ROOT,
      env: { ...process.env, ...step.env },
      encoding: 'utf8',
      maxBuffer: 64 * 2 ** 20,
      timeout: 10 * 60_000,
    },
  )
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`
  const problems = []
  if (result.error !== undefined) problems.push(String(result.error))
  if (result.status !== 0) problems.push(`exited with ${result.status ?? result.signal}`)
  for (const line of step.expect) if (!output.includes(line)) problems.push(`no "${line}" in its output`)
  if (problems.length === 0 && step.check !== undefined) problems.push(...step.check())
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  console.log(`bench smoke: ${problems.length === 0 ? 'ok  ' : 'FAIL'} ${step.what} (${seconds} s)`)
  if (problems.length > 0) {
    failures.push(step.what)
    for (const problem of problems) console.log(`  ${problem}`)
    console.log(output.split('\n').slice(-40).join('\n'))
  }
}
rmSync(profiles, { recursive: true, force: true })
console.log(`bench smoke: ${chosen.length - failures.length} of ${chosen.length} ran as expected`)
process.exit(failures.length === 0 ? 0 : 1)
