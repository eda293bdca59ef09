import type { ServerResponse } from 'node:http'
import { reportMcpReply } from '../gate/adapter-reports.js'
import type { NodeNext } from '../gate/node-guard.js'
import { type NodeRequest, sendReply } from '../gate/node-reply.js'
import { type GateBinding, verifiedAuthBy } from '../gate/request-state.js'
import type { McpEndpoint } from './route-options.js'

/**
 * Serves a request of an MCP endpoint on Node's request and response: the endpoint's own answer
 * (a refusal, reported to the binding) or the SDK server's, with the caller the binding's gate
 * verified. `body` is the parsed body, exactly what the SDK gets; `onError` hears a failure of the
 * MCP server (answered 500), `next` an unexpected one.
 */
export function serveMcp<R extends NodeRequest>(
  endpoint: McpEndpoint,
  binding: GateBinding<R>,
  req: R,
  res: ServerResponse,
  body: unknown,
  onError: (error: unknown) => void,
  next: NodeNext,
): void {
  const decision = endpoint.handle({
    method: req.method ?? '',
    sessionId: req.headers['mcp-session-id'],
    body,
    auth: verifiedAuthBy(req, binding.gate),
  })
  if (decision.kind === 'serve') {
    decision.serve(req, res, onError).catch(next)
    return
  }
  reportMcpReply(binding, req, decision)
  sendReply(res, decision)
}
