import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { formatBanner } from './banner.js'
import { type DevIdp, startDevIdp } from './dev-idp.js'
import type { DevIdpOptions, DevIdpResourceOptions } from './options.js'

/** The port the command listens on unless told otherwise. */
export const DEFAULT_COMMAND_PORT = 4000

/** The key file the command keeps, relative to the working directory (git-ignored). */
export const DEFAULT_KEYS_FILE = '.dev-idp-keys.json'

export const USAGE = `Usage: dev-idp [options]

An OAuth 2.1 authorization server for developing MCP servers and clients.

Options:
  --port <n>                port to listen on (default ${DEFAULT_COMMAND_PORT}; 0 picks a free one)
  --host <host>             127.0.0.1, localhost or ::1 (default 127.0.0.1)
  --resource <url>          MCP server that gets JWT access tokens (repeatable)
  --opaque-resource <url>   MCP server that gets opaque tokens and introspects them (repeatable)
                            (default: http://localhost:3000/mcp JWT, http://localhost:3001/mcp opaque)
  --scopes "<a b c>"        scopes of every resource (default "notes:read notes:write notes:admin")
  --shape <name>            generic, keycloak or auth0 (default generic)
  --realm <name>            Keycloak realm, with --shape keycloak (default portcullis)
  --login <mode>            form (a sign-in page) or auto (login_hint or the default user) (default form)
  --keys-file <path>        signing keys and client secrets, kept across restarts (default ${DEFAULT_KEYS_FILE})
  --no-registration         no dynamic registration and no Client ID Metadata Documents, as most
                            company IdPs: only the static clients and --extra-clients exist
  --extra-clients <file>    JSON file with an array of client metadata (RFC 7591) to register at start,
                            e.g. a broker's confidential client
  --access-token-ttl <s>    access-token lifetime in seconds (default 600)
  -h, --help                show this text
`

/** What the command line asks for: start with these options, or show the usage. */
export type CommandLine = { help: true } | { help: false; options: DevIdpOptions }

/**
 * Turns command-line arguments into `startDevIdp` options. Throws an Error with a one-line
 * message for unknown flags and malformed values.
 *
 * @example
 * parseCommandLine(['--port', '4455', '--shape', 'keycloak'])
 */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      resource: { type: 'string', multiple: true },
      'opaque-resource': { type: 'string', multiple: true },
      scopes: { type: 'string' },
      shape: { type: 'string' },
      realm: { type: 'string' },
      login: { type: 'string' },
      'keys-file': { type: 'string' },
      'access-token-ttl': { type: 'string' },
      'no-registration': { type: 'boolean' },
      'extra-clients': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return { help: true }
  const integer = (flag: string, value: string | undefined) => {
    if (value === undefined) return undefined
    if (!/^\d+$/.test(value))
      throw new Error(`--${flag} must be a whole number, got ${JSON.stringify(value)}`)
    return Number(value)
  }
  const scopes = values.scopes?.split(/\s+/).filter(Boolean)
  const listed: DevIdpResourceOptions[] = [
    ...(values.resource ?? []).map((resource) => ({ resource, format: 'jwt' as const })),
    ...(values['opaque-resource'] ?? []).map((resource) => ({ resource, format: 'opaque' as const })),
  ]
  const resources =
    listed.length > 0
      ? listed.map((r) => ({ ...r, ...(scopes ? { scopes } : {}) }))
      : scopes
        ? [
            { resource: 'http://localhost:3000/mcp', format: 'jwt' as const, scopes },
            { resource: 'http://localhost:3001/mcp', format: 'opaque' as const, scopes },
          ]
        : undefined
  const options: DevIdpOptions = {
    port: integer('port', values.port) ?? DEFAULT_COMMAND_PORT,
    login: (values.login ?? 'form') as DevIdpOptions['login'],
    keysFile: values['keys-file'] ?? DEFAULT_KEYS_FILE,
    quiet: true,
  }
  if (values.host !== undefined) options.host = values.host as DevIdpOptions['host']
  if (values.shape !== undefined) options.shape = values.shape as DevIdpOptions['shape']
  if (values.realm !== undefined) options.realm = values.realm
  if (resources !== undefined) options.resources = resources
  const ttl = integer('access-token-ttl', values['access-token-ttl'])
  if (ttl !== undefined) options.accessTokenTtl = ttl
  if (values['no-registration']) options.registration = false
  const extraClients = values['extra-clients']
  if (extraClients !== undefined) options.extraClients = readClients(extraClients)
  return { help: false, options }
}

function readClients(file: string): NonNullable<DevIdpOptions['extraClients']> {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new Error(`--extra-clients ${file}: ${(error as Error).message}`)
  }
  if (!Array.isArray(parsed))
    throw new Error(`--extra-clients ${file}: expected a JSON array of client metadata`)
  return parsed as NonNullable<DevIdpOptions['extraClients']>
}

/** Where the command writes. */
export interface CommandOutput {
  out(text: string): void
  error(text: string): void
}

/** A started command: the IdP (when it started) and the exit code to use if it did not. */
export interface CommandResult {
  idp: DevIdp | undefined
  exitCode: number
}

/**
 * Runs the `dev-idp` command: starts the IdP and prints the banner, or prints one line saying
 * what is wrong (bad flag, port in use, unreadable key file) and returns a non-zero exit code.
 *
 * @example
 * const { idp } = await runCommand(['--port', '0'], { out: console.log, error: console.error })
 */
export async function runCommand(argv: readonly string[], output: CommandOutput): Promise<CommandResult> {
  let command: CommandLine
  try {
    command = parseCommandLine(argv)
  } catch (error) {
    output.error(`dev-idp: ${(error as Error).message} (see dev-idp --help)`)
    return { idp: undefined, exitCode: 2 }
  }
  if (command.help) {
    output.out(USAGE)
    return { idp: undefined, exitCode: 0 }
  }
  try {
    const idp = await startDevIdp(command.options)
    const options = command.options
    output.out(
      formatBanner(idp, {
        login: options.login ?? 'form',
        users: idp.users,
        keysFile: options.keysFile,
      }),
    )
    return { idp, exitCode: 0 }
  } catch (error) {
    const message = (error as Error).message.replace(/^startDevIdp: /, '').replace(/^dev-idp: /, '')
    output.error(`dev-idp: ${message}`)
    return { idp: undefined, exitCode: error instanceof TypeError ? 2 : 1 }
  }
}
