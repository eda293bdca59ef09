import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  type Attributes,
  type Context,
  context,
  type Link,
  propagation,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from '@opentelemetry/api'
import { telemetryTracer } from '../telemetry/otel-bridge.js'

type Serve = (req: IncomingMessage, res: ServerResponse, body: unknown) => Promise<void>

/** Reads propagation fields from a JSON-RPC `params._meta` object: own string members only. */
const metaGetter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = Object.hasOwn(carrier, key) ? carrier[key] : undefined
    return typeof value === 'string' ? value : undefined
  },
}

interface JsonRpcMessage {
  method: string
  id?: unknown
  params?: { name?: unknown; uri?: unknown; _meta?: unknown }
}

/**
 * Serves one MCP HTTP request inside an OpenTelemetry span (MCP semantic conventions: kind
 * SERVER, `mcp.method.name`, `gen_ai.tool.name`, `mcp.session.id`, `jsonrpc.request.id`), whose
 * parent is the trace context the client put in `params._meta` (`traceparent`, `tracestate`,
 * SEP-414) or else the HTTP request's. Tool, prompt and resource handlers run in that span, so
 * their own spans join the client's trace.
 *
 * Without `instrumentPortcullis` (or with its traces off) this is the plain `serve` call. Only a
 * single JSON-RPC message gets a span: a batch (2025-03-26 only) is served in the HTTP context.
 */
export function serveTraced(serve: Serve, req: IncomingMessage, res: ServerResponse, body: unknown) {
  const tracer = telemetryTracer()
  const message = tracer === undefined ? undefined : singleMessage(body)
  if (tracer === undefined || message === undefined) return serve(req, res, body)

  const incoming = context.active()
  const meta = message.params?._meta
  const carrier =
    typeof meta === 'object' && meta !== null && !Array.isArray(meta)
      ? (meta as Record<string, unknown>)
      : undefined
  // SEP-414: the client's context travels with the message; it wins over the HTTP headers'.
  const fromMeta = carrier === undefined ? undefined : propagation.extract(incoming, carrier, metaGetter)
  // Without a traceparent (or with no propagator registered) extraction hands back `incoming` itself.
  const parent: Context = fromMeta ?? incoming
  const httpSpan = trace.getSpanContext(incoming)
  const links: Link[] = parent !== incoming && httpSpan !== undefined ? [{ context: httpSpan }] : []

  const { name, attributes } = describe(message, req)
  const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes, links }, parent)
  let ended = false
  const end = () => {
    if (ended) return
    ended = true
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
    span.setAttribute('http.response.status_code', res.statusCode)
    span.end()
  }
  // A streamed answer (SSE) outlives `serve`: the span ends with the response.
  res.once('close', end)
  return context
    .with(trace.setSpan(parent, span), () => serve(req, res, body))
    .catch((error: unknown) => {
      span.recordException(error as Error)
      span.setStatus({ code: SpanStatusCode.ERROR })
      throw error
    })
}

function singleMessage(body: unknown): JsonRpcMessage | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined
  const method = (body as { method?: unknown }).method
  return typeof method === 'string' ? (body as JsonRpcMessage) : undefined
}

/** The span name and attributes of the MCP semantic conventions (OpenTelemetry semconv, MCP). */
function describe(message: JsonRpcMessage, req: IncomingMessage): { name: string; attributes: Attributes } {
  // Every value here is chosen by the client: each is cut to a bound, whatever the exporter's limits.
  const attributes: Attributes = {
    'mcp.method.name': clip(message.method, ATTRIBUTE_LIMIT),
    'network.transport': 'tcp',
    'network.protocol.name': 'http',
  }
  const session = req.headers['mcp-session-id']
  if (typeof session === 'string') attributes['mcp.session.id'] = clip(session, ATTRIBUTE_LIMIT)
  const version = req.headers['mcp-protocol-version']
  if (typeof version === 'string') attributes['mcp.protocol.version'] = clip(version, ATTRIBUTE_LIMIT)
  if (typeof message.id === 'string' || typeof message.id === 'number') {
    attributes['jsonrpc.request.id'] = clip(String(message.id), ATTRIBUTE_LIMIT)
  }
  const { name, uri } = message.params ?? {}
  let target: string | undefined
  if (message.method === 'tools/call' && typeof name === 'string') {
    attributes['gen_ai.tool.name'] = clip(name, ATTRIBUTE_LIMIT)
    attributes['gen_ai.operation.name'] = 'execute_tool'
    target = name
  } else if (message.method === 'prompts/get' && typeof name === 'string') {
    attributes['gen_ai.prompt.name'] = clip(name, ATTRIBUTE_LIMIT)
    target = name
  } else if (message.method === 'resources/read' && typeof uri === 'string') {
    attributes['mcp.resource.uri'] = clip(uri, ATTRIBUTE_LIMIT)
  }
  const method = clip(message.method, NAME_LIMIT)
  return { name: target === undefined ? method : `${method} ${clip(target, NAME_LIMIT)}`, attributes }
}

const ATTRIBUTE_LIMIT = 256
const NAME_LIMIT = 80

const clip = (text: string, limit: number) => (text.length <= limit ? text : `${text.slice(0, limit - 3)}...`)
