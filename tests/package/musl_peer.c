/*
 * The package test's peer for linux-x64-musl, where neither Bun nor Node.js runs on this machine:
 * built with musl-gcc and started by musl's loader, it dlopens the package's library (so the
 * symbols it needs must be exported by it) and runs peer.mjs's exchange through the C ABI
 * (crates/zmemif/include/zmemif.h): the client sends COUNT packets (packet 5 is 9000 bytes, a
 * chain of 2048-byte buffers), the server checks each and echoes it, the client checks each echo.
 * Prints "<role> ok <count> musl"; any failure exits 1 saying what went wrong.
 *   musl_peer LIBRARY server|client SOCKET [COUNT]
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zmemif.h"

#define TIMEOUT_MS 20000
#define MAX_DESCS 64

#define FN(name) static __typeof__(name) *f_##name
FN(zmemif_last_error);
FN(zmemif_socket_new);
FN(zmemif_socket_free);
FN(zmemif_port_new);
FN(zmemif_port_free);
FN(zmemif_port_wait_connected);
FN(zmemif_port_info_get);
FN(zmemif_rx_queue_open);
FN(zmemif_tx_queue_open);
FN(zmemif_rx_queue_free);
FN(zmemif_tx_queue_free);
FN(zmemif_rx_queue_attach);
FN(zmemif_tx_queue_attach);
FN(zmemif_rx_queue_detach);
FN(zmemif_tx_queue_detach);
FN(zmemif_rx_queue_num_regions);
FN(zmemif_rx_queue_region);
FN(zmemif_rx_queue_wait);
FN(zmemif_tx_wait);
FN(zmemif_rx_burst);
FN(zmemif_rx_release);
FN(zmemif_tx_alloc);
FN(zmemif_tx_burst);

static const char *role;

static void die(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "musl_peer %s: ", role);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Fails with the library's message for a negative result. */
static int32_t check(int32_t rc, const char *what) {
	if (rc < 0) {
		uint8_t msg[256] = {0};
		f_zmemif_last_error(msg, sizeof msg);
		die("%s failed (%d): %s", what, rc, (const char *)msg);
	}
	return rc;
}

/* Packet i: 4-byte little-endian i, then bytes (i * 7 + j) & 0xff (as peer.mjs). */
static uint32_t packet(uint32_t i, uint8_t *p) {
	uint32_t len = i == 5 ? 9000 : 64 + (i * 37) % 1400;
	for (uint32_t j = 4; j < len; j++) p[j] = (uint8_t)((i * 7 + j) & 0xff);
	memcpy(p, &i, 4);
	return len;
}

static void check_packet(const uint8_t *got, uint32_t got_len, uint32_t i, const char *what) {
	static uint8_t want[9000];
	uint32_t len = packet(i, want);
	if (got_len != len) die("%s %u: %u bytes, want %u", what, i, got_len, len);
	for (uint32_t j = 0; j < len; j++)
		if (got[j] != want[j]) die("%s %u: byte %u is %u, want %u", what, i, j, got[j], want[j]);
}

static uint8_t *regions[256];

/* The connection's regions (rx and tx queues of one connection share them). */
static void map_regions(zmemif_rx_queue *q) {
	int32_t n = check(f_zmemif_rx_queue_num_regions(q), "zmemif_rx_queue_num_regions");
	for (int32_t r = 0; r < n && r < 256; r++) {
		uint64_t base = 0, size = 0;
		check(f_zmemif_rx_queue_region(q, (uint32_t)r, &base, &size), "zmemif_rx_queue_region");
		regions[r] = (uint8_t *)(uintptr_t)base;
	}
}

/* Sends bytes p[0..len) as one packet, chained over as many buffers as it needs. */
static void send_packet(zmemif_tx_queue *tx, const uint8_t *p, uint32_t len) {
	zmemif_desc d[MAX_DESCS];
	if (check(f_zmemif_tx_wait(tx, 1, TIMEOUT_MS), "zmemif_tx_wait") == 0) die("no tx buffer in %d ms", TIMEOUT_MS);
	check(f_zmemif_tx_alloc(tx, d, 1), "zmemif_tx_alloc");
	uint32_t cap = d[0].length, n = (len + cap - 1) / cap;
	if (n > MAX_DESCS) die("packet of %u bytes needs %u buffers", len, n);
	if (n > 1) {
		if (check(f_zmemif_tx_wait(tx, n, TIMEOUT_MS), "zmemif_tx_wait") == 0) die("no %u tx buffers", n);
		if ((uint32_t)check(f_zmemif_tx_alloc(tx, d, n), "zmemif_tx_alloc") < n) die("fewer than %u tx buffers", n);
	}
	for (uint32_t k = 0, off = 0; k < n; k++) {
		uint32_t part = len - off < cap ? len - off : cap;
		memcpy(regions[d[k].region] + d[k].offset, p + off, part);
		d[k].length = part;
		d[k].flags = k + 1 < n ? ZMEMIF_DESC_NEXT : 0;
		off += part;
	}
	check(f_zmemif_tx_burst(tx, d, n), "zmemif_tx_burst");
}

/* Receives the next packet into p; returns its length. */
static uint32_t recv_packet(zmemif_rx_queue *rx, uint8_t *p, uint32_t max) {
	static zmemif_desc d[MAX_DESCS];
	for (;;) {
		int32_t n = check(f_zmemif_rx_burst(rx, d, MAX_DESCS), "zmemif_rx_burst");
		if (n == 0) {
			if (check(f_zmemif_rx_queue_wait(rx, TIMEOUT_MS), "zmemif_rx_queue_wait") == 0) die("nothing received in %d ms", TIMEOUT_MS);
			continue;
		}
		uint32_t len = 0;
		for (int32_t k = 0; k < n; k++) {
			if (len + d[k].length > max) die("received more than %u bytes", max);
			memcpy(p + len, regions[d[k].region] + d[k].offset, d[k].length);
			len += d[k].length;
			if (!(d[k].flags & ZMEMIF_DESC_NEXT)) {
				if (k + 1 != n) die("%d descriptors after a whole packet: one packet at a time expected", n - k - 1);
				break;
			}
		}
		check(f_zmemif_rx_release(rx), "zmemif_rx_release");
		return len;
	}
}

int main(int argc, char **argv) {
	role = argc > 2 ? argv[2] : "?";
	if (argc < 4 || (strcmp(role, "server") != 0 && strcmp(role, "client") != 0)) {
		fprintf(stderr, "usage: musl_peer LIBRARY server|client SOCKET [COUNT]\n");
		return 2;
	}
	const char *path = argv[3];
	uint32_t count = argc > 4 ? (uint32_t)atoi(argv[4]) : 20;
	void *lib = dlopen(argv[1], RTLD_NOW);
	if (lib == NULL) die("dlopen: %s", dlerror());
#define LOAD(name)                                                   \
	if ((f_##name = (__typeof__(name) *)dlsym(lib, #name)) == NULL) \
		die("%s exports no %s", argv[1], #name);
	LOAD(zmemif_last_error) LOAD(zmemif_socket_new) LOAD(zmemif_socket_free) LOAD(zmemif_port_new)
	LOAD(zmemif_port_free) LOAD(zmemif_port_wait_connected) LOAD(zmemif_port_info_get)
	LOAD(zmemif_rx_queue_open) LOAD(zmemif_tx_queue_open) LOAD(zmemif_rx_queue_free) LOAD(zmemif_tx_queue_free)
	LOAD(zmemif_rx_queue_attach) LOAD(zmemif_tx_queue_attach) LOAD(zmemif_rx_queue_detach)
	LOAD(zmemif_tx_queue_detach) LOAD(zmemif_rx_queue_num_regions) LOAD(zmemif_rx_queue_region)
	LOAD(zmemif_rx_queue_wait) LOAD(zmemif_tx_wait)
	LOAD(zmemif_rx_burst) LOAD(zmemif_rx_release) LOAD(zmemif_tx_alloc) LOAD(zmemif_tx_burst)

	int abstract = path[0] == '@';
	const char *name = abstract ? path + 1 : path;
	zmemif_socket *sock = NULL;
	check(f_zmemif_socket_new((const uint8_t *)name, (uint32_t)strlen(name), abstract, 0xFFFFFFFFu, 0xFFFFFFFFu, 0, &sock),
	      "zmemif_socket_new");
	zmemif_port_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.role = strcmp(role, "server") == 0 ? ZMEMIF_ROLE_SERVER : ZMEMIF_ROLE_CLIENT;
	cfg.secret_len = (uint8_t)strlen("package-test");
	memcpy(cfg.secret, "package-test", cfg.secret_len);
	zmemif_port *port = NULL;
	check(f_zmemif_port_new(sock, &cfg, &port), "zmemif_port_new");
	check(f_zmemif_port_wait_connected(port, TIMEOUT_MS), "zmemif_port_wait_connected");
	zmemif_rx_queue *rx = NULL;
	zmemif_tx_queue *tx = NULL;
	check(f_zmemif_rx_queue_open(port, 0, &rx), "zmemif_rx_queue_open");
	check(f_zmemif_tx_queue_open(port, 0, &tx), "zmemif_tx_queue_open");
	check(f_zmemif_rx_queue_attach(rx), "zmemif_rx_queue_attach");
	check(f_zmemif_tx_queue_attach(tx), "zmemif_tx_queue_attach");
	map_regions(rx);

	static uint8_t buf[65536];
	if (cfg.role == ZMEMIF_ROLE_SERVER) {
		for (uint32_t i = 0; i < count; i++) {
			uint32_t len = recv_packet(rx, buf, sizeof buf);
			check_packet(buf, len, i, "received");
			send_packet(tx, buf, len);
		}
		/* Wait for the client to go: it leaves once it has every echo. */
		zmemif_port_info info;
		struct timespec tick = {0, 10 * 1000 * 1000};
		for (int t = 0; t < TIMEOUT_MS / 10; t++) {
			check(f_zmemif_port_info_get(port, &info), "zmemif_port_info_get");
			if (info.state != ZMEMIF_STATE_CONNECTED) break;
			nanosleep(&tick, NULL);
		}
		if (info.state == ZMEMIF_STATE_CONNECTED) die("the client did not disconnect in %d ms", TIMEOUT_MS);
	} else {
		for (uint32_t i = 0; i < count; i++) {
			send_packet(tx, buf, packet(i, buf));
			uint32_t len = recv_packet(rx, buf, sizeof buf);
			check_packet(buf, len, i, "echo");
		}
	}
	printf("%s ok %u musl\n", role, count);
	f_zmemif_rx_queue_detach(rx);
	f_zmemif_tx_queue_detach(tx);
	f_zmemif_rx_queue_free(rx);
	f_zmemif_tx_queue_free(tx);
	f_zmemif_port_free(port);
	f_zmemif_socket_free(sock);
	return 0;
}
