#!/usr/bin/env node
// Makes sure the system programs the tests start are installed: `redis-server` (the
// @portcullis/redis tests) and Debian's `chromium` (the browser tests with MCP Inspector). On a
// Debian machine as root the missing ones are installed with apt-get; otherwise this names the
// packages to install and fails before any test runs, instead of letting tests fail one by one.
import { spawnSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

/** What the tests run, and the Debian package that provides it. */
const NEEDED = [
  { program: 'redis-server', paths: [], debian: 'redis-server', for: 'the @portcullis/redis tests' },
  { program: 'chromium', paths: ['/usr/bin/chromium'], debian: 'chromium', for: 'the browser tests' },
]

const executable = (path) => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

const found = (need) =>
  need.paths.some(executable) ||
  (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && executable(join(dir, need.program)))

const missing = () => NEEDED.filter((need) => !found(need))

const run = (command, args) => {
  process.stderr.write(`test prerequisites: ${command} ${args.join(' ')}\n`)
  const result = spawnSync(command, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  })
  return result.status === 0
}

let absent = missing()
if (absent.length > 0) {
  const packages = absent.map((need) => need.debian)
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  const hasApt = executable('/usr/bin/apt-get')
  if (isRoot && hasApt) {
    process.stderr.write(`test prerequisites: installing ${packages.join(' ')} (Debian packages)\n`)
    run('apt-get', ['update']) && run('apt-get', ['install', '-y', ...packages])
    absent = missing()
  }
  if (absent.length > 0) {
    process.stderr.write(
      [
        'The tests need programs that are not installed:',
        ...absent.map((need) => `  - ${need.program} (${need.for}): Debian package "${need.debian}"`),
        `Install them, e.g. as root: apt-get update && apt-get install -y ${absent.map((n) => n.debian).join(' ')}`,
        '(this script installs them by itself when run as root on Debian).',
        '',
      ].join('\n'),
    )
    process.exit(1)
  }
}
