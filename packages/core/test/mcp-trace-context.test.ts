// The MCP route's span and the trace context of `params._meta` (SEP-414), on a real socket: the
// handler runs inside the span; hostile or malformed _meta (wrong types, junk traceparent, huge
// names) gets a root span with bounded attributes, never a crash; batches and bodies that are not
// one message are served as they are.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { context, propagation, type SpanContext, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { instrumentPortcullis } from '@portcullis/core'
import t from 'tap'
import { serveTraced } from '../src/mcp/trace-context.js'

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
propagation.setGlobalPropagator(new W3CTraceContextPropagator())

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const CLIENT_SPAN = '00f067aa0ba902b7'
const TRACEPARENT = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`

const exporter = new InMemorySpanExporter()
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })

/** What the handler saw: the span active while it ran. */
let seen: SpanContext | undefined
let fail = false

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  let text = ''
  req.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk
  })
  req.on('end', () => {
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      body = undefined
    }
    const serve = async (_req: IncomingMessage, answer: ServerResponse) => {
      seen = trace.getActiveSpan()?.spanContext()
      if (fail) throw new Error('the MCP server failed')
      answer.end('{}')
    }
    serveTraced(serve, req, res, body).catch(() => {
      res.statusCode = 500
      res.end()
    })
  })
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/mcp`

/** Posts `body`; returns the spans that ended for it. */
async function post(body: unknown, headers: Record<string, string> = {}) {
  exporter.reset()
  seen = undefined
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  await response.text()
  // The span ends when the response closes: give the socket's close a turn.
  for (let i = 0; i < 50 && exporter.getFinishedSpans().length === 0; i++)
    await new Promise((r) => setTimeout(r, 10))
  return { status: response.status, spans: exporter.getFinishedSpans() }
}

const call = (meta: unknown, name = 'search') => ({
  jsonrpc: '2.0',
  id: 7,
  method: 'tools/call',
  params: { name, arguments: {}, _meta: meta },
})

t.test('without instrumentPortcullis: served as is, no span', async (t) => {
  const { status, spans } = await post(call({ traceparent: TRACEPARENT }))
  t.equal(status, 200)
  t.same(spans, [])
  t.equal(seen, undefined, 'no active span in the handler')
})

t.test('instrumented', async (t) => {
  const stop = instrumentPortcullis({ tracerProvider, metrics: false })
  t.teardown(stop)

  t.test('the client span from _meta is the parent, and the handler runs in the MCP span', async (t) => {
    const { spans } = await post(call({ traceparent: TRACEPARENT, tracestate: 'a=1' }), {
      'mcp-session-id': 'session-1',
      'mcp-protocol-version': '2025-06-18',
    })
    t.equal(spans.length, 1)
    const [span] = spans
    t.equal(span?.name, 'tools/call search')
    t.equal(span?.kind, SpanKind.SERVER)
    t.equal(span?.spanContext().traceId, CLIENT_TRACE)
    t.equal(span?.parentSpanContext?.spanId, CLIENT_SPAN)
    t.match(span?.attributes, {
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'search',
      'mcp.session.id': 'session-1',
      'mcp.protocol.version': '2025-06-18',
      'jsonrpc.request.id': '7',
      'http.response.status_code': 200,
    })
    t.equal(seen?.spanId, span?.spanContext().spanId, 'the handler saw the MCP span as active')
  })

  t.test('malformed _meta: a root span, never a crash', async (t) => {
    for (const meta of [
      { traceparent: '00-zz-zz-01' },
      { traceparent: `00-${'0'.repeat(32)}-${CLIENT_SPAN}-01` }, // all-zero trace id is invalid
      { traceparent: 12 },
      { traceparent: ['00', CLIENT_TRACE] },
      { traceparent: `${TRACEPARENT}${'x'.repeat(100_000)}` },
      { tracestate: 'a=1' },
      [TRACEPARENT],
      null,
      'traceparent',
      // An own "__proto__" member (as JSON.parse makes it) is not the traceparent either.
      `{"traceparent":{"__proto__":"x"},"__proto__":{"traceparent":"${TRACEPARENT}"}}`,
    ]) {
      const body =
        typeof meta === 'string' && meta.startsWith('{')
          ? JSON.stringify(call({})).replace('"_meta":{}', `"_meta":${meta}`)
          : call(meta)
      const { status, spans } = await post(body)
      t.equal(status, 200, JSON.stringify(meta)?.slice(0, 60))
      t.equal(spans.length, 1)
      t.equal(spans[0]?.parentSpanContext, undefined, 'no parent taken from it')
      t.not(spans[0]?.spanContext().traceId, CLIENT_TRACE)
    }
  })

  t.test('client-chosen names are bounded in the span name and attributes', async (t) => {
    const long = 'n'.repeat(10_000)
    const { spans } = await post(call({}, long), { 'mcp-session-id': 's'.repeat(5000) })
    const [span] = spans
    t.ok((span?.name.length ?? Infinity) <= 'tools/call '.length + 80)
    t.equal(String(span?.attributes['gen_ai.tool.name']).length, 256)
    t.equal(String(span?.attributes['mcp.session.id']).length, 256)
  })

  t.test('not one message: a batch, a body that is not JSON-RPC, no body', async (t) => {
    for (const body of [[call({ traceparent: TRACEPARENT })], { jsonrpc: '2.0', id: 1 }, 'not json', 42]) {
      const { status, spans } = await post(body)
      t.equal(status, 200)
      t.same(spans, [], JSON.stringify(body))
    }
  })

  t.test('a handler that fails: the span records it, the failure reaches the caller', async (t) => {
    fail = true
    t.teardown(() => {
      fail = false
    })
    const { status, spans } = await post(call({ traceparent: TRACEPARENT }))
    t.equal(status, 500)
    t.equal(spans[0]?.status.code, SpanStatusCode.ERROR)
    t.match(spans[0]?.events, [{ name: 'exception' }])
  })
})
