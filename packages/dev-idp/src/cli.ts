#!/usr/bin/env node
import { runCommand } from './command.js'

const { idp, exitCode } = await runCommand(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  error: (text) => process.stderr.write(`${text}\n`),
})
if (idp === undefined) {
  process.exitCode = exitCode
} else {
  const stop = () => {
    idp.close().then(() => process.exit(0))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
