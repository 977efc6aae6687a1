/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2025 zmemif authors
 */

/*
 * zmemif-fwd: sits between a NIC (any DPDK port) and programs speaking memif. UDP for the
 * host address goes to memif ports, everything else to the kernel through an exception
 * interface; what comes back from either goes out of the NIC. See --help.
 *
 * The main lcore runs control: it sets everything up, refreshes link states, reconnects
 * memif clients, prints counters and answers the management socket. Worker lcores run
 * lcore_main() (lcore.c) until SIGINT or SIGTERM.
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "fwd.h"

#define MBUF_CACHE_SIZE		256
#define CONTROL_PERIOD_MS	100

struct fwd_ctx fwd;
volatile bool force_quit;
static volatile sig_atomic_t print_requested;

static void
signal_handler(int signum)
{
	if (signum == SIGINT || signum == SIGTERM)
		force_quit = true;
	else if (signum == SIGUSR1)
		print_requested = 1;
}

static void
signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = signal_handler;	/* no SA_RESTART: poll() returns at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static enum exception_kind
exception_resolve(enum exception_kind want)
{
	bool vhost = access("/dev/vhost-net", R_OK | W_OK) == 0;

	if (want == EXCEPTION_AUTO)
		return vhost ? EXCEPTION_VIRTIO_USER : EXCEPTION_TAP;
	if (want == EXCEPTION_VIRTIO_USER && !vhost) {
		fprintf(stderr, "%s: --exception virtio-user needs /dev/vhost-net "
			"(load vhost_net); use tap\n", FWD_NAME);
		exit(EXIT_FAILURE);
	}
	return want;
}

/* Enough mbufs for every descriptor, ring and buffer that can hold one at a time. */
static unsigned int
mbufs_needed(const struct fwd_ctx *ctx)
{
	const struct fwd_config *cfg = &ctx->cfg;
	unsigned int n, rings = 0;
	uint16_t s;

	for (s = 1; s < ctx->n_slots; s++)
		rings += ctx->ports[s].handoff != NULL ? 1 : 0;
	n = fwd_lcores_rxq(ctx) * cfg->rx_desc + fwd_lcores_txq(ctx) * cfg->tx_desc;
	n += cfg->n_memif * 4 * MAX_BURST;
	n += ctx->exception_slot != SLOT_NONE ? 2 * RTE_MIN(cfg->rx_desc, 1024u) : 0;
	n += rings * cfg->ring_size;
	n += ctx->n_lcores * ctx->n_slots * 2 * MAX_BURST;
	n += (ctx->n_lcores + 1) * MBUF_CACHE_SIZE * 3 / 2;
	n += 4096;
	return RTE_MAX(n, 8192u);
}

static void
print_summary(const struct fwd_ctx *ctx)
{
	const struct fwd_config *cfg = &ctx->cfg;
	char addr[INET_ADDRSTRLEN], mac[RTE_ETHER_ADDR_FMT_SIZE];

	inet_ntop(AF_INET, &ctx->host_addr, addr, sizeof(addr));
	rte_ether_format_addr(mac, sizeof(mac), &ctx->mac);
	printf("%s: host %s/%u, uplink %s (port %u, %s), %u memif %s port%s on %s%s, "
	       "exception %s%s%s, %u mbufs\n", FWD_NAME, addr, cfg->host_prefix,
	       ctx->ports[SLOT_UPLINK].dev_name, ctx->ports[SLOT_UPLINK].port_id, mac,
	       cfg->n_memif, cfg->memif_role == MEMIF_SERVER ? "server" : "client",
	       cfg->n_memif == 1 ? "" : "s", cfg->memif_abstract ? "abstract " : "",
	       cfg->memif_socket,
	       ctx->exception == EXCEPTION_TAP ? "tap " :
	       ctx->exception == EXCEPTION_VIRTIO_USER ? "virtio-user " : "none",
	       ctx->exception_slot != SLOT_NONE ? cfg->kernel_iface : "",
	       cfg->udp_ports_given ? ", steering by --udp-ports" : ", steering by 5-tuple hash",
	       rte_mempool_avail_count(ctx->pool));
	if (cfg->mgmt_path[0] != '\0')
		printf("%s: counters as JSON on %s\n", FWD_NAME, cfg->mgmt_path);
	if (cfg->mgmt_tcp_port != 0)
		printf("%s: counters as JSON on 127.0.0.1:%u\n", FWD_NAME, cfg->mgmt_tcp_port);
	fflush(stdout);
}

static void
control_loop(struct fwd_ctx *ctx, const int *fds, unsigned int n_fds)
{
	uint64_t hz = rte_get_timer_hz();
	uint64_t next_print = rte_get_timer_cycles() + ctx->cfg.stats_period * hz;
	struct pollfd pfd[2];
	unsigned int i;

	for (i = 0; i < n_fds; i++) {
		pfd[i].fd = fds[i];
		pfd[i].events = POLLIN;
	}
	while (!force_quit) {
		int n = poll(pfd, n_fds, CONTROL_PERIOD_MS);
		uint64_t now;

		for (i = 0; n > 0 && i < n_fds; i++)
			if (pfd[i].revents & POLLIN)
				mgmt_serve(ctx, pfd[i].fd);
		fwd_ports_refresh(ctx);

		now = rte_get_timer_cycles();
		if (print_requested ||
		    (ctx->cfg.stats_period != 0 && now >= next_print)) {
			print_requested = 0;
			stats_print(ctx, stdout);
			next_print = now + ctx->cfg.stats_period * hz;
		}
	}
}

static bool
wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

int
main(int argc, char **argv)
{
	struct fwd_ctx *ctx = &fwd;
	struct rte_eth_dev_info info;
	char *app_argv[argc + 1];
	int app_argc = 1, eal_argc = argc, mgmt_fds[2];
	unsigned int n_mgmt = 0, i, n_mbufs;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);	/* logs interleave sensibly when redirected */

	/* the application's options follow "--"; check them before the EAL starts */
	for (i = 1; i < (unsigned int)argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			eal_argc = (int)i;
			break;
		}
	}
	app_argv[0] = argv[0];
	for (i = (unsigned int)eal_argc + 1; i < (unsigned int)argc; i++)
		app_argv[app_argc++] = argv[i];
	app_argv[app_argc] = NULL;
	if (wants_help(argc, argv)) {
		fwd_usage(stdout, FWD_NAME);
		return EXIT_SUCCESS;
	}
	if (fwd_parse_args(&ctx->cfg, app_argc, app_argv) < 0)
		return EXIT_FAILURE;
	creds_setup(&ctx->cfg);
	ctx->exception = exception_resolve(ctx->cfg.exception);

	ret = rte_eal_init(eal_argc, argv);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "Cannot initialise the EAL (see the message above)\n");
	signals_install();

	ctx->host_addr = ctx->cfg.host_addr;
	ctx->n_slots = (uint16_t)(1 + ctx->cfg.n_memif +
				  (ctx->exception != EXCEPTION_NONE ? 1 : 0));
	ctx->exception_slot = ctx->exception != EXCEPTION_NONE ?
		(uint16_t)(ctx->n_slots - 1) : SLOT_NONE;
	ctx->ports = rte_zmalloc("ports", sizeof(*ctx->ports) * ctx->n_slots, 0);
	if (ctx->ports == NULL)
		rte_exit(EXIT_FAILURE, "Cannot allocate the port table\n");
	for (i = 0; i < ctx->n_slots; i++)
		ctx->ports[i].port_id = RTE_MAX_ETHPORTS;

	if (fwd_uplink_find(ctx, &info) < 0 ||
	    fwd_lcores_assign(ctx, info.max_rx_queues, info.max_tx_queues) < 0)
		goto fail;
	if (fwd_ports_create(ctx) < 0)
		goto fail;
	fwd_lcores_assign_ports(ctx);
	if (fwd_lcores_alloc(ctx) < 0 || quiesce_init(ctx->n_lcores) < 0)
		goto fail;

	n_mbufs = ctx->cfg.n_mbufs != 0 ? ctx->cfg.n_mbufs : mbufs_needed(ctx);
	ctx->pool = rte_pktmbuf_pool_create("fwd_pool", n_mbufs, MBUF_CACHE_SIZE, 0,
					    RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (ctx->pool == NULL) {
		fprintf(stderr, "%s: cannot create a pool of %u mbufs: %s (give the EAL more "
			"memory with -m, or fewer --mbufs)\n", FWD_NAME, n_mbufs,
			rte_strerror(rte_errno));
		goto fail;
	}
	if (fwd_ports_start(ctx) < 0)
		goto fail;
	if (creds_selftest() < 0)	/* before the lcores: no packet flows until it passed */
		goto fail;
	if (mgmt_open(&ctx->cfg, mgmt_fds, &n_mgmt) < 0)
		goto fail;

	ctx->flush_tsc = (rte_get_tsc_hz() + 999999) / 1000000 * ctx->cfg.flush_us;
	ctx->start_tsc = rte_get_timer_cycles();
	print_summary(ctx);

	for (i = 0; i < ctx->n_lcores; i++) {
		ret = rte_eal_remote_launch(lcore_main, &ctx->lcores[i], ctx->lcores[i].lcore_id);
		if (ret != 0) {
			fprintf(stderr, "%s: cannot launch lcore %u\n", FWD_NAME,
				ctx->lcores[i].lcore_id);
			force_quit = true;
			break;
		}
	}
	if (!force_quit)
		control_loop(ctx, mgmt_fds, n_mgmt);

	printf("%s: stopping\n", FWD_NAME);
	force_quit = true;
	rte_eal_mp_wait_lcore();
	quiesce_fini();
	stats_print(ctx, stdout);
	mgmt_close(&ctx->cfg, mgmt_fds, n_mgmt);
	fwd_ports_close(ctx);
	rte_eal_cleanup();
	return EXIT_SUCCESS;

fail:
	force_quit = true;
	quiesce_fini();
	fwd_ports_close(ctx);
	rte_eal_cleanup();
	return EXIT_FAILURE;
}
