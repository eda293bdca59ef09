import express from 'express'
import t from 'tap'
import { expressAdapter } from './express-adapter.js'
import { runMatrix } from './run-matrix.js'

// The matrix against @portcullis/express on Express 5, over a real socket on 127.0.0.1.

await runMatrix(t, expressAdapter(express))
