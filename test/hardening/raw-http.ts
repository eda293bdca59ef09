import { connect } from 'node:net'

// An HTTP/1.1 client that writes exactly the bytes it is given: repeated header lines, control
// characters, non-ASCII bytes and oversized heads reach the server's parser as written, which
// neither fetch nor node:http allow.

export interface RawRequest {
  method: string
  path: string
  /** Header lines in order; a name may repeat. `Host` and `Connection: close` are added. */
  headers: ReadonlyArray<readonly [string, string]>
  body?: Buffer | string
}

export interface RawResponse {
  status: number
  /** Header values by lower-cased name, in order of appearance. */
  headers: Map<string, string[]>
  body: Buffer
}

/** Sends one request on a fresh connection to 127.0.0.1:`port` and reads the answer to the end. */
export function rawExchange(port: number, request: RawRequest, timeoutMs = 15_000): Promise<RawResponse> {
  const body = request.body === undefined ? undefined : Buffer.from(request.body)
  const lines = [`${request.method} ${request.path} HTTP/1.1`, `Host: 127.0.0.1:${port}`]
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`)
  if (body !== undefined) lines.push(`Content-Length: ${body.length}`)
  lines.push('Connection: close', '', '')
  const head = Buffer.from(lines.join('\r\n'), 'utf8')

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect(port, '127.0.0.1')
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no complete answer within ${timeoutMs} ms`))
    }, timeoutMs)
    const finish = () => {
      clearTimeout(timer)
      const data = Buffer.concat(chunks)
      if (data.length === 0) {
        reject(new Error('the server closed the connection without answering'))
        return
      }
      try {
        resolve(parseResponse(data))
      } catch (error) {
        reject(error)
      }
    }
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    // A server that answers early (431, 413, 401 before the body) may reset the connection while
    // the request is still being written; what it sent before is the answer.
    socket.on('error', () => socket.destroy())
    socket.on('close', finish)
    // No half-close after writing: Node's server aborts a request whose client sent FIN
    // (httpAllowHalfOpen is false). `Connection: close` makes the server close after answering.
    socket.write(body === undefined ? head : Buffer.concat([head, body]))
  })
}

function parseResponse(data: Buffer): RawResponse {
  const end = data.indexOf('\r\n\r\n')
  if (end < 0) throw new Error(`incomplete answer: ${JSON.stringify(data.toString('latin1').slice(0, 200))}`)
  const [statusLine, ...fields] = data.subarray(0, end).toString('latin1').split('\r\n')
  const status = Number(statusLine?.split(' ')[1])
  const headers = new Map<string, string[]>()
  for (const field of fields) {
    const colon = field.indexOf(':')
    const name = field.slice(0, colon).trim().toLowerCase()
    const list = headers.get(name) ?? []
    list.push(field.slice(colon + 1).trim())
    headers.set(name, list)
  }
  let body = data.subarray(end + 4)
  if (headers.get('transfer-encoding')?.[0]?.toLowerCase() === 'chunked') body = dechunk(body)
  return { status, headers, body }
}

function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = []
  let at = 0
  while (at < data.length) {
    const lineEnd = data.indexOf('\r\n', at)
    if (lineEnd < 0) break
    const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16)
    if (!Number.isFinite(size) || size === 0) break
    out.push(data.subarray(lineEnd + 2, lineEnd + 2 + size))
    at = lineEnd + 2 + size + 2
  }
  return Buffer.concat(out)
}

/** The one value of a header, or undefined; throws when the header repeats. */
export function single(response: RawResponse, name: string): string | undefined {
  const values = response.headers.get(name)
  if (values === undefined) return undefined
  if (values.length !== 1) throw new Error(`${name} appears ${values.length} times`)
  return values[0]
}
