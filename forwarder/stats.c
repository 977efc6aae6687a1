/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2025 zmemif authors
 */

/*
 * Counters: each lcore writes its own (per port slot); the main lcore sums them to print
 * them and to answer the management socket with JSON. 64-bit aligned loads and stores do
 * not tear on the platforms DPDK runs on, so the readers take no lock.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <rte_cycles.h>
#include <rte_string_fns.h>

#include "fwd.h"

static const char * const kind_names[] = {
	[PORT_UPLINK] = "uplink",
	[PORT_MEMIF] = "memif",
	[PORT_EXCEPTION] = "exception",
};

static void
counters_add(struct port_counters *sum, const struct port_counters *c)
{
	unsigned int d;

	sum->rx += __atomic_load_n(&c->rx, __ATOMIC_RELAXED);
	sum->steered += __atomic_load_n(&c->steered, __ATOMIC_RELAXED);
	sum->tx += __atomic_load_n(&c->tx, __ATOMIC_RELAXED);
	for (d = 0; d < DROP_MAX; d++)
		sum->drop[d] += __atomic_load_n(&c->drop[d], __ATOMIC_RELAXED);
}

static uint64_t
drops_total(const struct port_counters *c)
{
	uint64_t n = 0;
	unsigned int d;

	for (d = 0; d < DROP_MAX; d++)
		n += c->drop[d];
	return n;
}

static void
port_totals(const struct fwd_ctx *ctx, uint16_t slot, struct port_counters *sum)
{
	unsigned int i;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < ctx->n_lcores; i++)
		counters_add(sum, &ctx->lcores[i].cnt[slot]);
}

static void
lcore_totals(const struct fwd_ctx *ctx, unsigned int idx, struct port_counters *sum)
{
	uint16_t s;

	memset(sum, 0, sizeof(*sum));
	for (s = 0; s < ctx->n_slots; s++)
		counters_add(sum, &ctx->lcores[idx].cnt[s]);
}

static double
uptime(const struct fwd_ctx *ctx)
{
	return (double)(rte_get_timer_cycles() - ctx->start_tsc) / (double)rte_get_timer_hz();
}

void
stats_print(const struct fwd_ctx *ctx, FILE *f)
{
	struct port_counters c;
	unsigned int i, d;
	uint16_t s;

	fprintf(f, "\n%s counters after %.1f s\n", FWD_NAME, uptime(ctx));
	fprintf(f, "%-10s %-4s %14s %14s %14s", "port", "link", "rx", "steered", "tx");
	for (d = 0; d < DROP_MAX; d++)
		fprintf(f, " %12s", drop_cause_names[d]);
	fprintf(f, "\n");
	for (s = 0; s < ctx->n_slots; s++) {
		port_totals(ctx, s, &c);
		fprintf(f, "%-10s %-4s %14" PRIu64 " %14" PRIu64 " %14" PRIu64, ctx->ports[s].name,
			__atomic_load_n(&ctx->ports[s].link_up, __ATOMIC_RELAXED) ? "up" : "down",
			c.rx, c.steered, c.tx);
		for (d = 0; d < DROP_MAX; d++)
			fprintf(f, " %12" PRIu64, c.drop[d]);
		fprintf(f, "\n");
	}
	for (i = 0; i < ctx->n_lcores; i++) {
		lcore_totals(ctx, i, &c);
		fprintf(f, "lcore %-4u %-4s %14" PRIu64 " %14" PRIu64 " %14" PRIu64,
			ctx->lcores[i].lcore_id, "", c.rx, c.steered, c.tx);
		for (d = 0; d < DROP_MAX; d++)
			fprintf(f, " %12" PRIu64, c.drop[d]);
		fprintf(f, "\n");
	}
	fflush(f);
}

static void
json_counters(FILE *f, const struct port_counters *c)
{
	unsigned int d;

	fprintf(f, "\"rx\":%" PRIu64 ",\"steered\":%" PRIu64 ",\"tx\":%" PRIu64
		",\"dropped\":%" PRIu64 ",\"drops\":{", c->rx, c->steered, c->tx, drops_total(c));
	for (d = 0; d < DROP_MAX; d++)
		fprintf(f, "%s\"%s\":%" PRIu64, d ? "," : "", drop_cause_names[d], c->drop[d]);
	fprintf(f, "}");
}

/* The whole state as one JSON object; the caller frees it. */
char *
stats_json(const struct fwd_ctx *ctx, size_t *len)
{
	const struct fwd_config *cfg = &ctx->cfg;
	char *buf = NULL;
	char addr[INET_ADDRSTRLEN], mac[RTE_ETHER_ADDR_FMT_SIZE];
	struct port_counters c;
	FILE *f;
	unsigned int i;
	uint16_t s;

	f = open_memstream(&buf, len);
	if (f == NULL)
		return NULL;
	inet_ntop(AF_INET, &ctx->host_addr, addr, sizeof(addr));
	rte_ether_format_addr(mac, sizeof(mac), &ctx->mac);
	fprintf(f, "{\"program\":\"%s\",\"uptime_s\":%.3f,\"host\":\"%s/%u\",\"mac\":\"%s\","
		"\"memif_role\":\"%s\",\"memif_socket\":\"%s\",\"exception\":\"%s\","
		"\"kernel_iface\":\"%s\",\"tsc_hz\":%" PRIu64 ","
		"\"mbufs\":{\"size\":%u,\"available\":%u},", FWD_NAME, uptime(ctx), addr,
		cfg->host_prefix, mac, cfg->memif_role == MEMIF_SERVER ? "server" : "client",
		cfg->memif_socket,
		ctx->exception == EXCEPTION_TAP ? "tap" :
		ctx->exception == EXCEPTION_VIRTIO_USER ? "virtio-user" : "none",
		ctx->exception_slot != SLOT_NONE ? cfg->kernel_iface : "", rte_get_tsc_hz(),
		ctx->pool->size,
		rte_mempool_avail_count(ctx->pool));
	creds_json(f);
	fprintf(f, ",");
	quiesce_json(f);
	fprintf(f, ",\"ports\":[");

	for (s = 0; s < ctx->n_slots; s++) {
		const struct fwd_port *p = &ctx->ports[s];
		struct rte_eth_stats hw;

		port_totals(ctx, s, &c);
		fprintf(f, "%s{\"name\":\"%s\",\"kind\":\"%s\",\"device\":\"%s\",\"port_id\":%u,",
			s ? "," : "", p->name, kind_names[p->kind], p->dev_name, p->port_id);
		if (p->kind == PORT_MEMIF)
			fprintf(f, "\"memif_id\":%u,", p->memif_id);
		if (p->kind != PORT_UPLINK)
			fprintf(f, "\"lcore\":%u,", ctx->lcores[p->owner].lcore_id);
		fprintf(f, "\"link\":\"%s\",",
			__atomic_load_n(&p->link_up, __ATOMIC_RELAXED) ? "up" : "down");
		json_counters(f, &c);
		memset(&hw, 0, sizeof(hw));
		if (p->started)
			rte_eth_stats_get(p->port_id, &hw);
		fprintf(f, ",\"hw\":{\"ipackets\":%" PRIu64 ",\"opackets\":%" PRIu64
			",\"imissed\":%" PRIu64 ",\"ierrors\":%" PRIu64 ",\"oerrors\":%" PRIu64
			",\"rx_nombuf\":%" PRIu64 "}}", hw.ipackets, hw.opackets, hw.imissed,
			hw.ierrors, hw.oerrors, hw.rx_nombuf);
	}
	fprintf(f, "],\"lcores\":[");
	for (i = 0; i < ctx->n_lcores; i++) {
		const struct fwd_lcore *lc = &ctx->lcores[i];
		uint64_t busy = __atomic_load_n(&lc->busy_tsc, __ATOMIC_RELAXED);
		uint64_t start = __atomic_load_n(&lc->start_tsc, __ATOMIC_RELAXED);
		uint64_t all = start != 0 ? rte_rdtsc() - start : 0;

		lcore_totals(ctx, i, &c);
		fprintf(f, "%s{\"lcore\":%u,\"rx\":%s,\"tx\":%s,\"loops\":%" PRIu64
			",\"busy_cycles\":%" PRIu64 ",\"cycles\":%" PRIu64 ",\"busy_pct\":%.1f,"
			"\"totals\":{", i ? "," : "", lc->lcore_id, lc->rx ? "true" : "false",
			lc->tx ? "true" : "false", __atomic_load_n(&lc->epoch, __ATOMIC_RELAXED),
			busy, all, all != 0 ? 100.0 * (double)busy / (double)all : 0.0);
		json_counters(f, &c);
		fprintf(f, "},\"ports\":{");
		for (s = 0; s < ctx->n_slots; s++) {
			memset(&c, 0, sizeof(c));
			counters_add(&c, &lc->cnt[s]);
			fprintf(f, "%s\"%s\":{", s ? "," : "", ctx->ports[s].name);
			json_counters(f, &c);
			fprintf(f, "}");
		}
		fprintf(f, "}}");
	}
	fprintf(f, "]}\n");
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int
mgmt_open_unix(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (socket_path_prepare(path, SOCK_STREAM, "--mgmt") < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
	    listen(fd, 16) < 0) {
		fprintf(stderr, "%s: --mgmt %s: %s\n", FWD_NAME, path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
mgmt_open_tcp(unsigned int port)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		fprintf(stderr, "%s: --mgmt-tcp %u: %s\n", FWD_NAME, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
mgmt_open(const struct fwd_config *cfg, int *fds, unsigned int *n_fds)
{
	*n_fds = 0;
	if (cfg->mgmt_path[0] != '\0') {
		fds[*n_fds] = mgmt_open_unix(cfg->mgmt_path);
		if (fds[*n_fds] < 0)
			return -1;
		(*n_fds)++;
	}
	if (cfg->mgmt_tcp_port != 0) {
		fds[*n_fds] = mgmt_open_tcp(cfg->mgmt_tcp_port);
		if (fds[*n_fds] < 0)
			return -1;
		(*n_fds)++;
	}
	return 0;
}

/* One connection: the JSON, then close. A slow reader gets 200 ms. */
void
mgmt_serve(const struct fwd_ctx *ctx, int listen_fd)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	size_t len = 0, off = 0;
	char *json;
	int fd;

	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	json = stats_json(ctx, &len);
	while (json != NULL && off < len) {
		ssize_t n = send(fd, json + off, len - off, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	free(json);
	shutdown(fd, SHUT_WR);
	close(fd);
}

void
mgmt_close(const struct fwd_config *cfg, int *fds, unsigned int n_fds)
{
	unsigned int i;

	for (i = 0; i < n_fds; i++)
		close(fds[i]);
	if (n_fds > 0 && cfg->mgmt_path[0] != '\0')
		unlink(cfg->mgmt_path);
}
