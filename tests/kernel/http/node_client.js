// Makes N keep-alive GET requests one after another; prints "done N".
const http = require('http');
const [port, n, path] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] || '/'];
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let done = 0;
function next() {
  if (done === n) { console.log(`done ${done}`); agent.destroy(); return; }
  http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
    res.resume();
    res.on('end', () => { done++; next(); });
  }).on('error', (e) => { console.error(e.message); process.exit(1); });
}
next();
