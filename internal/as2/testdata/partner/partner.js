'use strict'
// An AS2 partner built on the independent npm package libas2 0.8.2, for
// bizpipe's interop tests (internal/as2). Run it with
//
//   NODE_PATH=.../node_modules node partner.js CONFIG.json
//
// Node >= 18.19 / 20.11 refuses RSAES-PKCS1-v1_5 decryption (CVE-2023-46809),
// the key transport of OpenSSL and bizpipe (trap 3 of the libas2 notes):
// this script removes the PKCS#1 v1.5 padding itself (below), so it needs
// no --security-revert and runs on any Node version.
//
// CONFIG is a JSON object; "mode" selects what the partner does:
//
//   receive     an AS2 receiver on 127.0.0.1:port (0 = any). It prints
//               {"event":"listening","port":N}, then one line per message:
//               {"event":"received", messageId, from, to, contentType,
//               content (base64), mic, micAlgorithm, disposition, mdn:
//               "sync"|"async"|"none", signedMdn}. It decrypts and verifies
//               with libas2 and answers with libas2's MDN, signed (when the
//               request asks for it) by this script WITHOUT libas2's trim of
//               the CRLF after the report's closing delimiter (trap 2), sent
//               with a Content-Length (trap 5) or POSTed to the
//               Receipt-Delivery-Option URL. With "stockMdnSigning" libas2
//               signs the MDN itself (trim included), to show the trap.
//               With "syncMdnOnly" it ignores Receipt-Delivery-Option, as
//               servers that only send synchronous MDNs do: the MDN is in
//               the response.
//   send        an AS2 sender: composes a message with libas2 (signed with
//               "sign", encrypted with "encryption": aes128-CBC, aes256-CBC
//               or des-EDE3-CBC), POSTs it to "url" with libas2's own request
//               helper, and prints {"event":"sent", messageId, expectedMic,
//               expectedAlgorithm, selfVerified, status, mdn: {...}} where
//               expected* is the MIC libas2's own verification computes
//               over what it signed, and mdn is libas2's
//               reading of the sync MDN (or, with "asyncPort", of the async
//               MDN POSTed to 127.0.0.1:asyncPort). It asks for an MDN
//               signed with "mdnSigning" (default sha-256), or for an
//               unsigned one with "unsignedMdn".
//   verify-mdn  reads "mdnFile" (an MDN entity: headers, empty line, body)
//               and prints libas2's reading of it: {"event":"mdn", verified,
//               disposition, mic, micAlgorithm, originalMessageId}.
//
// Common keys: id (our AS2 id), partnerId, cert and key (our certificate
// and PKCS#8 key, PEM files), partnerCert (PEM file).
// Errors print {"event":"error","error":...} and exit 1.

const crypto = require('crypto')
const fs = require('fs')
const http = require('http')

// libas2 unwraps PKCS#1 v1.5 key transport with crypto.privateDecrypt and
// RSA_PKCS1_PADDING, which Node now refuses. Decrypt without padding and
// check and remove the padding here instead (EM = 00 02 PS 00 M, PS at
// least 8 non-zero octets; RFC 8017 §7.2.2). A test partner does not need
// to resist the Marvin timing attack the refusal is about.
const privateDecrypt = crypto.privateDecrypt
crypto.privateDecrypt = function (options, buffer) {
  if (options && options.padding === crypto.constants.RSA_PKCS1_PADDING) {
    const em = privateDecrypt(Object.assign({}, options, { padding: crypto.constants.RSA_NO_PADDING }), buffer)
    const sep = em.indexOf(0, 2)
    if (em[0] !== 0 || em[1] !== 2 || sep < 10) throw new Error('PKCS#1 v1.5 decryption error')
    return em.subarray(sep + 1)
  }
  return privateDecrypt.apply(this, arguments)
}
const {
  AS2Composer,
  AS2MimeNode,
  AS2Parser,
  AS2Disposition,
  AS2Crypto,
  AS2SignedData,
  request
} = require('libas2')

function out (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function fail (err) {
  out({ event: 'error', error: String(err && err.stack ? err.stack : err) })
  process.exit(1)
}

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const pem = (p) => (p ? fs.readFileSync(p, 'utf8') : undefined)
const cert = pem(config.cert)
const key = pem(config.key)
const partnerCert = pem(config.partnerCert)

// signMdn is AS2Crypto.sign without removeTrailingCrLf: the CRLF that ends
// the multipart/report's closing delimiter belongs to the signed entity
// (RFC 1847, RFC 2046), and OpenSSL and bizpipe hash it.
async function signMdn (node, algorithm) {
  const rootNode = new AS2MimeNode({
    contentType: `multipart/signed; protocol="application/pkcs7-signature"; micalg=${algorithm};`
  })
  const contentNode = rootNode.appendChild(node)
  const contentHeaders = contentNode._headers
  for (let i = 0, len = contentHeaders.length; i < len; i++) {
    const header = contentHeaders[i]
    if (header.key.toLowerCase() === 'content-type') continue
    rootNode.setHeader(header.key, header.value)
    contentHeaders.splice(i, 1)
    i--
    len--
  }
  const canonical = await AS2Crypto.buildNode(contentNode)
  const signedData = new AS2SignedData(canonical)
  const der = await signedData.sign({ cert, key, algorithm })
  // The filename gives the part Content-Disposition: attachment, without
  // which libas2's parser decodes base64 as UTF-8 (trap 6).
  rootNode.appendChild(new AS2MimeNode({
    filename: 'smime.p7s',
    contentType: 'application/pkcs7-signature',
    content: der
  }))
  return rootNode
}

// headerMap turns a built node's header text into an object.
async function split (node) {
  const buf = await node.build()
  const text = buf.toString('utf8')
  const i = text.indexOf('\r\n\r\n')
  const head = text.slice(0, i)
  const body = text.slice(i + 4)
  const headers = {}
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const c = line.indexOf(':')
    headers[line.slice(0, c).trim()] = line.slice(c + 1).trim()
  }
  return { headers, body: Buffer.from(body, 'utf8') }
}

function readBody (req) {
  return new Promise((resolve, reject) => {
    const bufs = []
    req.on('data', (d) => bufs.push(d))
    req.on('end', () => resolve(Buffer.concat(bufs)))
    req.on('error', reject)
  })
}

function post (url, headers, body) {
  return new Promise((resolve, reject) => {
    const h = Object.assign({}, headers, { 'Content-Length': body.length })
    const req = http.request(url, { method: 'POST', headers: h }, (res) => {
      readBody(res).then((b) => resolve({ status: res.statusCode, body: b }), reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

function micalgFromOptions (opts) {
  const m = /signed-receipt-micalg\s*=\s*[^,;]*,\s*([^,;]+)/i.exec(opts || '')
  return m ? m[1].trim().toLowerCase() : undefined
}

async function receive () {
  const server = http.createServer(async (req, res) => {
    try {
      const body = await readBody(req)
      const lower = {}
      for (let i = 0; i < req.rawHeaders.length; i += 2) lower[req.rawHeaders[i].toLowerCase()] = req.rawHeaders[i + 1]
      // An MDN posted to us (async MDNs for a "send" partner go elsewhere).
      const node = await AS2Parser.parse({ headers: req.rawHeaders, content: body })
      const mdnTo = lower['disposition-notification-to']
      const options = lower['disposition-notification-options']
      const asyncUrl = lower['receipt-delivery-option']
      const wantSigned = /pkcs7-signature/i.test(options || '')
      const micalg = micalgFromOptions(options)
      const { contentNode, dispositionNode, disposition } = await AS2Disposition.outgoing({
        node,
        agreement: {
          host: { id: config.id, certificate: cert, privateKey: key, decrypt: config.decrypt !== false },
          partner: {
            id: lower['as2-from'],
            certificate: partnerCert,
            verify: config.verify !== false,
            // stockMdnSigning: libas2 signs the MDN itself, with its CRLF
            // trim (to show trap 2); otherwise this script signs below.
            mdn: { signing: config.stockMdnSigning && wantSigned ? (config.mdnSigning || micalg || 'sha-256') : false }
          }
        }
      })
      let mdnNode = dispositionNode
      // libas2 signs with its own configured digest (trap 8); this partner
      // uses config.mdnSigning, or else the first requested micalg.
      const signAlg = config.mdnSigning || micalg || 'sha-256'
      if (wantSigned && config.signMdn !== false && !config.stockMdnSigning) {
        // Rebuild the unsigned report, then sign it ourselves.
        const report = dispositionNode
        report._headers = report._headers.filter((h) => /^content-type$/i.test(h.key))
        mdnNode = await signMdn(report, signAlg)
      }
      mdnNode.setHeader([
        { key: 'AS2-From', value: config.id },
        { key: 'AS2-To', value: lower['as2-from'] },
        { key: 'AS2-Version', value: '1.2' }
      ])
      mdnNode.messageId(true)
      const { headers, body: mdnBody } = await split(mdnNode)
      const n = disposition.notification
      out({
        event: 'received',
        messageId: lower['message-id'],
        from: lower['as2-from'],
        to: lower['as2-to'],
        contentType: contentNode ? contentNode.getHeader('content-type') : undefined,
        content: contentNode && contentNode.content !== undefined ? Buffer.from(contentNode.content).toString('base64') : undefined,
        disposition: n.disposition,
        mic: n.receivedContentMic ? n.receivedContentMic.mic : undefined,
        micAlgorithm: n.receivedContentMic ? n.receivedContentMic.algorithm : undefined,
        mdn: mdnTo ? (asyncUrl ? 'async' : 'sync') : 'none',
        signedMdn: wantSigned && config.signMdn !== false,
        mdnSigning: signAlg
      })
      if (!mdnTo) {
        res.writeHead(200, { 'Content-Length': 0 })
        res.end()
        return
      }
      if (asyncUrl && !config.syncMdnOnly) {
        res.writeHead(200, { 'Content-Length': 0 })
        res.end()
        const r = await post(asyncUrl, headers, mdnBody)
        out({ event: 'async-mdn-sent', url: asyncUrl, status: r.status })
        return
      }
      headers['Content-Length'] = mdnBody.length
      res.writeHead(200, headers)
      res.end(mdnBody)
    } catch (err) {
      out({ event: 'receive-error', error: String(err && err.stack ? err.stack : err) })
      res.writeHead(500, { 'Content-Length': 0 })
      res.end()
    }
  })
  server.listen(config.port || 0, '127.0.0.1', () => {
    out({ event: 'listening', port: server.address().port })
  })
}

// readMdn is libas2's reading of an MDN node: verified with the partner's
// certificate when signed.
async function readMdn (node) {
  const signed = (node.getHeader('content-type') || '').toLowerCase().startsWith('multipart/signed')
  const disposition = await AS2Disposition.incoming(node, signed ? { cert: partnerCert } : undefined)
  const n = disposition.notification
  return {
    signed,
    verified: signed, // incoming() throws when a signed MDN does not verify
    disposition: n.disposition,
    originalMessageId: n.originalMessageId,
    mic: n.receivedContentMic ? n.receivedContentMic.mic : undefined,
    micAlgorithm: n.receivedContentMic ? n.receivedContentMic.algorithm : undefined
  }
}

function waitForAsyncMdn (port) {
  return new Promise((resolve, reject) => {
    const server = http.createServer(async (req, res) => {
      try {
        const body = await readBody(req)
        res.writeHead(200, { 'Content-Length': 0 })
        res.end()
        server.close()
        resolve(await AS2Parser.parse({ headers: req.rawHeaders, content: body }))
      } catch (err) {
        reject(err)
      }
    })
    server.listen(port, '127.0.0.1')
  })
}

async function send () {
  const content = fs.readFileSync(config.content)
  const sign = config.sign || 'sha-256'
  // Compose as AS2Composer.compile does, keeping the signed node so that
  // libas2's own verify logic yields the MIC a receiver must return.
  let node = new AS2MimeNode({
    filename: config.filename || 'payload.edi',
    contentType: config.contentType || 'application/edi-x12',
    content: config.contentType && config.contentType.startsWith('text/') ? content.toString('utf8') : content
  })
  node = await node.sign({ cert, key, algorithm: sign })
  const signedBuf = await node.build()
  const reparsed = await AS2Parser.parse(signedBuf)
  // false when libas2 cannot verify its own signature: it signs a part
  // without the CRLF that ends it, so a payload ending in CRLF is signed
  // over one CRLF less than it sends.
  const expected = await AS2Crypto.verify(reparsed, { cert }, true)
  if (config.encryption) {
    node = await node.encrypt({ cert: partnerCert, encryption: config.encryption })
  }
  node.setHeader([
    { key: 'AS2-From', value: config.id },
    { key: 'AS2-To', value: config.partnerId },
    { key: 'AS2-Version', value: '1.2' }
  ])
  node.messageId(true)
  const messageId = node.messageId()
  const mdnSigning = config.unsignedMdn ? false : (config.mdnSigning || 'sha-256')
  if (config.mdn !== false) {
    node.setHeader('Disposition-Notification-To', config.id)
    node.setHeader('Disposition-Notification-Options', mdnSigning
      ? `signed-receipt-protocol=required,pkcs7-signature; signed-receipt-micalg=required,${mdnSigning}`
      : 'signed-receipt-protocol=optional,pkcs7-signature; signed-receipt-micalg=optional,sha-256')
    if (config.asyncPort) {
      node.setHeader('Receipt-Delivery-Option', `http://127.0.0.1:${config.asyncPort}/as2`)
    }
    if (!mdnSigning) node._headers = node._headers.filter((h) => h.key !== 'Disposition-Notification-Options')
  }
  const { headers, body } = await node.buildObject()
  const asyncMdn = config.asyncPort ? waitForAsyncMdn(config.asyncPort) : undefined
  // libas2's request helper, as a libas2 application would send: it
  // parses the raw socket bytes of the response (trap 5).
  const res = await request({ url: config.url, headers: Object.assign(headers, { 'Content-Length': Buffer.byteLength(body) }), body })
  const result = {
    event: 'sent',
    messageId,
    selfVerified: !!expected,
    expectedMic: expected ? expected.digest.toString('base64') : undefined,
    expectedAlgorithm: expected ? expected.algorithm : undefined,
    status: res.statusCode,
    chunked: /chunked/i.test(res.headers['transfer-encoding'] || '')
  }
  let mdnNode
  if (asyncMdn) {
    mdnNode = await asyncMdn
  } else if (config.mdn !== false && res.rawBody.length > 0) {
    mdnNode = await res.mime()
  }
  if (mdnNode) {
    try {
      result.mdn = await readMdn(mdnNode)
    } catch (err) {
      result.mdnError = String(err && err.message ? err.message : err)
    }
  }
  out(result)
}

async function verifyMdn () {
  const raw = fs.readFileSync(config.mdnFile)
  const node = await AS2Parser.parse(raw)
  try {
    out(Object.assign({ event: 'mdn' }, await readMdn(node)))
  } catch (err) {
    out({ event: 'mdn', verified: false, error: String(err && err.message ? err.message : err) })
  }
}

const modes = { receive, send, 'verify-mdn': verifyMdn }
if (!modes[config.mode]) fail(new Error(`unknown mode ${config.mode}`))
modes[config.mode]().catch(fail)
