export type { Check, CheckGroup, CheckStatus, DoctorReport } from './check.js'
export { type CommandIo, runCommand } from './command.js'
export { DEFAULT_BROWSER_ORIGIN, type DoctorOptions, doctor } from './doctor.js'
export { formatReport } from './format.js'
