/** The foreign thread of wake_paths.ts: blocked in Atomics.wait, wakes the main loop on request. */
import { closeSync, constants, openSync, writeSync } from "node:fs";
import { CFunction, dlopen, FFIType, ptr } from "bun:ffi";

const libc = dlopen("libc.so.6", {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  connect: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  write: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
});
const AF_UNIX = 1;
const SOCK_STREAM = 1;

declare const self: Worker;

self.onmessage = (e: MessageEvent) => {
  const { fifo, sockPath } = e.data as { fifo: string; sockPath: string };
  const ctl = new Int32Array(e.data.ctl as SharedArrayBuffer);
  const call = CFunction({ ptr: e.data.ptr, args: [FFIType.u64], returns: FFIType.void });
  const fifoFd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  const s = libc.symbols.socket(AF_UNIX, SOCK_STREAM, 0);
  const sa = new Uint8Array(110); // struct sockaddr_un
  sa[0] = AF_UNIX;
  sa.set(new TextEncoder().encode(sockPath), 2);
  if (libc.symbols.connect(s, ptr(sa), sa.byteLength) !== 0) throw new Error(`connect ${sockPath} failed`);
  const one = new Uint8Array([1]);
  postMessage("ready");
  for (;;) {
    Atomics.wait(ctl, 0, 0);
    const m = Atomics.exchange(ctl, 0, 0);
    if (m === 1) call(0);
    else if (m === 2) writeSync(fifoFd, one);
    else if (m === 4) libc.symbols.write(s, ptr(one), 1);
    else if (m === 3) break;
  }
  libc.symbols.close(s);
  closeSync(fifoFd);
};
