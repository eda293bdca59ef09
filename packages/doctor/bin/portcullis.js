#!/usr/bin/env node
// The command's entry point lives in the build; this file exists before the build so installs
// can link it (`pnpm build` compiles dist/).
import '../dist/cli.js'
