'use strict'
// An LSP client built on vscode-jsonrpc, the JSON-RPC layer of VS Code's
// own language client: an implementation of the protocol's framing and
// message handling independent of bizpipe's, for internal/lsp's tests. Run
// it with
//
//   NODE_PATH=.../node_modules node client.js SCENARIO.json
//
// SCENARIO is {"command": [program, args...], "steps": [...]}. The client
// starts the command as the server, initializes it, runs the steps in
// order and prints one JSON line: {"results": [...]}, one result per step,
// and "exit": the server's exit status. Steps:
//
//   {"op": "open", "uri", "text"}              didOpen (languageId "hcl")
//   {"op": "change", "uri", "version", "text"} didChange, whole text
//   {"op": "diagnostics", "uri", "code"}       waits for a publishDiagnostics
//       for uri holding a diagnostic with that code ("" = none at all) and
//       returns its diagnostics
//   {"op": "hover" | "definition" | "completion", "uri", "line", "character"}
//       the request's result
//   {"op": "shutdown"}                         shutdown, then exit
//
// Every wait is bounded: a server that hangs fails the scenario with
// {"error": ...} and exit status 1.

const cp = require('child_process')
const fs = require('fs')
const rpc = require('vscode-jsonrpc/node')

const scenario = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const patience = 60000

function fail (err) {
  process.stdout.write(JSON.stringify({ error: String(err && err.stack || err) }) + '\n')
  process.exit(1)
}

async function main () {
  const [cmd, ...args] = scenario.command
  const server = cp.spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise(resolve => server.on('exit', code => resolve(code)))
  const conn = rpc.createMessageConnection(
    new rpc.StreamMessageReader(server.stdout), new rpc.StreamMessageWriter(server.stdin))
  // The latest diagnostics per uri, and who waits for them.
  const latest = new Map()
  let waiters = []
  conn.onNotification('textDocument/publishDiagnostics', p => {
    latest.set(p.uri, p.diagnostics)
    waiters = waiters.filter(w => !w(p))
  })
  conn.onNotification('window/logMessage', () => {})
  conn.listen()

  const bounded = (promise, what) => Promise.race([promise,
    new Promise((resolve, reject) => setTimeout(() => reject(new Error('timed out: ' + what)), patience))])
  const matches = (ds, code) => code === '' ? ds.length === 0 : ds.some(d => d.code === code)

  const init = await bounded(conn.sendRequest('initialize', {
    processId: process.pid, rootUri: null, capabilities: {}, clientInfo: { name: 'vscode-jsonrpc test client' }
  }), 'initialize')
  conn.sendNotification('initialized', {})

  const results = []
  for (const s of scenario.steps) {
    const doc = { textDocument: { uri: s.uri }, position: { line: s.line, character: s.character } }
    switch (s.op) {
      case 'open':
        conn.sendNotification('textDocument/didOpen', { textDocument: { uri: s.uri, languageId: 'hcl', version: 1, text: s.text } })
        results.push(null)
        break
      case 'change':
        conn.sendNotification('textDocument/didChange', { textDocument: { uri: s.uri, version: s.version }, contentChanges: [{ text: s.text }] })
        results.push(null)
        break
      case 'diagnostics': {
        const have = latest.get(s.uri)
        if (have && matches(have, s.code)) {
          results.push(have)
          break
        }
        results.push(await bounded(new Promise(resolve => waiters.push(p => {
          if (p.uri !== s.uri || !matches(p.diagnostics, s.code)) return false
          resolve(p.diagnostics)
          return true
        })), 'diagnostics ' + s.code + ' for ' + s.uri))
        break
      }
      case 'hover':
      case 'definition':
      case 'completion':
        results.push(await bounded(conn.sendRequest('textDocument/' + s.op, doc), s.op))
        break
      case 'shutdown':
        await bounded(conn.sendRequest('shutdown'), 'shutdown')
        conn.sendNotification('exit')
        results.push(null)
        break
      default:
        throw new Error('unknown step ' + s.op)
    }
  }
  const exit = await bounded(exited, 'the server to exit')
  process.stdout.write(JSON.stringify({ capabilities: init.capabilities, results, exit }) + '\n')
  process.exit(0)
}

main().catch(fail)
