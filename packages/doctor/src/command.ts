import { parseArgs } from 'node:util'
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
  const token = values.token ?? (env.PORTCULLIS_DOCTOR_TOKEN || undefined)
  const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout)
  try {
    const report = await doctor(positionals[0]!, {
      ...(token === undefined ? {} : { token }),
      ...(values['browser-origin'] === undefined ? {} : { browserOrigin: values['browser-origin'] }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    })
    io.out(values.json ? JSON.stringify(report, null, 2) : formatReport(report))
    return report.ok ? 0 : 1
  } catch (error) {
    io.error(`portcullis doctor: ${(error as Error).message}`)
    return 2
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      token: { type: 'string' },
      'browser-origin': { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}
