// Instructions per request by difference of two cachegrind runs of the same script (one variant,
// `count` requests, then exit), so start-up and warm-up cancel out. V8 runs single-threaded
// (`--single-threaded`: no concurrent compiler or collector threads), so the counts repeat from run
// to run; they are blind to what the collector and the memory system cost in time.
import { spawn } from 'node:child_process'

/** Runs `node --single-threaded script ...argsFor(count)` under cachegrind: its instruction count. */
function instructionCount(script, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'valgrind',
      [
        '--tool=cachegrind',
        '--cache-sim=no',
        '--cachegrind-out-file=/dev/null',
        process.execPath,
        '--single-threaded',
        script,
        ...args,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let stderr = ''
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-20_000)
    })
    child.on('error', reject)
    child.on('close', (status) => {
      const match = /I\s+refs:\s+([\d,]+)/.exec(stderr)
      if (status !== 0 || match === null) {
        reject(
          new Error(
            `valgrind run of ${args.join(' ')} failed (is valgrind installed?):\n${stderr.slice(-2000)}`,
          ),
        )
      } else resolve(Number(match[1].replaceAll(',', '')))
    })
  })
}

/**
 * Instructions per request of each variant: `(count(3 × low) − count(low)) / (2 × low)`. Every run
 * at once: each is single-threaded and counting instructions does not care about load.
 * `argsFor(name, count)` are the script's arguments for one variant and `count` requests.
 */
export async function instructionsPerRequest(script, names, low, argsFor) {
  const counts = await Promise.all(
    names.map((name) =>
      Promise.all([
        instructionCount(script, argsFor(name, low)),
        instructionCount(script, argsFor(name, 3 * low)),
      ]),
    ),
  )
  const perRequest = {}
  names.forEach((name, i) => {
    const [few, many] = counts[i]
    perRequest[name] = (many - few) / (2 * low)
  })
  return perRequest
}
