'use strict';
// The Node.js HTTP server of scripts/bench/node_peer.sh: node's own `http`
// module, one handler that answers every request 200 with a short body,
// keep-alive. Configuration (b) loads otel.js before this file with
// `node --require`; this file is the same in every configuration.
//
//   node server.js PORT        (listens on 127.0.0.1:PORT)
const http = require('http');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node server.js PORT');
  process.exit(2);
}
const body = Buffer.from('hello\n');

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on 127.0.0.1:${port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => process.exit(0));
}
