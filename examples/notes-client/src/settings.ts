// What every example reads from the environment, with the defaults of `pnpm start` (the dev IdP
// on 127.0.0.1:4000, the notes server on 127.0.0.1:3000).
export const ISSUER = process.env.ISSUER ?? 'http://127.0.0.1:4000'
export const MCP_URL = process.env.MCP_URL ?? 'http://127.0.0.1:3000/mcp'
export const TOKEN_FILE = process.env.TOKEN_FILE ?? '.notes-client/tokens.json'

/** A required variable, or a one-line explanation and exit. */
export function required(name: string, hint: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') {
    console.error(`${name} is required: ${hint}`)
    process.exit(1)
  }
  return value
}
