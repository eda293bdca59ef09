import type express from 'express'
import express4 from 'express4'
import t from 'tap'
import { expressAdapter } from './express-adapter.js'
import { runMatrix } from './run-matrix.js'

// The matrix against @portcullis/express on Express 4 (the peer range covers it), over a real socket.

await runMatrix(t, expressAdapter(express4 as unknown as typeof express))
