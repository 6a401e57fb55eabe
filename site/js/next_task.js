// nextTask(): a Promise that resolves in a new task of the page's event loop (after rendering
// and input had their turn), for work done a piece per task. A message to ourselves, so no
// timer clamping (nested setTimeout(0)s wait 4 ms each).
export function nextTask() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => { channel.port1.close(); resolve(); };
    channel.port2.postMessage(0);
  });
}
