import type { VerifiedAuthInfo } from '@portcullis/core'

// The global `Express.Request` is what both Express 4 and 5 typings extend, so `req.auth` is
// typed in every handler without a cast.
declare global {
  namespace Express {
    interface Request {
      /**
       * The verified caller, set by the gate before the route's handlers run (the MCP SDK
       * transports read it from here). `undefined` on requests the gate lets through unverified
       * (`public` paths, `routes: 'declared'` without `protect()` / `requireScopes()`).
       */
      auth: VerifiedAuthInfo
    }
  }
}
