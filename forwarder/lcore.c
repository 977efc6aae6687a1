/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2025 zmemif authors
 */

/*
 * The data path. An rx lcore polls its uplink rx queues and steers each frame to a memif
 * port or to the exception port. Every memif and exception port is served by exactly one
 * tx lcore (its owner), because a queue is single-producer/single-consumer: the owner
 * sends to the port, polls it, and sends what it receives out of its own uplink tx queue.
 * An rx lcore hands frames for a port it does not own to the owner through an rte_ring;
 * for a port it owns itself (the common case on a small machine) it sends directly.
 */

#include <stdio.h>
#include <string.h>
#include <netinet/in.h>

#include <rte_cycles.h>
#include <rte_ip.h>
#include <rte_jhash.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_udp.h>

#include "fwd.h"

#define SLOT_DROP_LOOPED	(SLOT_NONE - 1)

const char * const drop_cause_names[DROP_MAX] = {
	[DROP_TX_FULL] = "tx_full",
	[DROP_PEER_DOWN] = "peer_down",
	[DROP_RING_FULL] = "ring_full",
	[DROP_NO_EXCEPTION] = "no_exception",
	[DROP_LOOPED] = "looped",
};

/* Which slot a frame from the uplink goes to. Only UDP for the host goes to memif. */
static inline uint16_t
classify(const struct fwd_ctx *ctx, struct rte_mbuf *m)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_ipv4_hdr *ip;
	const struct rte_udp_hdr *udp;
	unsigned int ihl;
	uint16_t v;

	if (unlikely(rte_is_same_ether_addr(&eth->src_addr, &ctx->mac)))
		return SLOT_DROP_LOOPED;
	if (eth->ether_type != RTE_BE16(RTE_ETHER_TYPE_IPV4) ||
	    rte_pktmbuf_data_len(m) < sizeof(*eth) + sizeof(*ip) + sizeof(*udp))
		return ctx->exception_slot;

	ip = (const struct rte_ipv4_hdr *)(eth + 1);
	if (ip->dst_addr != ctx->host_addr || ip->next_proto_id != IPPROTO_UDP)
		return ctx->exception_slot;
	/* fragments carry no UDP header after the first: the kernel reassembles them */
	if ((ip->version_ihl >> 4) != 4 ||
	    (ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)))
		return ctx->exception_slot;
	ihl = (ip->version_ihl & RTE_IPV4_HDR_IHL_MASK) * RTE_IPV4_IHL_MULTIPLIER;
	if (ihl < sizeof(*ip) || rte_pktmbuf_data_len(m) < sizeof(*eth) + ihl + sizeof(*udp))
		return ctx->exception_slot;

	udp = (const struct rte_udp_hdr *)((const uint8_t *)ip + ihl);
	v = ctx->cfg.udp_port_map[rte_be_to_cpu_16(udp->dst_port)];
	if (v == UDP_TO_KERNEL)
		return ctx->exception_slot;
	if (v == UDP_BY_HASH) {
		uint32_t h = rte_jhash_3words(ip->src_addr, ip->dst_addr,
					      ((uint32_t)udp->src_port << 16) | udp->dst_port,
					      0x7a6d6966);

		/* multiply-shift maps the hash onto 0..n_memif-1 without a division */
		return (uint16_t)(1 + (((uint64_t)h * ctx->cfg.n_memif) >> 32));
	}
	return v;	/* memif index + 1 is its slot */
}

/* Send on a port this lcore owns (or the uplink); counts what it takes. */
static inline void
port_tx(struct fwd_lcore *lc, const struct fwd_port *p, uint16_t slot, uint16_t queue,
	struct rte_mbuf *m)
{
	if (p->kind == PORT_MEMIF &&
	    unlikely(!__atomic_load_n(&p->link_up, __ATOMIC_RELAXED) ||
		     !__atomic_load_n(&p->enabled, __ATOMIC_ACQUIRE))) {
		rte_pktmbuf_free(m);
		lc->cnt[slot].drop[DROP_PEER_DOWN]++;
		return;
	}
	lc->cnt[slot].tx += rte_eth_tx_buffer(p->port_id, queue, lc->txb[slot], m);
}

static void
lcore_flush(struct fwd_lcore *lc, const struct fwd_ctx *ctx)
{
	uint16_t s;

	for (s = 0; s < ctx->n_slots; s++) {
		const struct fwd_port *p = &ctx->ports[s];

		if (lc->txb[s] == NULL)
			continue;
		if (p->kind == PORT_MEMIF && !__atomic_load_n(&p->enabled, __ATOMIC_ACQUIRE))
			continue;	/* its buffer is empty: port_tx() did not fill it */
		lc->cnt[s].tx += rte_eth_tx_buffer_flush(p->port_id,
				s == SLOT_UPLINK ? lc->uplink_txq : 0, lc->txb[s]);
	}
}

static uint16_t
lcore_uplink_rx(struct fwd_lcore *lc, const struct fwd_ctx *ctx, uint16_t queue)
{
	struct rte_mbuf *pkts[MAX_BURST];
	uint16_t touched[MAX_BURST];
	uint16_t n_touched = 0;
	uint16_t nb, i;
	unsigned int me = (unsigned int)(lc - ctx->lcores);

	nb = rte_eth_rx_burst(ctx->ports[SLOT_UPLINK].port_id, queue, pkts, ctx->cfg.burst);
	if (nb == 0)
		return 0;
	lc->cnt[SLOT_UPLINK].rx += nb;

	for (i = 0; i < nb; i++) {
		struct rte_mbuf *m = pkts[i];
		uint16_t slot;
		const struct fwd_port *p;

		if (i + 1 < nb)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		slot = classify(ctx, m);
		if (unlikely(slot >= SLOT_DROP_LOOPED)) {
			rte_pktmbuf_free(m);
			lc->cnt[SLOT_UPLINK].drop[slot == SLOT_NONE ?
				DROP_NO_EXCEPTION : DROP_LOOPED]++;
			continue;
		}
		lc->cnt[slot].steered++;
		p = &ctx->ports[slot];
		if (p->owner == me) {
			port_tx(lc, p, slot, 0, m);
			continue;
		}
		if (lc->n_stage[slot] == 0)
			touched[n_touched++] = slot;
		lc->stage[slot][lc->n_stage[slot]++] = m;
	}

	/* hand the rest to the lcores serving those ports, one enqueue per port */
	for (i = 0; i < n_touched; i++) {
		uint16_t slot = touched[i];
		uint16_t n = lc->n_stage[slot];
		unsigned int done;

		done = rte_ring_enqueue_burst(ctx->ports[slot].handoff,
					      (void **)lc->stage[slot], n, NULL);
		if (unlikely(done < n)) {
			rte_pktmbuf_free_bulk(&lc->stage[slot][done], n - done);
			lc->cnt[slot].drop[DROP_RING_FULL] += n - done;
		}
		lc->n_stage[slot] = 0;
	}
	return nb;
}

/* A memif or exception port this lcore owns: frames handed over for it, and its rx. */
static uint16_t
lcore_serve_port(struct fwd_lcore *lc, const struct fwd_ctx *ctx, uint16_t slot)
{
	const struct fwd_port *p = &ctx->ports[slot];
	const struct fwd_port *up = &ctx->ports[SLOT_UPLINK];
	struct rte_mbuf *pkts[MAX_BURST];
	uint16_t nb, i, handed = 0;

	if (p->handoff != NULL) {
		handed = (uint16_t)rte_ring_dequeue_burst(p->handoff, (void **)pkts,
							  ctx->cfg.burst, NULL);
		for (i = 0; i < handed; i++)
			port_tx(lc, p, slot, 0, pkts[i]);
	}

	/* acquire pairs with the main lcore's release when it enables a restarted port */
	if (!__atomic_load_n(&p->enabled, __ATOMIC_ACQUIRE))
		return handed;
	nb = rte_eth_rx_burst(p->port_id, 0, pkts, ctx->cfg.burst);
	if (nb == 0)
		return handed;
	lc->cnt[slot].rx += nb;
	lc->cnt[SLOT_UPLINK].steered += nb;
	for (i = 0; i < nb; i++)
		lc->cnt[SLOT_UPLINK].tx += rte_eth_tx_buffer(up->port_id, lc->uplink_txq,
							     lc->txb[SLOT_UPLINK], pkts[i]);
	return handed + nb;
}

int
lcore_main(void *arg)
{
	struct fwd_lcore *lc = arg;
	const struct fwd_ctx *ctx = &fwd;
	uint64_t prev_tsc = 0, loop_start = rte_rdtsc();
	unsigned int work = 0, me = (unsigned int)(lc - ctx->lcores);
	uint16_t i;

	printf("%s: lcore %u:", FWD_NAME, lc->lcore_id);
	if (lc->rx)
		printf(" polls uplink rx queues %u..%u,", lc->rxq_first,
		       lc->rxq_first + lc->n_rxq - 1);
	if (lc->tx)
		printf(" sends on uplink tx queue %u,", lc->uplink_txq);
	printf(" serves");
	for (i = 0; i < lc->n_owned; i++)
		printf(" %s", ctx->ports[lc->owned[i]].name);
	printf("%s\n", lc->n_owned == 0 ? " nothing" : "");

	__atomic_store_n(&lc->start_tsc, loop_start, __ATOMIC_RELAXED);
	quiesce_online(me);
	while (!force_quit) {
		uint64_t now = rte_rdtsc();

		/* an iteration that moved packets counts as busy, up to the start of this one */
		if (work != 0)
			__atomic_store_n(&lc->busy_tsc, lc->busy_tsc + (now - loop_start),
					 __ATOMIC_RELAXED);
		loop_start = now;
		work = 0;
		if (unlikely(now - prev_tsc > ctx->flush_tsc)) {
			lcore_flush(lc, ctx);
			prev_tsc = now;
		}
		for (i = 0; i < lc->n_rxq; i++)
			work += lcore_uplink_rx(lc, ctx, lc->rxq_first + i);
		for (i = 0; i < lc->n_owned; i++)
			work += lcore_serve_port(lc, ctx, lc->owned[i]);

		/* in no burst now: a close()/munmap() waiting for that may go on (quiesce.c) */
		quiesce_report(me);
		__atomic_store_n(&lc->epoch, lc->epoch + 1, __ATOMIC_RELAXED);
	}
	lcore_flush(lc, ctx);
	quiesce_offline(me);
	return 0;
}

static void
tx_drop_cb(struct rte_mbuf **unsent, uint16_t count, void *userdata)
{
	uint64_t *drops = userdata;

	rte_pktmbuf_free_bulk(unsent, count);
	*drops += count;
}

static struct rte_eth_dev_tx_buffer *
txb_create(const struct fwd_ctx *ctx, struct fwd_lcore *lc, uint16_t slot)
{
	struct rte_eth_dev_tx_buffer *b;
	int socket = (int)rte_lcore_to_socket_id(lc->lcore_id);

	b = rte_zmalloc_socket("txb", RTE_ETH_TX_BUFFER_SIZE(ctx->cfg.burst), 0, socket);
	if (b == NULL)
		return NULL;
	rte_eth_tx_buffer_init(b, (uint16_t)ctx->cfg.burst);
	rte_eth_tx_buffer_set_err_callback(b, tx_drop_cb, &lc->cnt[slot].drop[DROP_TX_FULL]);
	return b;
}

static int
lcore_list(const char *opt, const char *given, bool *set, unsigned int want,
	   unsigned int *n)
{
	unsigned int lcore, main_lcore = rte_get_main_lcore();

	*n = 0;
	if (given == NULL) {
		memset(set, 0, sizeof(bool) * RTE_MAX_LCORE);
		RTE_LCORE_FOREACH_WORKER(lcore) {
			if (*n == want)
				break;
			set[lcore] = true;
			(*n)++;
		}
		return 0;
	}
	if (fwd_parse_lcore_list(opt, given, set) < 0)
		return -1;
	for (lcore = 0; lcore < RTE_MAX_LCORE; lcore++) {
		if (!set[lcore])
			continue;
		if (lcore == main_lcore) {
			fprintf(stderr, "%s: %s: lcore %u is the main lcore, which runs control; "
				"give worker lcores\n", FWD_NAME, opt, lcore);
			return -1;
		}
		if (!rte_lcore_is_enabled(lcore)) {
			fprintf(stderr, "%s: %s: lcore %u is not enabled in the EAL "
				"(-l/--lcores)\n", FWD_NAME, opt, lcore);
			return -1;
		}
		(*n)++;
	}
	if (*n == 0) {
		fprintf(stderr, "%s: %s: empty list\n", FWD_NAME, opt);
		return -1;
	}
	return 0;
}

/* Decide which lcores poll what. Needs the uplink's queue limits; ports are not created. */
int
fwd_lcores_assign(struct fwd_ctx *ctx, uint16_t max_rxq, uint16_t max_txq)
{
	const struct fwd_config *cfg = &ctx->cfg;
	static bool rx_set[RTE_MAX_LCORE], tx_set[RTE_MAX_LCORE];
	unsigned int n_rx, n_tx, want_rx, lcore, n_served, per_lcore, rxq = 0, txq = 0;

	if (rte_lcore_count() < 2) {
		fprintf(stderr, "%s: no worker lcore: the main lcore runs control, give the EAL "
			"at least two lcores (e.g. -l 0,1)\n", FWD_NAME);
		return -1;
	}
	if (max_rxq < cfg->rxq_per_lcore) {
		fprintf(stderr, "%s: --rxq-per-lcore %u: the uplink has at most %u rx queues\n",
			FWD_NAME, cfg->rxq_per_lcore, max_rxq);
		return -1;
	}
	want_rx = max_rxq / cfg->rxq_per_lcore;
	if (lcore_list("--rx-lcores", cfg->rx_lcores, rx_set, want_rx, &n_rx) < 0 ||
	    lcore_list("--tx-lcores", cfg->tx_lcores, tx_set, max_txq, &n_tx) < 0)
		return -1;
	if (n_rx * cfg->rxq_per_lcore > max_rxq) {
		fprintf(stderr, "%s: --rx-lcores gives %u lcores x --rxq-per-lcore %u = %u uplink "
			"rx queues; the uplink has at most %u\n", FWD_NAME, n_rx,
			cfg->rxq_per_lcore, n_rx * cfg->rxq_per_lcore, max_rxq);
		return -1;
	}
	if (n_tx > max_txq) {
		fprintf(stderr, "%s: --tx-lcores gives %u lcores, each needs an uplink tx queue; "
			"the uplink has at most %u\n", FWD_NAME, n_tx, max_txq);
		return -1;
	}
	n_served = cfg->n_memif + (ctx->exception != EXCEPTION_NONE ? 1 : 0);
	per_lcore = (n_served + n_tx - 1) / n_tx;
	if (per_lcore > MAX_OWNED_PER_LCORE) {
		fprintf(stderr, "%s: --memif-ports %u%s need %u tx lcores at %u ports each; "
			"--tx-lcores gives %u\n", FWD_NAME, cfg->n_memif,
			n_served > cfg->n_memif ? " and the exception port" : "",
			(n_served + MAX_OWNED_PER_LCORE - 1) / MAX_OWNED_PER_LCORE,
			MAX_OWNED_PER_LCORE, n_tx);
		return -1;
	}

	ctx->lcores = rte_zmalloc("lcores", sizeof(struct fwd_lcore) * RTE_MAX_LCORE,
				  RTE_CACHE_LINE_SIZE);
	if (ctx->lcores == NULL)
		return -1;
	ctx->n_lcores = 0;
	for (lcore = 0; lcore < RTE_MAX_LCORE; lcore++) {
		struct fwd_lcore *lc;

		if (!rx_set[lcore] && !tx_set[lcore])
			continue;
		lc = &ctx->lcores[ctx->n_lcores++];
		lc->lcore_id = lcore;
		lc->rx = rx_set[lcore];
		lc->tx = tx_set[lcore];
		if (lc->rx) {
			lc->rxq_first = (uint16_t)rxq;
			lc->n_rxq = (uint16_t)cfg->rxq_per_lcore;
			rxq += cfg->rxq_per_lcore;
		}
		if (lc->tx)
			lc->uplink_txq = (uint16_t)txq++;
	}
	return 0;
}

unsigned int
fwd_lcores_rxq(const struct fwd_ctx *ctx)
{
	unsigned int i, n = 0;

	for (i = 0; i < ctx->n_lcores; i++)
		n += ctx->lcores[i].n_rxq;
	return n;
}

unsigned int
fwd_lcores_txq(const struct fwd_ctx *ctx)
{
	unsigned int i, n = 0;

	for (i = 0; i < ctx->n_lcores; i++)
		n += ctx->lcores[i].tx ? 1 : 0;
	return n;
}

/* Spread memif and exception ports over the tx lcores, round robin in slot order. */
void
fwd_lcores_assign_ports(struct fwd_ctx *ctx)
{
	unsigned int tx_idx[RTE_MAX_LCORE];
	unsigned int i, n_tx = 0;
	uint16_t s;

	for (i = 0; i < ctx->n_lcores; i++)
		if (ctx->lcores[i].tx)
			tx_idx[n_tx++] = i;
	for (s = 1; s < ctx->n_slots; s++) {
		struct fwd_lcore *lc = &ctx->lcores[tx_idx[(s - 1) % n_tx]];

		ctx->ports[s].owner = (unsigned int)(lc - ctx->lcores);
		lc->owned[lc->n_owned++] = s;
	}
	ctx->ports[SLOT_UPLINK].owner = UINT_MAX;
}

/* Per-lcore buffers, counters and the handoff rings. */
int
fwd_lcores_alloc(struct fwd_ctx *ctx)
{
	unsigned int i;
	uint16_t s;

	for (s = 1; s < ctx->n_slots; s++) {
		struct fwd_port *p = &ctx->ports[s];
		unsigned int producers = 0;
		char name[RTE_RING_NAMESIZE];

		for (i = 0; i < ctx->n_lcores; i++)
			if (ctx->lcores[i].rx && i != p->owner)
				producers++;
		if (producers == 0)
			continue;
		snprintf(name, sizeof(name), "fwd_handoff_%u", s);
		p->handoff = rte_ring_create(name, ctx->cfg.ring_size, SOCKET_ID_ANY,
					     RING_F_SC_DEQ | (producers == 1 ? RING_F_SP_ENQ : 0));
		if (p->handoff == NULL) {
			fprintf(stderr, "%s: cannot create ring %s: %s\n", FWD_NAME, name,
				rte_strerror(rte_errno));
			return -1;
		}
	}

	for (i = 0; i < ctx->n_lcores; i++) {
		struct fwd_lcore *lc = &ctx->lcores[i];
		int socket = (int)rte_lcore_to_socket_id(lc->lcore_id);

		lc->cnt = rte_zmalloc_socket("cnt", sizeof(*lc->cnt) * ctx->n_slots,
					     RTE_CACHE_LINE_SIZE, socket);
		lc->txb = rte_zmalloc_socket("txb", sizeof(*lc->txb) * ctx->n_slots, 0, socket);
		lc->stage = rte_zmalloc_socket("stage", sizeof(*lc->stage) * ctx->n_slots, 0,
					       socket);
		lc->n_stage = rte_zmalloc_socket("nstage", sizeof(*lc->n_stage) * ctx->n_slots,
						 0, socket);
		if (lc->cnt == NULL || lc->txb == NULL || lc->stage == NULL || lc->n_stage == NULL)
			return -1;
		if (lc->tx) {
			lc->txb[SLOT_UPLINK] = txb_create(ctx, lc, SLOT_UPLINK);
			if (lc->txb[SLOT_UPLINK] == NULL)
				return -1;
		}
		for (s = 1; s < ctx->n_slots; s++) {
			if (ctx->ports[s].owner == i) {
				lc->txb[s] = txb_create(ctx, lc, s);
				if (lc->txb[s] == NULL)
					return -1;
			} else if (lc->rx) {
				lc->stage[s] = rte_zmalloc_socket("stage",
						sizeof(struct rte_mbuf *) * MAX_BURST, 0, socket);
				if (lc->stage[s] == NULL)
					return -1;
			}
		}
	}
	return 0;
}
