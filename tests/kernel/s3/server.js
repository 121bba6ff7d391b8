// s3rver, a real S3-compatible server (SigV4 verified, objects on disk),
// for the S3 kernel test: node server.js PORT DIRECTORY tag=...
// Prints "listening" once it accepts connections; stops on SIGTERM.
const S3rver = require('s3rver');

const port = Number(process.argv[2]);
const directory = process.argv[3];
const server = new S3rver({ address: '127.0.0.1', port, directory, silent: true });
server.run().then(
  () => console.log('listening'),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
process.on('SIGTERM', () => server.close().then(() => process.exit(0), () => process.exit(1)));
