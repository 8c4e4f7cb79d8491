// A tiny DCRF client for the README's walkthrough: subscribes to one instance
// and prints every frame the server sends, one line each, as `<- FRAME`.
//
//   node interop/js/watch.mjs ws://127.0.0.1:8000/api/live/products/ 00000000-0000-4000-8000-000000000001
//
// Needs `ws` from interop/js/node_modules (`npm ci` in interop/js). Runs until
// the server closes the socket or it is interrupted; exits 1 when it cannot connect.
import WebSocket from 'ws';

const [url, pk] = process.argv.slice(2);
if (!url || !pk) {
  console.error('usage: node watch.mjs WS_URL PK');
  process.exit(2);
}
const ws = new WebSocket(url);
ws.on('open', () => ws.send(JSON.stringify({ action: 'subscribe_instance', request_id: 1, pk })));
ws.on('message', (frame) => console.log(`<- ${frame}`));
ws.on('close', (code) => console.error(`closed ${code}`));
ws.on('error', (error) => {
  console.error(`${url}: ${error.message}`);
  process.exit(1);
});
