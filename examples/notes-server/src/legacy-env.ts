/**
 * The project was renamed from Gatehouse to Portcullis. For one release, a `GATEHOUSE_*` variable
 * still counts where its `PORTCULLIS_*` twin is unset, with one warning per variable.
 */
export function withLegacyEnv(
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void = (message) => process.emitWarning(message, 'DeprecationWarning'),
): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = { ...env }
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('GATEHOUSE_') || value === undefined) continue
    const renamed = `PORTCULLIS_${name.slice('GATEHOUSE_'.length)}`
    if (result[renamed] !== undefined) continue
    result[renamed] = value
    warn(`${name} is deprecated and will stop working in the next release: set ${renamed} instead`)
  }
  return result
}
