/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2025 zmemif authors
 */

/* Ports: the uplink, the memif ports, the exception port and its kernel interface. */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <libgen.h>

#include <rte_dev.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_string_fns.h>

#include "fwd.h"

#define MEMIF_RETRY_MAX_S	5

/*
 * A filesystem socket left behind by a process that died is removed (nobody accepts on
 * it); a live one is an error, so two forwarders never share a path.
 */
int
socket_path_prepare(const char *path, int type, const char *what)
{
	struct sockaddr_un sa;
	struct stat st;
	char dir[sizeof(sa.sun_path)];
	int fd, ret;

	strlcpy(dir, path, sizeof(dir));
	if (stat(dirname(dir), &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "%s: %s: directory of %s does not exist\n", FWD_NAME, what, path);
		return -1;
	}
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "%s: %s: %s exists and is not a socket\n", FWD_NAME, what, path);
		return -1;
	}
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (ret == 0) {
		fprintf(stderr, "%s: %s: another process is listening on %s\n", FWD_NAME, what,
			path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		fprintf(stderr, "%s: %s: %s is in use (%s)\n", FWD_NAME, what, path,
			strerror(errno));
		return -1;
	}
	if (unlink(path) < 0) {
		fprintf(stderr, "%s: %s: cannot remove stale %s: %s\n", FWD_NAME, what, path,
			strerror(errno));
		return -1;
	}
	printf("%s: removed stale socket %s\n", FWD_NAME, path);
	return 0;
}

int
fwd_uplink_find(struct fwd_ctx *ctx, struct rte_eth_dev_info *info)
{
	struct fwd_port *p = &ctx->ports[SLOT_UPLINK];
	const char *given = ctx->cfg.uplink;
	uint16_t port_id = RTE_MAX_ETHPORTS;
	int ret;

	if (given == NULL) {
		RTE_ETH_FOREACH_DEV(port_id)
			break;
		if (port_id >= RTE_MAX_ETHPORTS) {
			fprintf(stderr, "%s: no uplink: the EAL probed no port; give it one, e.g. "
				"--vdev=net_af_packet0,iface=eth1 or -a 0000:03:00.0\n", FWD_NAME);
			return -1;
		}
	} else {
		char *end;
		unsigned long v = strtoul(given, &end, 10);

		if (*given != '\0' && *end == '\0' && v < RTE_MAX_ETHPORTS &&
		    rte_eth_dev_is_valid_port((uint16_t)v))
			port_id = (uint16_t)v;
		else if (rte_eth_dev_get_port_by_name(given, &port_id) != 0) {
			fprintf(stderr, "%s: --uplink: no port '%s' (ports are given to the EAL "
				"with -a or --vdev)\n", FWD_NAME, given);
			return -1;
		}
	}
	ret = rte_eth_dev_info_get(port_id, info);
	if (ret != 0) {
		fprintf(stderr, "%s: uplink port %u: %s\n", FWD_NAME, port_id, rte_strerror(-ret));
		return -1;
	}
	ret = rte_eth_macaddr_get(port_id, &ctx->mac);
	if (ret != 0) {
		fprintf(stderr, "%s: uplink port %u has no MAC: %s\n", FWD_NAME, port_id,
			rte_strerror(-ret));
		return -1;
	}
	p->kind = PORT_UPLINK;
	p->port_id = port_id;
	p->enabled = 1;
	strlcpy(p->name, "uplink", sizeof(p->name));
	rte_eth_dev_get_name_by_port(port_id, p->dev_name);
	return 0;
}

static int
vdev_create(struct fwd_port *p, const char *dev_name, const char *args)
{
	char devargs[640];
	int ret;

	/* rte_dev_probe() takes "driver-name[suffix],args" and finds the vdev bus itself */
	snprintf(devargs, sizeof(devargs), "%s,%s", dev_name, args);
	ret = rte_dev_probe(devargs);
	if (ret != 0) {
		fprintf(stderr, "%s: cannot create %s (%s): %s\n", FWD_NAME, dev_name, args,
			rte_strerror(-ret));
		return -1;
	}
	if (rte_eth_dev_get_port_by_name(dev_name, &p->port_id) != 0) {
		fprintf(stderr, "%s: %s created but has no port\n", FWD_NAME, dev_name);
		return -1;
	}
	strlcpy(p->dev_name, dev_name, sizeof(p->dev_name));
	return 0;
}

static int
memif_create(struct fwd_ctx *ctx, unsigned int idx)
{
	const struct fwd_config *cfg = &ctx->cfg;
	struct fwd_port *p = &ctx->ports[1 + idx];
	char dev_name[RTE_DEV_NAME_MAX_LEN];
	char args[512];
	int n;

	snprintf(dev_name, sizeof(dev_name), "net_memif_fwd%u", idx);
	n = snprintf(args, sizeof(args),
		     "role=%s,id=%u,socket=%s,socket-abstract=%s,rsize=%u,bsize=%u",
		     cfg->memif_role == MEMIF_SERVER ? "server" : "client", idx,
		     cfg->memif_abstract ? cfg->memif_socket + 1 : cfg->memif_socket,
		     cfg->memif_abstract ? "yes" : "no",
		     rte_log2_u32(cfg->memif_ring_size), cfg->memif_buffer_size);
	if (cfg->memif_secret != NULL)
		snprintf(args + n, sizeof(args) - n, ",secret=%s", cfg->memif_secret);

	p->kind = PORT_MEMIF;
	p->memif_id = (uint16_t)idx;
	snprintf(p->name, sizeof(p->name), "memif%u", idx);
	return vdev_create(p, dev_name, args);
}

static int
exception_create(struct fwd_ctx *ctx)
{
	const struct fwd_config *cfg = &ctx->cfg;
	struct fwd_port *p = &ctx->ports[ctx->exception_slot];
	char mac[RTE_ETHER_ADDR_FMT_SIZE];
	char args[256];
	const char *dev_name;

	rte_ether_format_addr(mac, sizeof(mac), &ctx->mac);
	if (ctx->exception == EXCEPTION_VIRTIO_USER) {
		dev_name = "net_virtio_user_fwd";
		snprintf(args, sizeof(args), "path=/dev/vhost-net,iface=%s,mac=%s,queues=1,"
			 "queue_size=%u", cfg->kernel_iface, mac,
			 RTE_MIN(cfg->rx_desc, 1024u));
	} else {
		dev_name = "net_tap_fwd";
		snprintf(args, sizeof(args), "iface=%s,mac=%s", cfg->kernel_iface, mac);
	}
	p->kind = PORT_EXCEPTION;
	strlcpy(p->name, "kernel", sizeof(p->name));
	return vdev_create(p, dev_name, args);
}

int
fwd_ports_create(struct fwd_ctx *ctx)
{
	const struct fwd_config *cfg = &ctx->cfg;
	unsigned int i;

	if (cfg->memif_role == MEMIF_SERVER && !cfg->memif_abstract &&
	    socket_path_prepare(cfg->memif_socket, SOCK_SEQPACKET, "--memif-socket") < 0)
		return -1;
	for (i = 0; i < cfg->n_memif; i++)
		if (memif_create(ctx, i) < 0)
			return -1;
	if (ctx->exception_slot != SLOT_NONE && exception_create(ctx) < 0)
		return -1;
	return 0;
}

static int
port_init(uint16_t port_id, const char *name, uint16_t nb_rxq, uint16_t nb_txq,
	  uint16_t nb_rxd, uint16_t nb_txd, struct rte_mempool *pool)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	struct rte_eth_txconf txconf;
	int socket = rte_eth_dev_socket_id(port_id);
	uint16_t q;
	int ret;

	memset(&conf, 0, sizeof(conf));
	ret = rte_eth_dev_info_get(port_id, &info);
	if (ret != 0)
		goto fail;
	if (nb_rxq > 1) {
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
		if (conf.rx_adv_conf.rss_conf.rss_hf != 0)
			conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
	}
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;

	ret = rte_eth_dev_configure(port_id, nb_rxq, nb_txq, &conf);
	if (ret != 0)
		goto fail;
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nb_rxd, &nb_txd);
	if (ret != 0)
		goto fail;
	for (q = 0; q < nb_rxq; q++) {
		ret = rte_eth_rx_queue_setup(port_id, q, nb_rxd,
					     socket < 0 ? SOCKET_ID_ANY : socket, NULL, pool);
		if (ret != 0)
			goto fail;
	}
	txconf = info.default_txconf;
	txconf.offloads = conf.txmode.offloads;
	for (q = 0; q < nb_txq; q++) {
		ret = rte_eth_tx_queue_setup(port_id, q, nb_txd,
					     socket < 0 ? SOCKET_ID_ANY : socket, &txconf);
		if (ret != 0)
			goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "%s: cannot set up port %s (%u rx, %u tx queues): %s\n", FWD_NAME, name,
		nb_rxq, nb_txq, rte_strerror(ret < 0 ? -ret : ret));
	return -1;
}

/* The kernel interface gets the host address; the kernel answers ARP, ping and TCP. */
static int
kernel_iface_setup(const struct fwd_ctx *ctx)
{
	const char *ifname = ctx->cfg.kernel_iface;
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int fd, ret = -1;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = ctx->host_addr;
	if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
		goto out;
	sin->sin_addr.s_addr = htonl(~((1ull << (32 - ctx->cfg.host_prefix)) - 1) & 0xffffffff);
	if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
		goto out;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		goto out;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		fprintf(stderr, "%s: cannot give %s its address: %s\n", FWD_NAME, ifname,
			strerror(errno));
	close(fd);
	return ret;
}

static int
memif_socket_perms(const struct fwd_config *cfg)
{
	const char *path = cfg->memif_socket;

	if (cfg->memif_role != MEMIF_SERVER || cfg->memif_abstract)
		return 0;
	if ((cfg->socket_uid != (uid_t)-1 || cfg->socket_gid != (gid_t)-1) &&
	    chown(path, cfg->socket_uid, cfg->socket_gid) < 0) {
		fprintf(stderr, "%s: --memif-socket-owner/-group: chown %s: %s\n", FWD_NAME, path,
			strerror(errno));
		return -1;
	}
	if (chmod(path, cfg->socket_mode) < 0) {
		fprintf(stderr, "%s: --memif-socket-mode: chmod %s: %s\n", FWD_NAME, path,
			strerror(errno));
		return -1;
	}
	return 0;
}

int
fwd_ports_start(struct fwd_ctx *ctx)
{
	const struct fwd_config *cfg = &ctx->cfg;
	struct fwd_port *up = &ctx->ports[SLOT_UPLINK];
	uint16_t s;
	int ret;

	if (port_init(up->port_id, up->name, (uint16_t)fwd_lcores_rxq(ctx),
		      (uint16_t)fwd_lcores_txq(ctx), (uint16_t)cfg->rx_desc,
		      (uint16_t)cfg->tx_desc, ctx->pool) < 0)
		return -1;
	for (s = 1; s < ctx->n_slots; s++) {
		struct fwd_port *p = &ctx->ports[s];
		uint16_t nb_desc = p->kind == PORT_MEMIF ? (uint16_t)cfg->memif_ring_size :
			(uint16_t)RTE_MIN(cfg->rx_desc, 1024u);

		if (port_init(p->port_id, p->name, 1, 1, nb_desc, nb_desc, ctx->pool) < 0)
			return -1;
	}

	for (s = 0; s < ctx->n_slots; s++) {
		struct fwd_port *p = &ctx->ports[s];

		ret = rte_eth_dev_start(p->port_id);
		if (ret != 0 && p->kind == PORT_MEMIF && cfg->memif_role == MEMIF_CLIENT) {
			/* the server is not there yet: the main lcore retries */
			printf("%s: %s: server %s not reachable yet, retrying every %u s\n",
			       FWD_NAME, p->name, cfg->memif_socket, 1);
			p->retry_s = 1;
			p->next_retry = rte_get_timer_cycles() + rte_get_timer_hz();
			continue;
		}
		if (ret != 0) {
			fprintf(stderr, "%s: cannot start port %s: %s\n", FWD_NAME, p->name,
				rte_strerror(-ret));
			return -1;
		}
		p->started = true;
		p->retry_s = 1;
		p->next_retry = rte_get_timer_cycles() + rte_get_timer_hz();
		__atomic_store_n(&p->enabled, 1, __ATOMIC_RELEASE);
	}

	if (cfg->promisc) {
		ret = rte_eth_promiscuous_enable(up->port_id);
		if (ret != 0)
			fprintf(stderr, "%s: --promisc: uplink: %s\n", FWD_NAME,
				rte_strerror(-ret));
	}
	/* the kernel needs multicast for IPv6 neighbour discovery */
	ret = rte_eth_allmulticast_enable(up->port_id);
	if (ret != 0 && ret != -ENOTSUP)
		fprintf(stderr, "%s: uplink: cannot enable all-multicast: %s\n", FWD_NAME,
			rte_strerror(-ret));

	if (memif_socket_perms(cfg) < 0)
		return -1;
	if (ctx->exception_slot != SLOT_NONE && kernel_iface_setup(ctx) < 0)
		return -1;
	fwd_ports_refresh(ctx);
	return 0;
}

/* A memif client whose server went away does not reconnect by itself: restart it. */
static void
memif_client_retry(struct fwd_port *p, uint64_t now)
{
	int ret;

	__atomic_store_n(&p->enabled, 0, __ATOMIC_RELEASE);
	quiesce_wait();		/* the owner has left the port's bursts and sees it disabled */
	if (p->started) {
		rte_eth_dev_stop(p->port_id);
		p->started = false;
	}
	ret = rte_eth_dev_start(p->port_id);
	if (ret == 0) {
		p->started = true;
		__atomic_store_n(&p->enabled, 1, __ATOMIC_RELEASE);
	}
	p->next_retry = now + p->retry_s * rte_get_timer_hz();
	p->retry_s = RTE_MIN(p->retry_s * 2, (unsigned int)MEMIF_RETRY_MAX_S);
}

/* Main lcore, every 100 ms: link states the data path reads, and memif client retries. */
void
fwd_ports_refresh(struct fwd_ctx *ctx)
{
	uint64_t now = rte_get_timer_cycles();
	uint16_t s;

	for (s = 0; s < ctx->n_slots; s++) {
		struct fwd_port *p = &ctx->ports[s];
		struct rte_eth_link link;
		uint8_t up = 0;

		if (p->started && rte_eth_link_get_nowait(p->port_id, &link) == 0)
			up = link.link_status == RTE_ETH_LINK_UP;
		if (up != p->link_up)
			printf("%s: %s link %s\n", FWD_NAME, p->name, up ? "up" : "down");
		__atomic_store_n(&p->link_up, up, __ATOMIC_RELAXED);

		if (p->kind != PORT_MEMIF || ctx->cfg.memif_role != MEMIF_CLIENT)
			continue;
		if (up) {
			p->retry_s = 1;
			p->next_retry = now + rte_get_timer_hz();
		} else if (now >= p->next_retry && !force_quit) {
			memif_client_retry(p, now);
		}
	}
}

void
fwd_ports_close(struct fwd_ctx *ctx)
{
	uint16_t s;

	/* exception and memif ports before the uplink; a memif server closing sends a disconnect */
	for (s = ctx->n_slots; s-- > 0;) {
		struct fwd_port *p = &ctx->ports[s];
		struct rte_mbuf *m;

		if (p->handoff != NULL) {
			while (rte_ring_dequeue(p->handoff, (void **)&m) == 0)
				rte_pktmbuf_free(m);
			rte_ring_free(p->handoff);
			p->handoff = NULL;
		}
		if (!rte_eth_dev_is_valid_port(p->port_id) || p->dev_name[0] == '\0')
			continue;
		if (p->started)
			rte_eth_dev_stop(p->port_id);
		p->started = false;
		rte_eth_dev_close(p->port_id);
	}
}
