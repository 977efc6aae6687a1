// Prints what loading zmemif does, as one JSON line {ok} or {code, message}: the package tests
// run it in broken installations and check that the message says what to do.
try {
  const { MemifSocket } = await import("zmemif");
  const socket = new MemifSocket("@zmemif-node-package-load");
  socket.close();
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  console.log(JSON.stringify({ code: e.code ?? e.name, message: e.message }));
}
