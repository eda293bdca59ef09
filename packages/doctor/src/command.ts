import { parseArgs } from 'node:util'
import type { ClientCredentials } from './client-credentials.js'
import { DEFAULT_BROWSER_ORIGIN, doctor } from './doctor.js'
import { formatReport } from './format.js'

export interface CommandIo {
  out: (text: string) => void
  error: (text: string) => void
}

const USAGE = `usage: portcullis doctor <mcp-url> [options]

Checks an MCP server's OAuth setup from the outside, as a client would.

options:
  --token <token>           an access token to check and try (tools/list); never printed.
                            PORTCULLIS_DOCTOR_TOKEN in the environment does the same without
                            putting the token in the process list or shell history
  --client-id <id>          instead of --token: get one with the client credentials grant
                            (or PORTCULLIS_DOCTOR_CLIENT_ID); the secret is read from
                            PORTCULLIS_DOCTOR_CLIENT_SECRET only, never from the command line
  --token-endpoint <url>    where to ask (default: the authorization server's token_endpoint)
  --client-auth basic|post  how the client authenticates there (default: basic, or post when
                            the server lists only client_secret_post)
  --scope <scopes>          scopes to ask for, space-separated (default: the client's default)
  --call <tool>             with a token: call this tool (no arguments) after tools/list and
                            report the answer or the 403 challenge; off by default (a call may
                            change data)
  --browser-origin <origin> the origin CORS is checked for (default ${DEFAULT_BROWSER_ORIGIN})
  --timeout <ms>            deadline of each request (default 5000)
  --json                    print the report as JSON (schema version 1)
  -h, --help                this text

exit status: 0 nothing failed, 1 a check failed, 2 usage error`

/** Runs `portcullis <args>` and returns the exit status. */
export async function runCommand(
  args: string[],
  io: CommandIo,
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  const [subcommand, ...rest] = args
  if (subcommand === undefined || subcommand === '-h' || subcommand === '--help') {
    io.out(USAGE)
    return subcommand === undefined ? 2 : 0
  }
  if (subcommand !== 'doctor') {
    io.error(`portcullis: unknown command ${JSON.stringify(subcommand)}\n\n${USAGE}`)
    return 2
  }
  if (rest.some((arg) => arg === '--client-secret' || arg.startsWith('--client-secret='))) {
    // Not echoed: an argument is visible to every user of the machine (ps) and stays in shell history.
    io.error(
      `portcullis doctor: the client secret is read from PORTCULLIS_DOCTOR_CLIENT_SECRET only, not from an argument\n\n${USAGE}`,
    )
    return 2
  }
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(rest)
  } catch (error) {
    io.error(`portcullis doctor: ${(error as Error).message}\n\n${USAGE}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    io.out(USAGE)
    return 0
  }
  if (positionals.length !== 1) {
    io.error(`portcullis doctor: expected one MCP URL, got ${positionals.length}\n\n${USAGE}`)
    return 2
  }
  const clientId = values['client-id'] ?? (env.PORTCULLIS_DOCTOR_CLIENT_ID || undefined)
  const token =
    values.token ?? (clientId === undefined ? env.PORTCULLIS_DOCTOR_TOKEN || undefined : undefined)
  const credentials = clientCredentialsOf(clientId, values, env)
  if (typeof credentials === 'string') {
    io.error(`portcullis doctor: ${credentials}\n\n${USAGE}`)
    return 2
  }
  if (token !== undefined && credentials !== undefined) {
    io.error(`portcullis doctor: give --token or --client-id, not both\n\n${USAGE}`)
    return 2
  }
  if (values.call !== undefined && token === undefined && credentials === undefined) {
    io.error(`portcullis doctor: --call needs a token (--token or --client-id)\n\n${USAGE}`)
    return 2
  }
  const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout)
  try {
    const report = await doctor(positionals[0]!, {
      ...(token === undefined ? {} : { token }),
      ...(credentials === undefined ? {} : { clientCredentials: credentials }),
      ...(values['browser-origin'] === undefined ? {} : { browserOrigin: values['browser-origin'] }),
      ...(values.call === undefined ? {} : { callTool: values.call }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    })
    io.out(values.json ? JSON.stringify(report, null, 2) : formatReport(report))
    return report.ok ? 0 : 1
  } catch (error) {
    io.error(`portcullis doctor: ${(error as Error).message}`)
    return 2
  }
}

/** The client credentials the flags and environment give, a usage problem, or none. */
function clientCredentialsOf(
  clientId: string | undefined,
  values: ReturnType<typeof parse>['values'],
  env: Record<string, string | undefined>,
): ClientCredentials | string | undefined {
  if (clientId === undefined) {
    if (
      values['token-endpoint'] !== undefined ||
      values.scope !== undefined ||
      values['client-auth'] !== undefined
    ) {
      return '--token-endpoint, --client-auth and --scope go with --client-id'
    }
    return undefined
  }
  const clientSecret = env.PORTCULLIS_DOCTOR_CLIENT_SECRET
  // Named, never shown: the secret stays out of the process list, shell history and output.
  if (clientSecret === undefined || clientSecret === '') {
    return '--client-id needs the client secret in PORTCULLIS_DOCTOR_CLIENT_SECRET'
  }
  const auth = values['client-auth']
  if (auth !== undefined && auth !== 'basic' && auth !== 'post') return '--client-auth is basic or post'
  const scopes = values.scope?.split(' ').filter((scope) => scope !== '')
  return {
    clientId,
    clientSecret,
    ...(values['token-endpoint'] === undefined ? {} : { tokenEndpoint: values['token-endpoint'] }),
    ...(scopes === undefined ? {} : { scopes }),
    ...(auth === undefined
      ? {}
      : { authMethod: auth === 'post' ? 'client_secret_post' : 'client_secret_basic' }),
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      token: { type: 'string' },
      'client-id': { type: 'string' },
      'token-endpoint': { type: 'string' },
      'client-auth': { type: 'string' },
      scope: { type: 'string' },
      'browser-origin': { type: 'string' },
      call: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}
