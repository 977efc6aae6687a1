/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2025 zmemif authors
 */

/* Command line: every option, its default, and the checks that need no EAL. */

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <rte_string_fns.h>

#include "fwd.h"

#define DEFAULT_MEMIF_SOCKET	"/run/memif.sock"
#define DEFAULT_MGMT_PATH	"/run/zmemif-fwd.sock"
#define DEFAULT_KERNEL_IFACE	"zmemif0"

enum {
	OPT_HOST = 256,
	OPT_UPLINK,
	OPT_MEMIF_PORTS,
	OPT_MEMIF_ROLE,
	OPT_MEMIF_SOCKET,
	OPT_SOCKET_OWNER,
	OPT_SOCKET_GROUP,
	OPT_SOCKET_MODE,
	OPT_MEMIF_RING_SIZE,
	OPT_MEMIF_BUFFER_SIZE,
	OPT_MEMIF_SECRET,
	OPT_MEMIF_ALLOW_UID,
	OPT_MEMIF_ALLOW_GID,
	OPT_MEMIF_REQUIRE_SECRET,
	OPT_UDP_PORTS,
	OPT_EXCEPTION,
	OPT_KERNEL_IFACE,
	OPT_RX_LCORES,
	OPT_TX_LCORES,
	OPT_RXQ_PER_LCORE,
	OPT_RX_DESC,
	OPT_TX_DESC,
	OPT_RING_SIZE,
	OPT_MBUFS,
	OPT_BURST,
	OPT_FLUSH_US,
	OPT_STATS_PERIOD,
	OPT_MGMT,
	OPT_MGMT_TCP,
	OPT_PROMISC,
};

static const struct option long_options[] = {
	{ "host",		required_argument, NULL, OPT_HOST },
	{ "uplink",		required_argument, NULL, OPT_UPLINK },
	{ "memif-ports",	required_argument, NULL, OPT_MEMIF_PORTS },
	{ "memif-role",		required_argument, NULL, OPT_MEMIF_ROLE },
	{ "memif-socket",	required_argument, NULL, OPT_MEMIF_SOCKET },
	{ "memif-socket-owner",	required_argument, NULL, OPT_SOCKET_OWNER },
	{ "memif-socket-group",	required_argument, NULL, OPT_SOCKET_GROUP },
	{ "memif-socket-mode",	required_argument, NULL, OPT_SOCKET_MODE },
	{ "memif-ring-size",	required_argument, NULL, OPT_MEMIF_RING_SIZE },
	{ "memif-buffer-size",	required_argument, NULL, OPT_MEMIF_BUFFER_SIZE },
	{ "memif-secret",	required_argument, NULL, OPT_MEMIF_SECRET },
	{ "memif-allow-uid",	required_argument, NULL, OPT_MEMIF_ALLOW_UID },
	{ "memif-allow-gid",	required_argument, NULL, OPT_MEMIF_ALLOW_GID },
	{ "memif-require-secret", no_argument,     NULL, OPT_MEMIF_REQUIRE_SECRET },
	{ "udp-ports",		required_argument, NULL, OPT_UDP_PORTS },
	{ "exception",		required_argument, NULL, OPT_EXCEPTION },
	{ "kernel-iface",	required_argument, NULL, OPT_KERNEL_IFACE },
	{ "rx-lcores",		required_argument, NULL, OPT_RX_LCORES },
	{ "tx-lcores",		required_argument, NULL, OPT_TX_LCORES },
	{ "rxq-per-lcore",	required_argument, NULL, OPT_RXQ_PER_LCORE },
	{ "rx-desc",		required_argument, NULL, OPT_RX_DESC },
	{ "tx-desc",		required_argument, NULL, OPT_TX_DESC },
	{ "ring-size",		required_argument, NULL, OPT_RING_SIZE },
	{ "mbufs",		required_argument, NULL, OPT_MBUFS },
	{ "burst",		required_argument, NULL, OPT_BURST },
	{ "flush-us",		required_argument, NULL, OPT_FLUSH_US },
	{ "stats-period",	required_argument, NULL, OPT_STATS_PERIOD },
	{ "mgmt",		required_argument, NULL, OPT_MGMT },
	{ "mgmt-tcp",		required_argument, NULL, OPT_MGMT_TCP },
	{ "promisc",		no_argument,       NULL, OPT_PROMISC },
	{ "help",		no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

void
fwd_usage(FILE *f, const char *prog)
{
	fprintf(f,
"Usage: %s [EAL options] -- --host ADDR/PREFIX [options]\n"
"\n"
"UDP for the host address arriving on the uplink goes to memif ports; everything else\n"
"(ARP, ICMP, TCP, IPv6, UDP for other addresses or ports) goes to the kernel through an\n"
"exception interface that carries the host address and the uplink's MAC. Frames from\n"
"memif ports and from the kernel go out of the uplink.\n"
"\n"
"EAL options choose the uplink and the lcores, for example\n"
"  -l 0,1 --vdev=net_af_packet0,iface=eth1      (an af_packet uplink)\n"
"  -l 0,1 -a 0000:03:00.0                       (a NIC bound to vfio-pci)\n"
"The main lcore runs control (stats, management socket, reconnects); the data path runs\n"
"on worker lcores, so give at least two lcores.\n"
"\n"
"Addresses:\n"
"  --host ADDR/PREFIX        host IPv4 address and prefix length (required); set on the\n"
"                            kernel interface; UDP to ADDR is steered to memif ports\n"
"  --uplink PORT             uplink DPDK port, by port id or device name\n"
"                            (default: the first port the EAL probed)\n"
"Memif ports:\n"
"  --memif-ports N           number of memif ports, interface ids 0..N-1 on one socket\n"
"                            (default 1, at most %u)\n"
"  --memif-role ROLE         server or client (default server); a client reconnects\n"
"                            every 1 s (backing off to 5 s) while its server is away\n"
"  --memif-socket PATH       control socket; @NAME for an abstract socket\n"
"                            (default " DEFAULT_MEMIF_SOCKET ", a filesystem socket)\n"
"  --memif-socket-owner USER chown the socket to USER (name or uid) (default: unchanged)\n"
"  --memif-socket-group GRP  chgrp the socket to GRP (name or gid) (default: unchanged)\n"
"  --memif-socket-mode MODE  chmod the socket, octal (default 0660); the three socket\n"
"                            options need a filesystem socket and the server role\n"
"  --memif-ring-size N       descriptors per memif ring, power of 2, 2..16384\n"
"                            (default 1024)\n"
"  --memif-buffer-size N     bytes per memif buffer, 128..2048 (default 2048)\n"
"  --memif-secret STRING     secret the peer must present, up to 24 chars (default none)\n"
"  --memif-allow-uid LIST    only peers running as one of these users (names or uids,\n"
"                            comma separated, repeatable) may connect; others get a\n"
"                            memif DISCONNECT saying why (default: anyone who can\n"
"                            reach the socket)\n"
"  --memif-allow-gid LIST    as --memif-allow-uid, for the peer's gid; a peer matching\n"
"                            either list may connect\n"
"  --memif-require-secret    an abstract socket with neither --memif-secret nor an\n"
"                            allow-list is an error (default: a warning): any process\n"
"                            in the network namespace could connect and receive packets\n"
"Steering:\n"
"  --udp-ports LIST          UDP destination ports that go to memif ports; LIST is\n"
"                            comma separated PORT[-PORT][:MEMIF]: with :MEMIF the ports\n"
"                            go to that memif port, without it the flow's 5-tuple hash\n"
"                            picks one (one flow stays on one port, in order). UDP to\n"
"                            other ports goes to the kernel. Example: 5000-5099:0,6000:1\n"
"                            (default: every port, by hash)\n"
"Exception path:\n"
"  --exception KIND          auto, tap, virtio-user or none (default auto: virtio-user\n"
"                            when /dev/vhost-net exists, else tap); none drops what\n"
"                            would go to the kernel\n"
"  --kernel-iface NAME       kernel interface name (default " DEFAULT_KERNEL_IFACE ")\n"
"Cores and queues:\n"
"  --rx-lcores LIST          worker lcores polling the uplink and steering, e.g. 1,2-3\n"
"                            (default: worker lcores, as many as the uplink has queues)\n"
"  --tx-lcores LIST          worker lcores serving memif and exception ports and\n"
"                            sending to the uplink, at most %u ports each\n"
"                            (default: worker lcores, as many as the uplink has queues)\n"
"  --rxq-per-lcore N         uplink rx queues per rx lcore, 1..%u (default 1)\n"
"  --rx-desc N               rx descriptors per queue (default 1024)\n"
"  --tx-desc N               tx descriptors per queue (default 1024)\n"
"  --ring-size N             handoff ring between lcores, power of 2 (default 1024)\n"
"  --mbufs N                 mbufs in the pool (default: computed from the above)\n"
"  --burst N                 packets per burst, 1..%u (default 32)\n"
"  --flush-us N              transmit buffers are flushed at least this often, in\n"
"                            microseconds (default 100)\n"
"Operations:\n"
"  --stats-period S          print counters every S seconds, 0 = only on SIGUSR1\n"
"                            (default 10)\n"
"  --mgmt PATH               Unix socket answering each connection with the counters\n"
"                            as JSON, then closing; none to disable\n"
"                            (default " DEFAULT_MGMT_PATH ")\n"
"  --mgmt-tcp PORT           also answer on 127.0.0.1:PORT (default off)\n"
"  --promisc                 put the uplink in promiscuous mode (default off)\n"
"  -h, --help                this text\n"
"\n"
"Signals: SIGINT and SIGTERM stop cleanly; SIGUSR1 prints the counters.\n",
		prog, MAX_MEMIF_PORTS, MAX_OWNED_PER_LCORE, MAX_RXQ_PER_LCORE, MAX_BURST);
}

static int
parse_uint(const char *opt, const char *arg, unsigned long min, unsigned long max,
	   unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 0);
	if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' || v < min || v > max) {
		fprintf(stderr, "%s: %s: '%s' is not a number from %lu to %lu\n",
			FWD_NAME, opt, arg, min, max);
		return -1;
	}
	*out = (unsigned int)v;
	return 0;
}

static int
parse_pow2(const char *opt, const char *arg, unsigned long min, unsigned long max,
	   unsigned int *out)
{
	if (parse_uint(opt, arg, min, max, out) < 0)
		return -1;
	if (!rte_is_power_of_2(*out)) {
		fprintf(stderr, "%s: %s: '%s' is not a power of 2\n", FWD_NAME, opt, arg);
		return -1;
	}
	return 0;
}

static int
parse_host(struct fwd_config *cfg, const char *arg)
{
	char buf[32];
	char *slash;
	struct in_addr a;
	unsigned int prefix;

	if (strlcpy(buf, arg, sizeof(buf)) >= sizeof(buf))
		goto bad;
	slash = strchr(buf, '/');
	if (slash == NULL) {
		fprintf(stderr, "%s: --host: '%s' has no prefix length; give ADDR/PREFIX, "
			"e.g. 192.0.2.10/24\n", FWD_NAME, arg);
		return -1;
	}
	*slash = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		goto bad;
	if (parse_uint("--host prefix", slash + 1, 1, 32, &prefix) < 0)
		return -1;
	if (a.s_addr == 0 || a.s_addr == INADDR_BROADCAST || IN_MULTICAST(ntohl(a.s_addr))) {
		fprintf(stderr, "%s: --host: %s is not a unicast address\n", FWD_NAME, buf);
		return -1;
	}
	cfg->host_addr = a.s_addr;
	cfg->host_prefix = (uint8_t)prefix;
	return 0;
bad:
	fprintf(stderr, "%s: --host: '%s' is not ADDR/PREFIX (IPv4)\n", FWD_NAME, arg);
	return -1;
}

/* PORT[-PORT][:MEMIF],... ; memif indexes are checked against --memif-ports later. */
static int
parse_udp_ports(struct fwd_config *cfg, const char *arg, unsigned int *max_memif)
{
	char *list, *tok, *save = NULL;
	int ret = -1;

	list = strdup(arg);
	if (list == NULL)
		return -1;
	memset(cfg->udp_port_map, 0, 65536 * sizeof(cfg->udp_port_map[0]));
	*max_memif = 0;

	for (tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		unsigned int lo, hi, memif = 0, p;
		uint16_t v = UDP_BY_HASH;
		char *colon = strchr(tok, ':');
		char *dash;

		if (colon != NULL) {
			*colon = '\0';
			if (parse_uint("--udp-ports memif", colon + 1, 0,
				       MAX_MEMIF_PORTS - 1, &memif) < 0)
				goto out;
			v = (uint16_t)(memif + 1);
			if (memif + 1 > *max_memif)
				*max_memif = memif + 1;
		}
		dash = strchr(tok, '-');
		if (dash != NULL)
			*dash = '\0';
		if (parse_uint("--udp-ports", tok, 0, 65535, &lo) < 0)
			goto out;
		hi = lo;
		if (dash != NULL && parse_uint("--udp-ports", dash + 1, 0, 65535, &hi) < 0)
			goto out;
		if (hi < lo) {
			fprintf(stderr, "%s: --udp-ports: range %u-%u is empty\n", FWD_NAME,
				lo, hi);
			goto out;
		}
		for (p = lo; p <= hi; p++) {
			if (cfg->udp_port_map[p] != UDP_TO_KERNEL) {
				fprintf(stderr, "%s: --udp-ports: port %u is listed twice\n",
					FWD_NAME, p);
				goto out;
			}
			cfg->udp_port_map[p] = v;
		}
	}
	ret = 0;
out:
	free(list);
	return ret;
}

static int
parse_user(const char *opt, const char *arg, uid_t *uid)
{
	struct passwd *pw = getpwnam(arg);
	unsigned int v;

	if (pw != NULL) {
		*uid = pw->pw_uid;
		return 0;
	}
	if (parse_uint(opt, arg, 0, UINT32_MAX - 1, &v) < 0) {
		fprintf(stderr, "%s: %s: no user '%s'\n", FWD_NAME, opt, arg);
		return -1;
	}
	*uid = v;
	return 0;
}

static int
parse_group(const char *opt, const char *arg, gid_t *gid)
{
	struct group *gr = getgrnam(arg);
	unsigned int v;

	if (gr != NULL) {
		*gid = gr->gr_gid;
		return 0;
	}
	if (parse_uint(opt, arg, 0, UINT32_MAX - 1, &v) < 0) {
		fprintf(stderr, "%s: %s: no group '%s'\n", FWD_NAME, opt, arg);
		return -1;
	}
	*gid = v;
	return 0;
}

/* NAME|ID[,NAME|ID...] appended to ids[*n]; users, or groups when 'group' is set. */
static int
parse_id_list(const char *opt, const char *arg, bool group, uint32_t *ids, unsigned int *n)
{
	char *list = strdup(arg), *save = NULL, *tok;
	int ret = -1;

	if (list == NULL)
		return -1;
	for (tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		uid_t uid;
		gid_t gid;

		if (*n == MAX_ALLOW) {
			fprintf(stderr, "%s: %s: at most %u entries; allow a group instead\n",
				FWD_NAME, opt, MAX_ALLOW);
			goto out;
		}
		if (group ? parse_group(opt, tok, &gid) : parse_user(opt, tok, &uid))
			goto out;
		ids[(*n)++] = group ? gid : uid;
	}
	if (*n == 0) {
		fprintf(stderr, "%s: %s: give at least one %s\n", FWD_NAME, opt,
			group ? "group" : "user");
		goto out;
	}
	ret = 0;
out:
	free(list);
	return ret;
}

static int
parse_path(const char *opt, const char *arg, char *dst, size_t size)
{
	if (arg[0] == '\0' || strlcpy(dst, arg, size) >= size) {
		fprintf(stderr, "%s: %s: '%s' is empty or longer than %zu characters\n",
			FWD_NAME, opt, arg, size - 1);
		return -1;
	}
	return 0;
}

/* "1,2-4" into set[lcore]; lcores are checked against the EAL's after rte_eal_init(). */
int
fwd_parse_lcore_list(const char *opt, const char *list, bool *set)
{
	const char *p = list;

	memset(set, 0, sizeof(bool) * RTE_MAX_LCORE);
	while (*p != '\0') {
		char *end;
		unsigned long lo, hi;

		errno = 0;
		lo = strtoul(p, &end, 10);
		if (end == p || errno != 0 || lo >= RTE_MAX_LCORE)
			goto bad;
		hi = lo;
		p = end;
		if (*p == '-') {
			p++;
			hi = strtoul(p, &end, 10);
			if (end == p || errno != 0 || hi >= RTE_MAX_LCORE || hi < lo)
				goto bad;
			p = end;
		}
		for (; lo <= hi; lo++)
			set[lo] = true;
		if (*p == ',')
			p++;
		else if (*p != '\0')
			goto bad;
	}
	return 0;
bad:
	fprintf(stderr, "%s: %s: '%s' is not a list of lcores such as 1,2-3 (each below %d)\n",
		FWD_NAME, opt, list, RTE_MAX_LCORE);
	return -1;
}

static void
config_defaults(struct fwd_config *cfg, uint16_t *map)
{
	unsigned int p;

	memset(cfg, 0, sizeof(*cfg));
	cfg->udp_port_map = map;
	cfg->n_memif = 1;
	cfg->memif_role = MEMIF_SERVER;
	strlcpy(cfg->memif_socket, DEFAULT_MEMIF_SOCKET, sizeof(cfg->memif_socket));
	cfg->socket_uid = (uid_t)-1;
	cfg->socket_gid = (gid_t)-1;
	cfg->socket_mode = 0660;
	cfg->memif_ring_size = 1024;
	cfg->memif_buffer_size = 2048;
	for (p = 0; p < 65536; p++)
		cfg->udp_port_map[p] = UDP_BY_HASH;
	cfg->exception = EXCEPTION_AUTO;
	strlcpy(cfg->kernel_iface, DEFAULT_KERNEL_IFACE, sizeof(cfg->kernel_iface));
	cfg->rxq_per_lcore = 1;
	cfg->rx_desc = 1024;
	cfg->tx_desc = 1024;
	cfg->ring_size = 1024;
	cfg->burst = 32;
	cfg->flush_us = 100;
	cfg->stats_period = 10;
	strlcpy(cfg->mgmt_path, DEFAULT_MGMT_PATH, sizeof(cfg->mgmt_path));
}

/* argv[0] is the program name, the rest are the options after "--". */
int
fwd_parse_args(struct fwd_config *cfg, int argc, char **argv)
{
	uint16_t *map;
	unsigned int max_memif = 0;
	bool host_given = false;
	int opt, idx;

	map = calloc(65536, sizeof(*map));
	if (map == NULL)
		return -1;
	config_defaults(cfg, map);

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", long_options, &idx)) != EOF) {
		const char *name = (opt >= OPT_HOST) ? long_options[idx].name : "";
		char optname[64];
		unsigned int v;

		snprintf(optname, sizeof(optname), "--%s", name);
		switch (opt) {
		case OPT_HOST:
			if (parse_host(cfg, optarg) < 0)
				return -1;
			host_given = true;
			break;
		case OPT_UPLINK:
			cfg->uplink = optarg;
			break;
		case OPT_MEMIF_PORTS:
			if (parse_uint(optname, optarg, 1, MAX_MEMIF_PORTS, &cfg->n_memif) < 0)
				return -1;
			break;
		case OPT_MEMIF_ROLE:
			if (strcmp(optarg, "server") == 0) {
				cfg->memif_role = MEMIF_SERVER;
			} else if (strcmp(optarg, "client") == 0) {
				cfg->memif_role = MEMIF_CLIENT;
			} else {
				fprintf(stderr, "%s: --memif-role: '%s' is not server or client\n",
					FWD_NAME, optarg);
				return -1;
			}
			break;
		case OPT_MEMIF_SOCKET:
			if (parse_path(optname, optarg, cfg->memif_socket,
				       sizeof(cfg->memif_socket)) < 0)
				return -1;
			break;
		case OPT_SOCKET_OWNER:
			if (parse_user(optname, optarg, &cfg->socket_uid) < 0)
				return -1;
			cfg->socket_perms_given = true;
			break;
		case OPT_SOCKET_GROUP:
			if (parse_group(optname, optarg, &cfg->socket_gid) < 0)
				return -1;
			cfg->socket_perms_given = true;
			break;
		case OPT_SOCKET_MODE: {
			char *end;
			unsigned long m;

			errno = 0;
			m = strtoul(optarg, &end, 8);
			if (errno != 0 || end == optarg || *end != '\0' || m > 07777) {
				fprintf(stderr, "%s: --memif-socket-mode: '%s' is not an "
					"octal mode such as 0660\n", FWD_NAME, optarg);
				return -1;
			}
			cfg->socket_mode = (mode_t)m;
			cfg->socket_perms_given = true;
			break;
		}
		case OPT_MEMIF_RING_SIZE:
			if (parse_pow2(optname, optarg, 2, 16384, &cfg->memif_ring_size) < 0)
				return -1;
			break;
		case OPT_MEMIF_BUFFER_SIZE:
			if (parse_uint(optname, optarg, 128, RTE_MBUF_DEFAULT_DATAROOM,
				       &cfg->memif_buffer_size) < 0)
				return -1;
			break;
		case OPT_MEMIF_SECRET:
			if (strlen(optarg) == 0 || strlen(optarg) > 24) {
				fprintf(stderr, "%s: --memif-secret: must be 1 to 24 characters\n",
					FWD_NAME);
				return -1;
			}
			if (strchr(optarg, ',') != NULL) {
				fprintf(stderr, "%s: --memif-secret: must not contain ','\n",
					FWD_NAME);
				return -1;
			}
			cfg->memif_secret = optarg;
			break;
		case OPT_MEMIF_ALLOW_UID:
			if (parse_id_list(optname, optarg, false, cfg->allow_uids,
					  &cfg->n_allow_uids) < 0)
				return -1;
			break;
		case OPT_MEMIF_ALLOW_GID:
			if (parse_id_list(optname, optarg, true, cfg->allow_gids,
					  &cfg->n_allow_gids) < 0)
				return -1;
			break;
		case OPT_MEMIF_REQUIRE_SECRET:
			cfg->require_secret = true;
			break;
		case OPT_UDP_PORTS:
			if (parse_udp_ports(cfg, optarg, &max_memif) < 0)
				return -1;
			cfg->udp_ports_given = true;
			break;
		case OPT_EXCEPTION:
			if (strcmp(optarg, "auto") == 0) {
				cfg->exception = EXCEPTION_AUTO;
			} else if (strcmp(optarg, "tap") == 0) {
				cfg->exception = EXCEPTION_TAP;
			} else if (strcmp(optarg, "virtio-user") == 0) {
				cfg->exception = EXCEPTION_VIRTIO_USER;
			} else if (strcmp(optarg, "none") == 0) {
				cfg->exception = EXCEPTION_NONE;
			} else {
				fprintf(stderr, "%s: --exception: '%s' is not auto, tap, "
					"virtio-user or none\n", FWD_NAME, optarg);
				return -1;
			}
			break;
		case OPT_KERNEL_IFACE:
			if (parse_path(optname, optarg, cfg->kernel_iface,
				       sizeof(cfg->kernel_iface)) < 0)
				return -1;
			if (strpbrk(optarg, ",/ :") != NULL) {
				fprintf(stderr, "%s: --kernel-iface: '%s' has characters not "
					"allowed in an interface name\n", FWD_NAME, optarg);
				return -1;
			}
			break;
		case OPT_RX_LCORES:
			cfg->rx_lcores = optarg;
			break;
		case OPT_TX_LCORES:
			cfg->tx_lcores = optarg;
			break;
		case OPT_RXQ_PER_LCORE:
			if (parse_uint(optname, optarg, 1, MAX_RXQ_PER_LCORE,
				       &cfg->rxq_per_lcore) < 0)
				return -1;
			break;
		case OPT_RX_DESC:
			if (parse_uint(optname, optarg, 32, 32768, &cfg->rx_desc) < 0)
				return -1;
			break;
		case OPT_TX_DESC:
			if (parse_uint(optname, optarg, 32, 32768, &cfg->tx_desc) < 0)
				return -1;
			break;
		case OPT_RING_SIZE:
			if (parse_pow2(optname, optarg, 64, 65536, &cfg->ring_size) < 0)
				return -1;
			break;
		case OPT_MBUFS:
			if (parse_uint(optname, optarg, 1024, 16 * 1024 * 1024, &cfg->n_mbufs) < 0)
				return -1;
			break;
		case OPT_BURST:
			if (parse_uint(optname, optarg, 1, MAX_BURST, &cfg->burst) < 0)
				return -1;
			break;
		case OPT_FLUSH_US:
			if (parse_uint(optname, optarg, 1, 1000000, &cfg->flush_us) < 0)
				return -1;
			break;
		case OPT_STATS_PERIOD:
			if (parse_uint(optname, optarg, 0, 86400, &cfg->stats_period) < 0)
				return -1;
			break;
		case OPT_MGMT:
			if (strcmp(optarg, "none") == 0)
				cfg->mgmt_path[0] = '\0';
			else if (parse_path(optname, optarg, cfg->mgmt_path,
					    sizeof(cfg->mgmt_path)) < 0)
				return -1;
			break;
		case OPT_MGMT_TCP:
			if (parse_uint(optname, optarg, 1, 65535, &v) < 0)
				return -1;
			cfg->mgmt_tcp_port = v;
			break;
		case OPT_PROMISC:
			cfg->promisc = true;
			break;
		case 'h':
			fwd_usage(stdout, FWD_NAME);
			exit(EXIT_SUCCESS);
		case ':':
			fprintf(stderr, "%s: option '%s' needs a value (see --help)\n",
				FWD_NAME, argv[optind - 1]);
			return -1;
		default:
			fprintf(stderr, "%s: unknown option '%s' (see --help)\n",
				FWD_NAME, argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n",
			FWD_NAME, argv[optind]);
		return -1;
	}

	/* combinations */
	if (!host_given) {
		fprintf(stderr, "%s: --host ADDR/PREFIX is required (see --help)\n", FWD_NAME);
		return -1;
	}
	if (max_memif > cfg->n_memif) {
		fprintf(stderr, "%s: --udp-ports names memif port %u but --memif-ports is %u "
			"(ports 0..%u)\n", FWD_NAME, max_memif - 1, cfg->n_memif,
			cfg->n_memif - 1);
		return -1;
	}
	cfg->memif_abstract = cfg->memif_socket[0] == '@';
	if (cfg->memif_abstract && cfg->memif_socket[1] == '\0') {
		fprintf(stderr, "%s: --memif-socket: '@' needs a name after it\n", FWD_NAME);
		return -1;
	}
	if (cfg->socket_perms_given && cfg->memif_abstract) {
		fprintf(stderr, "%s: --memif-socket-owner/-group/-mode apply to a filesystem "
			"socket; %s is abstract (no permissions)\n", FWD_NAME, cfg->memif_socket);
		return -1;
	}
	if (cfg->socket_perms_given && cfg->memif_role == MEMIF_CLIENT) {
		fprintf(stderr, "%s: --memif-socket-owner/-group/-mode apply to the server's "
			"socket; --memif-role is client\n", FWD_NAME);
		return -1;
	}
	if ((cfg->n_allow_uids > 0 || cfg->n_allow_gids > 0 || cfg->require_secret) &&
	    cfg->memif_role == MEMIF_CLIENT) {
		fprintf(stderr, "%s: --memif-allow-uid/-gid and --memif-require-secret apply to "
			"the server role; --memif-role is client\n", FWD_NAME);
		return -1;
	}
	if (cfg->require_secret && cfg->memif_abstract && cfg->memif_secret == NULL &&
	    cfg->n_allow_uids == 0 && cfg->n_allow_gids == 0) {
		fprintf(stderr, "%s: --memif-require-secret: the abstract socket %s has neither "
			"--memif-secret nor --memif-allow-uid/-gid, so any process in this network "
			"namespace could connect and receive the memif ports' packets: give one of "
			"them, or use a filesystem socket\n", FWD_NAME, cfg->memif_socket);
		return -1;
	}
	if (!cfg->memif_abstract && cfg->memif_socket[0] != '/') {
		fprintf(stderr, "%s: --memif-socket: '%s' must be an absolute path or @NAME\n",
			FWD_NAME, cfg->memif_socket);
		return -1;
	}
	if (cfg->mgmt_path[0] != '\0' && cfg->mgmt_path[0] != '/') {
		fprintf(stderr, "%s: --mgmt: '%s' must be an absolute path or none\n",
			FWD_NAME, cfg->mgmt_path);
		return -1;
	}
	if (cfg->mgmt_path[0] != '\0' && !cfg->memif_abstract &&
	    strcmp(cfg->mgmt_path, cfg->memif_socket) == 0) {
		fprintf(stderr, "%s: --mgmt and --memif-socket are the same path %s\n",
			FWD_NAME, cfg->mgmt_path);
		return -1;
	}
	if (strchr(cfg->memif_socket, ',') != NULL) {
		fprintf(stderr, "%s: --memif-socket: '%s' must not contain ','\n",
			FWD_NAME, cfg->memif_socket);
		return -1;
	}
	return 0;
}
