export type * from './auth-info.js'
export * from './errors.js'
