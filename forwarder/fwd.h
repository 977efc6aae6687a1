/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2025 zmemif authors
 */

/*
 * zmemif-fwd: UDP for the host address goes from an uplink to memif ports, everything
 * else goes to the kernel through an exception path (TAP or virtio-user); what comes
 * back from memif ports and from the kernel goes out of the uplink.
 */

#ifndef FWD_H
#define FWD_H

#include <stdbool.h>
#include <stdint.h>
#include <limits.h>
#include <net/if.h>
#include <sys/types.h>

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#define FWD_NAME		"zmemif-fwd"

#define MAX_BURST		64
#define MAX_MEMIF_PORTS		255	/* memif interface ids 0..254 on one socket */
#define MAX_OWNED_PER_LCORE	16	/* memif and exception ports served by one lcore */
#define MAX_RXQ_PER_LCORE	8
#define MAX_FWD_LCORES		RTE_MAX_LCORE
#define MAX_ALLOW		32	/* entries in --memif-allow-uid / --memif-allow-gid */

/* Port slots: 0 is the uplink, 1..n_memif the memif ports, then the exception port. */
#define SLOT_UPLINK		0
#define SLOT_NONE		UINT16_MAX

/* udp_port_map values: which memif port a UDP destination port goes to. */
#define UDP_TO_KERNEL		0
#define UDP_BY_HASH		0xffff	/* else memif index + 1 */

enum exception_kind {
	EXCEPTION_AUTO,
	EXCEPTION_TAP,
	EXCEPTION_VIRTIO_USER,
	EXCEPTION_NONE,
};

enum memif_role {
	MEMIF_SERVER,
	MEMIF_CLIENT,
};

/* Everything given on the command line (after the EAL arguments and "--"). */
struct fwd_config {
	uint32_t host_addr;		/* network byte order */
	uint8_t host_prefix;
	const char *uplink;		/* port id or device name; NULL: first probed port */

	unsigned int n_memif;
	enum memif_role memif_role;
	char memif_socket[108];		/* "@name" for an abstract socket */
	bool memif_abstract;
	uid_t socket_uid;		/* (uid_t)-1: unchanged */
	gid_t socket_gid;		/* (gid_t)-1: unchanged */
	mode_t socket_mode;
	bool socket_perms_given;
	unsigned int memif_ring_size;
	unsigned int memif_buffer_size;
	const char *memif_secret;
	uid_t allow_uids[MAX_ALLOW];	/* peers that may connect (server); none: any */
	unsigned int n_allow_uids;
	gid_t allow_gids[MAX_ALLOW];
	unsigned int n_allow_gids;
	bool require_secret;		/* unguarded abstract socket: an error, not a warning */

	uint16_t *udp_port_map;		/* 65536 entries */
	bool udp_ports_given;

	enum exception_kind exception;
	char kernel_iface[IF_NAMESIZE];

	const char *rx_lcores;		/* lcore lists as given, parsed after EAL init */
	const char *tx_lcores;
	unsigned int rxq_per_lcore;
	unsigned int rx_desc;
	unsigned int tx_desc;
	unsigned int ring_size;
	unsigned int n_mbufs;		/* 0: computed */
	unsigned int burst;
	unsigned int flush_us;

	unsigned int stats_period;	/* seconds, 0: only on SIGUSR1 */
	char mgmt_path[108];		/* empty: no management socket */
	unsigned int mgmt_tcp_port;	/* 0: off */
	bool promisc;
};

enum drop_cause {
	DROP_TX_FULL,		/* the port's tx queue did not take it */
	DROP_PEER_DOWN,		/* memif peer not connected */
	DROP_RING_FULL,		/* handoff ring to the lcore serving the port was full */
	DROP_NO_EXCEPTION,	/* for the kernel, but there is no exception path */
	DROP_LOOPED,		/* came in on the uplink with our own source MAC */
	DROP_MAX,
};

extern const char * const drop_cause_names[DROP_MAX];

/* Counters of one lcore for one port slot; only that lcore writes them. */
struct port_counters {
	uint64_t rx;		/* received from this port */
	uint64_t steered;	/* classified towards this port */
	uint64_t tx;		/* accepted by this port's tx queue */
	uint64_t drop[DROP_MAX];
};

enum port_kind {
	PORT_UPLINK,
	PORT_MEMIF,
	PORT_EXCEPTION,
};

struct fwd_port {
	enum port_kind kind;
	uint16_t port_id;
	uint16_t memif_id;
	char name[RTE_ETH_NAME_MAX_LEN];	/* short name used in stats */
	char dev_name[RTE_ETH_NAME_MAX_LEN];
	unsigned int owner;		/* index in fwd_lcores of the lcore serving it */
	struct rte_ring *handoff;	/* from other rx lcores to the owner; NULL if none */
	bool started;
	uint8_t link_up;		/* refreshed by the main lcore */
	uint8_t enabled;		/* the owner may call ethdev functions on it */
	uint64_t next_retry;		/* memif client: next reconnect attempt (tsc) */
	unsigned int retry_s;
};

struct fwd_lcore {
	unsigned int lcore_id;
	bool rx;			/* polls uplink rx queues */
	bool tx;			/* serves memif/exception ports, sends to the uplink */
	uint16_t rxq_first;
	uint16_t n_rxq;
	uint16_t uplink_txq;
	uint16_t n_owned;
	uint16_t owned[MAX_OWNED_PER_LCORE];

	uint64_t epoch;			/* loop iterations, for the JSON */
	uint64_t start_tsc;		/* when the loop started */
	uint64_t busy_tsc;		/* TSC cycles spent in loops that moved packets */

	struct rte_eth_dev_tx_buffer **txb;	/* per slot, NULL where this lcore never sends */
	struct rte_mbuf ***stage;	/* per slot, packets for another lcore's port */
	uint16_t *n_stage;
	struct port_counters *cnt;	/* per slot */
} __rte_cache_aligned;

/* State shared by all lcores, set up before they start and read-only after. */
struct fwd_ctx {
	struct fwd_config cfg;
	struct rte_ether_addr mac;	/* the uplink's; the kernel interface gets it too */
	uint32_t host_addr;		/* network byte order */
	uint16_t n_slots;
	uint16_t exception_slot;	/* SLOT_NONE without exception path */
	struct fwd_port *ports;		/* n_slots */
	unsigned int n_lcores;
	struct fwd_lcore *lcores;
	struct rte_mempool *pool;
	uint64_t flush_tsc;
	uint64_t start_tsc;
	enum exception_kind exception;	/* resolved from auto */
};

extern struct fwd_ctx fwd;
extern volatile bool force_quit;

/* config.c */
void fwd_usage(FILE *f, const char *prog);
int fwd_parse_args(struct fwd_config *cfg, int argc, char **argv);
int fwd_parse_lcore_list(const char *opt, const char *list, bool *set);

/* port.c */
int socket_path_prepare(const char *path, int type, const char *what);
int fwd_uplink_find(struct fwd_ctx *ctx, struct rte_eth_dev_info *info);
int fwd_ports_create(struct fwd_ctx *ctx);
int fwd_ports_start(struct fwd_ctx *ctx);
void fwd_ports_refresh(struct fwd_ctx *ctx);
void fwd_ports_close(struct fwd_ctx *ctx);

/* lcore.c */
int fwd_lcores_assign(struct fwd_ctx *ctx, uint16_t max_rxq, uint16_t max_txq);
unsigned int fwd_lcores_rxq(const struct fwd_ctx *ctx);
unsigned int fwd_lcores_txq(const struct fwd_ctx *ctx);
void fwd_lcores_assign_ports(struct fwd_ctx *ctx);
int fwd_lcores_alloc(struct fwd_ctx *ctx);
int lcore_main(void *arg);

/* creds.c */
int creds_setup(const struct fwd_config *cfg);
int creds_selftest(void);
void creds_json(FILE *f);

/* quiesce.c */
int quiesce_init(unsigned int n_lcores);
void quiesce_online(unsigned int idx);
void quiesce_report(unsigned int idx);
void quiesce_offline(unsigned int idx);
void quiesce_wait(void);
void quiesce_fini(void);
void quiesce_json(FILE *f);

/* stats.c */
void stats_print(const struct fwd_ctx *ctx, FILE *f);
char *stats_json(const struct fwd_ctx *ctx, size_t *len);
int mgmt_open(const struct fwd_config *cfg, int *fds, unsigned int *n_fds);
void mgmt_serve(const struct fwd_ctx *ctx, int listen_fd);
void mgmt_close(const struct fwd_config *cfg, int *fds, unsigned int n_fds);

#endif /* FWD_H */
