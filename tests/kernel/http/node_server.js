// A Node.js http server for the kernel tests: keep-alive, chunked
// responses (res.write without a Content-Length), 404 for /missing.
const http = require('http');
const port = Number(process.argv[2]);
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/missing')) {
    res.statusCode = 404;
    res.end('no\n');
    return;
  }
  res.statusCode = 200;
  res.write('chunk one\n');
  res.write('chunk two\n');
  setTimeout(() => res.end('chunk three\n'), 2);
});
server.keepAliveTimeout = 30000;
server.listen(port, '127.0.0.1', () => console.log('listening'));
