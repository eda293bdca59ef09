// A raw HTTP/1.1 keep-alive client for the in-process benches: it pipelines ready-made requests over
// a few sockets and only counts the status lines, so it costs about 1 µs per request and the
// process CPU per request is nearly all server.
import { connect } from 'node:net'

const DEPTH = 16 // requests in flight per socket

/** `GET <path>` with a bearer token, as the bytes on the wire. */
export const bearerRequest = (token, path = '/hello') =>
  Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`, 'latin1')

/**
 * Sends `count` requests to 127.0.0.1:`port` over `lanes` sockets; `wire(i)` gives request i's bytes
 * (lane k sends the requests i with i % lanes === k), up to `depth` in flight on each. Rejects on
 * any status but 200. `lanes: 1, depth: 1` sends one request at a time: every request is read and
 * answered on its own, the same way in every run (instruction counts repeat).
 */
export function loadPipelined(port, { count, wire, lanes = 4, depth = DEPTH }) {
  return Promise.all(Array.from({ length: lanes }, (_, k) => lane(port, count, wire, lanes, k, depth)))
}

function lane(port, count, wire, lanes, k, depth) {
  const mine = []
  for (let i = k; i < count; i += lanes) mine.push(i)
  if (mine.length === 0) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let sent = 0
    let answered = 0
    let tail = ''
    const send = () => {
      const n = Math.min(depth, mine.length - sent)
      if (n <= 0) return
      const chunk = []
      for (let j = sent; j < sent + n; j++) chunk.push(wire(mine[j]))
      socket.write(n === 1 ? chunk[0] : Buffer.concat(chunk))
      sent += n
    }
    socket.on('connect', send)
    socket.on('data', (data) => {
      const text = tail + data.toString('latin1')
      let at = 0
      for (;;) {
        const i = text.indexOf('HTTP/1.1 ', at)
        if (i < 0 || text.length < i + 12) break
        if (!text.startsWith('HTTP/1.1 200', i)) {
          socket.destroy()
          reject(new Error(`status ${text.slice(i, i + 12)}`))
          return
        }
        answered++
        at = i + 12
      }
      tail = text.slice(at)
      if (tail.length > 64) tail = tail.slice(-64)
      if (answered >= mine.length) {
        socket.end()
        resolve()
      } else if (sent - answered < depth / 2) send()
    })
    socket.on('error', reject)
  })
}
