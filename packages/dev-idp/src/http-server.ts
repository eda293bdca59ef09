import type { Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** Listens on `host:port`; a port in use or forbidden is an Error that says so in one line. */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening)
      if (error.code === 'EADDRINUSE') {
        reject(
          Object.assign(
            new Error(
              `dev-idp: port ${port} on ${host} is already in use; stop the other process or pick another port`,
            ),
            {
              code: error.code,
            },
          ),
        )
      } else if (error.code === 'EACCES') {
        reject(
          Object.assign(new Error(`dev-idp: no permission to listen on port ${port} on ${host}`), {
            code: error.code,
          }),
        )
      } else {
        reject(error)
      }
    }
    const onListening = () => {
      server.off('error', onError)
      resolve((server.address() as AddressInfo).port)
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(port, host)
  })
}

/** Stops listening and drops open connections. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    // fetch keeps connections alive; without this close() waits for them to time out.
    server.closeAllConnections()
  })
}

export function notFound(res: ServerResponse): void {
  sendJson(res, 404, { error: 'not_found', error_description: 'no such endpoint on this dev IdP' })
}

export function sendJson(res: ServerResponse, status: number, body: Record<string, string>): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' })
  res.end(JSON.stringify(body))
}
