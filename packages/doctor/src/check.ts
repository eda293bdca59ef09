/** How one check came out. `warn`: clients may still work, but some will not or the setup is fragile. */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip'

/** One line of the checklist. `id` is stable (for `--json` consumers); `fix` says what to change. */
export interface Check {
  id: string
  group: CheckGroup
  status: CheckStatus
  /** What was found, in one sentence. */
  message: string
  /** What to change, for `warn` and `fail`. */
  fix?: string
}

export type CheckGroup = 'challenge' | 'resource-metadata' | 'cors' | 'authorization-server' | 'token'

/** The whole checklist. `version` is the schema version of the `--json` output. */
export interface DoctorReport {
  version: 1
  /** The MCP URL as given. */
  target: string
  /** The browser origin CORS was checked for. */
  browserOrigin: string
  /** The token's fingerprint (first 16 characters of its base64url SHA-256), when one was given. */
  tokenFingerprint?: string
  checks: Check[]
  summary: Record<CheckStatus, number>
  /** No check failed. */
  ok: boolean
}

/** Collects checks of one group in order. */
export class Checklist {
  readonly checks: Check[] = []

  constructor(readonly group: CheckGroup) {}

  pass(id: string, message: string): void {
    this.checks.push({ id, group: this.group, status: 'pass', message })
  }

  warn(id: string, message: string, fix: string): void {
    this.checks.push({ id, group: this.group, status: 'warn', message, fix })
  }

  fail(id: string, message: string, fix: string): void {
    this.checks.push({ id, group: this.group, status: 'fail', message, fix })
  }

  skip(id: string, message: string): void {
    this.checks.push({ id, group: this.group, status: 'skip', message })
  }
}

export function summarise(checks: Check[]): Record<CheckStatus, number> {
  const summary: Record<CheckStatus, number> = { pass: 0, warn: 0, fail: 0, skip: 0 }
  for (const check of checks) summary[check.status]++
  return summary
}

/** A value quoted for a message, cut short so a hostile document cannot flood the output. */
export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 160 ? `${text.slice(0, 160)}...` : text
}
