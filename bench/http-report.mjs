// The HTTP bench's report: the scenario table (medians and ranges over rounds), one process against
// two, the ratios the issue targets (by req/s and by server CPU, with the CPU ratio's range over
// rounds), and what DPoP costs over Bearer. http.mjs prints it at the end of a run; this file also
// prints it again from a run's JSON (with this file's tables, for runs made before a change here):
//
//   node bench/http-report.mjs bench/results/http-<time>.json
import { pathToFileURL } from 'node:url'
import { printTwoProcessTable } from './http-two-processes.mjs'
import { median, range } from './lib/measure.mjs'
import { fmtInt } from './lib/table.mjs'

export function computeRatios(results) {
  const byName = new Map(results.filter((r) => r.rps !== undefined).map((r) => [r.name, r]))
  const ratio = (name, label, over, under, target, kind = 'atLeast') => {
    const a = byName.get(over)
    const b = byName.get(under)
    if (a === undefined || b === undefined) return undefined
    // Throughput ratio from req/s, and the same ratio from server CPU per request (b's cost over a's),
    // which holds up better when other work on the machine takes CPU away from the servers.
    const throughput = a.rps / b.rps
    const cpu =
      a.cpuUsPerRequest > 0 && b.cpuUsPerRequest > 0 ? b.cpuUsPerRequest / a.cpuUsPerRequest : undefined
    const value = kind === 'overhead' ? 1 - throughput : throughput
    const byCpu = cpu === undefined ? undefined : kind === 'overhead' ? 1 - cpu : cpu
    const meets = (v) => (kind === 'overhead' ? v <= target : v >= target)
    // The same CPU ratio round by round (round i of one against round i of the other): its range.
    const perRound = a.runs
      .map((run, i) => b.runs[i]?.cpuUsPerRequest / run.cpuUsPerRequest)
      .filter((v) => Number.isFinite(v))
      .map((v) => (kind === 'overhead' ? 1 - v : v))
    return {
      name,
      label,
      value,
      byCpu,
      byCpuRange: perRound.length > 1 ? range(perRound) : undefined,
      // Each round pairs two runs made one after the other: on a machine whose speed drifts, the
      // median of those ratios is steadier than the ratio of two medians.
      byCpuPerRound: perRound.length > 1 ? median(perRound) : undefined,
      target,
      kind,
      met: meets(value),
      metByCpu: byCpu === undefined ? undefined : meets(byCpu),
    }
  }
  return [
    ratio('warm-vs-bare-fastify', 'Portcullis warm / bare Fastify', 'portcullis-warm', 'fastify-bare', 0.85),
    ratio(
      'warm-vs-bare-fastify-same-request',
      'Portcullis warm / bare Fastify sent the same request',
      'portcullis-warm',
      'fastify-bare-bearer',
      0.85,
    ),
    // No target: the floor (a Map lookup in a hook) against bare says how much of the 15 % any
    // remembering auth layer takes; Portcullis against the floor, what Portcullis adds to it.
    ratio(
      'floor-vs-bare-fastify',
      'The floor warm / bare Fastify',
      'fastify-floor-warm',
      'fastify-bare',
      0.85,
    ),
    ratio(
      'warm-vs-floor-fastify',
      'Portcullis warm / the floor warm',
      'portcullis-warm',
      'fastify-floor-warm',
      0.85,
    ),
    ratio('warm-vs-express-sdk', 'Portcullis warm / Express + SDK', 'portcullis-warm', 'express-sdk', 5),
    ratio('cold-vs-jose-hook', 'Portcullis cold / jose hook', 'portcullis-cold', 'jose-hook', 2),
    ratio('mcp-overhead', 'MCP overhead of Portcullis', 'mcp-portcullis', 'mcp-bare', 0.1, 'overhead'),
    ratio(
      'mcp-overhead-same-request',
      'MCP overhead of Portcullis, the bare route sent the same request',
      'mcp-portcullis',
      'mcp-bare-bearer',
      0.1,
      'overhead',
    ),
    ratio(
      'warm-vs-fastify-jwt',
      'Portcullis warm / @fastify/jwt warm',
      'portcullis-warm',
      'fastify-jwt-warm',
      1,
    ),
    ratio(
      'cold-vs-fastify-jwt',
      'Portcullis cold / @fastify/jwt cold',
      'portcullis-cold',
      'fastify-jwt-cold',
      1.3,
    ),
    ratio(
      'warm-vs-fastify-jwt-static',
      'Portcullis warm / @fastify/jwt static key warm',
      'portcullis-warm',
      'fastify-jwt-static-warm',
      1,
    ),
    ratio(
      'cold-vs-fastify-jwt-static',
      'Portcullis cold / @fastify/jwt static key cold',
      'portcullis-cold',
      'fastify-jwt-static-cold',
      1.3,
    ),
    ratio(
      'event-loop-vs-thread-pool',
      "Cold: signatureCheck 'event-loop' / 'thread-pool'",
      'portcullis-cold-event-loop',
      'portcullis-cold-thread-pool',
      1,
    ),
    ratio(
      'event-loop-vs-thread-pool-2p',
      "Cold, two processes: 'event-loop' / 'thread-pool'",
      'portcullis-cold-event-loop-2p',
      'portcullis-cold-thread-pool-2p',
      1,
    ),
    ratio('warm-2p-vs-1p', 'Warm: two processes / one', 'portcullis-warm-2p', 'portcullis-warm', 1),
    ratio(
      'cold-2p-vs-1p',
      "Cold ('event-loop'): two processes / one",
      'portcullis-cold-event-loop-2p',
      'portcullis-cold-event-loop',
      1,
    ),
    ratio(
      'express-vs-express-jwt',
      'Express + Portcullis / express-jwt',
      'express-portcullis-warm',
      'express-jwt',
      1,
    ),
    ratio(
      'express-vs-bare-express',
      'Express + Portcullis / bare Express',
      'express-portcullis-warm',
      'express-bare',
      0.85,
    ),
    ratio(
      'express-vs-bare-express-same-request',
      'Express + Portcullis / bare Express sent the same request',
      'express-portcullis-warm',
      'express-bare-bearer',
      0.85,
    ),
    ratio(
      'floor-vs-bare-express',
      'The Express floor / bare Express',
      'express-floor-warm',
      'express-bare',
      0.85,
    ),
    ratio(
      'express-vs-floor',
      'Express + Portcullis / the Express floor',
      'express-portcullis-warm',
      'express-floor-warm',
      0.85,
    ),
    ratio(
      'express-vs-floor-guarded',
      'Express + Portcullis / the Express floor in two layers',
      'express-portcullis-warm',
      'express-floor-guarded-warm',
      0.85,
    ),
    // What the shape of an auth layer (a middleware and a route guard) costs Express by itself.
    ratio(
      'two-layers-vs-bare-express',
      'Two Express layers doing nothing / bare Express',
      'express-two-layers',
      'express-bare',
      0.85,
    ),
    ratio(
      'express-vs-two-layers',
      'Express + Portcullis / two Express layers doing nothing',
      'express-portcullis-warm',
      'express-two-layers',
      0.85,
    ),
    ratio(
      'least-vs-bare-express',
      'The least layer keeping the rules / bare Express',
      'express-least-warm',
      'express-bare',
      0.85,
    ),
    ratio(
      'least-vs-floor-guarded',
      'The least layer keeping the rules / the Express floor in two layers',
      'express-least-warm',
      'express-floor-guarded-warm',
      0.85,
    ),
    ratio(
      'express-vs-least',
      'Express + Portcullis / the least layer keeping its rules',
      'express-portcullis-warm',
      'express-least-warm',
      0.85,
    ),
    ratio(
      'express-vs-express-sdk',
      'Express + Portcullis / Express + SDK',
      'express-portcullis-warm',
      'express-sdk',
      1.5,
    ),
  ].filter((r) => r !== undefined)
}

/** What DPoP costs over Bearer, warm: server CPU per request of both, and the difference. */
export function dpopOverBearer(results) {
  const dpop = results.find((r) => r.name === 'portcullis-dpop-warm')
  const bearer = results.find((r) => r.name === 'portcullis-warm')
  if (!(dpop?.cpuUsPerRequest > 0) || !(bearer?.cpuUsPerRequest > 0)) return undefined
  const more = dpop.cpuUsPerRequest - bearer.cpuUsPerRequest
  return {
    bearerCpuUs: bearer.cpuUsPerRequest,
    dpopCpuUs: dpop.cpuUsPerRequest,
    text:
      `DPoP over Bearer, warm: ${dpop.cpuUsPerRequest.toFixed(0)} against ${bearer.cpuUsPerRequest.toFixed(0)} µs ` +
      `of server CPU per request (+${more.toFixed(0)} µs, ${(dpop.cpuUsPerRequest / bearer.cpuUsPerRequest).toFixed(2)}x); ` +
      `req/s ${fmtInt(dpop.rps)} against ${fmtInt(bearer.rps)}`,
  }
}

export function printTables(results, ratios) {
  console.log(
    '\n| scenario | req/s | req/s range | p99 ms | server CPU µs/req | CPU range | of which main thread | requests |',
  )
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|')
  const span = ([low, high], f) => (low === high ? '' : `${f(low)}–${f(high)}`)
  for (const r of results) {
    if (r.error !== undefined) console.log(`| ${r.label} | failed: ${r.error} | | | | | | |`)
    else {
      const cpu = r.cpuUsPerRequest === undefined ? '' : r.cpuUsPerRequest.toFixed(0)
      const cpuSpan = r.cpuUsPerRequest === undefined ? '' : span(r.cpuRange, (v) => v.toFixed(0))
      const main = r.mainThreadUsPerRequest === undefined ? '' : r.mainThreadUsPerRequest.toFixed(0)
      console.log(
        `| ${r.label} | ${fmtInt(r.rps)} | ${span(r.rpsRange, fmtInt)} | ${r.p99Ms} | ${cpu} | ${cpuSpan} | ${main} | ${fmtInt(r.requests)} |`,
      )
    }
  }
  printTwoProcessTable(results)
  for (const r of results.filter((result) => result.tokens !== undefined)) {
    const runs = r.runs.filter((run) => run.tokens !== undefined)
    for (const [index, run] of runs.entries()) {
      const { pool, presented, distinct } = run.tokens
      const replayed = presented - distinct
      console.log(
        `${r.name}${runs.length > 1 ? ` (round ${index + 1})` : ''}: ${fmtInt(presented)} requests (warm-up + measured) ` +
          `with ${fmtInt(distinct)} distinct tokens of a pool of ${fmtInt(pool)}` +
          (replayed > 0 ? `, ${fmtInt(replayed)} tokens replayed in pool order` : ', none replayed'),
      )
    }
  }
  if (ratios.length === 0) return
  console.log('\n| ratio | by req/s | by server CPU | CPU, per round: median (range) | target | |')
  console.log('|---|---:|---:|---:|---:|---|')
  const show = (kind, value) =>
    value === undefined
      ? 'n/a'
      : kind === 'overhead'
        ? `${(value * 100).toFixed(1)} %`
        : `${value.toFixed(2)}x`
  for (const r of ratios) {
    const target = r.kind === 'overhead' ? `<= ${r.target * 100} %` : `>= ${r.target}x`
    const verdict = (met) => (met === undefined ? 'n/a' : met ? 'met' : 'below')
    console.log(
      `| ${r.label} | ${show(r.kind, r.value)} | ${show(r.kind, r.byCpu)} | ` +
        `${r.byCpuRange === undefined ? '' : `${show(r.kind, r.byCpuPerRound)} (${r.byCpuRange.map((v) => show(r.kind, v)).join(' to ')})`} | ${target} | ` +
        `${verdict(r.met)} / ${verdict(r.metByCpu)} |`,
    )
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { readFileSync } = await import('node:fs')
  const file = process.argv[2]
  if (file === undefined) {
    console.error('usage: node bench/http-report.mjs bench/results/http-<time>.json')
    process.exit(2)
  }
  const report = JSON.parse(readFileSync(file, 'utf8'))
  // Runs written before the ranges were kept: take them from the rounds.
  const results = report.scenarios.map((r) =>
    r.runs === undefined || r.error !== undefined
      ? r
      : {
          ...r,
          rpsRange: r.rpsRange ?? range(r.runs.map((run) => run.rps)),
          cpuRange: r.cpuRange ?? range(r.runs.map((run) => run.cpuUsPerRequest)),
        },
  )
  console.log(
    `run of ${report.startedAt}: ${report.settings.rounds} rounds of ${report.settings.warmup} + ${report.settings.duration} s, ` +
      `load average ${report.loadAverage.before.map((l) => l.toFixed(2)).join(' ')} before, ` +
      `${report.loadAverage.after.map((l) => l.toFixed(2)).join(' ')} after`,
  )
  printTables(results, computeRatios(results))
  const dpop = dpopOverBearer(results)
  if (dpop !== undefined) console.log(`\n${dpop.text}`)
}
