// Whether a TCP connection to host:port opens within the timeout (seconds), run with
// `node -e <this file> HOST PORT SECONDS` inside a container that has Node: prints "open", or
// "closed <reason>" and exits 1.
const s = require('net').connect({ host: process.argv[1], port: +process.argv[2], timeout: +process.argv[3] * 1000 });
s.on('connect', () => {
  console.log('open');
  process.exit(0);
});
s.on('timeout', () => {
  console.log('closed timeout');
  process.exit(1);
});
s.on('error', (e) => {
  console.log('closed', e.code);
  process.exit(1);
});
