/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2025 zmemif authors
 */

/*
 * Who may connect to the memif socket.
 *
 * DPDK's net_memif PMD owns the listening socket and accepts connections on the EAL interrupt
 * thread, with no hook to check who connects. So this file defines accept(): the executable
 * exports it (-Wl,--export-dynamic-symbol=accept; a static build binds to it directly), and the
 * dynamic linker resolves the PMD's accept() to it before libc's. A connection on the memif
 * socket whose peer (SO_PEERCRED) is on neither allow-list gets a memif DISCONNECT naming the
 * reason and is closed here; the PMD is told ECONNABORTED and never sees it. A refused peer thus
 * never reaches a handshake, so it can never receive a packet: there is no window to close.
 *
 * That the PMD's accept() really comes here is checked once at start (creds_selftest): the
 * forwarder connects to its own memif socket and waits for accept() to see that connection.
 * If it does not, the forwarder refuses to run with an allow-list rather than pretend.
 */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <rte_common.h>
#include <rte_cycles.h>

#include "fwd.h"

#define MAX_PEERS		512
#define MSG_SIZE		128	/* every memif control message */
#define MSG_DISCONNECT		8	/* memif message type */
#define REASON_OFF		6	/* type u16, code u32, then the reason */
#define REASON_LEN		96

struct peer {
	int fd;
	ino_t ino;		/* the socket's inode: the fd number may be reused */
	struct ucred cred;
};

static struct {
	pthread_mutex_t lock;
	const struct fwd_config *cfg;
	bool check;			/* an allow-list is set */
	bool proven;			/* creds_selftest saw the PMD's accept() come here */
	struct peer peers[MAX_PEERS];	/* accepted and allowed, maybe closed since */
	unsigned int n_peers;
	uint64_t refused;
	struct ucred last_refused;
	char last_reason[REASON_LEN];
	volatile int probe_seen;
} creds = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Is fd the listener of the memif socket (the address given by --memif-socket)? */
static bool
is_memif_listener(int fd)
{
	const struct fwd_config *cfg = __atomic_load_n(&creds.cfg, __ATOMIC_ACQUIRE);
	const char *want = cfg->memif_socket;
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	size_t n;

	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.sun_family != AF_UNIX ||
	    len <= offsetof(struct sockaddr_un, sun_path))
		return false;
	n = len - offsetof(struct sockaddr_un, sun_path);
	if (cfg->memif_abstract) {
		/* "\0name", maybe padded with NULs to the whole sun_path */
		size_t name_len = strlen(want + 1);

		return sa.sun_path[0] == '\0' && n >= 1 + name_len &&
			memcmp(sa.sun_path + 1, want + 1, name_len) == 0 &&
			(n == 1 + name_len || sa.sun_path[1 + name_len] == '\0');
	}
	return strncmp(sa.sun_path, want, sizeof(sa.sun_path)) == 0;
}

static bool
id_in(uint32_t id, const uint32_t *ids, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static void
id_list(char *buf, size_t size, const uint32_t *ids, unsigned int n)
{
	size_t off = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < n && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%u", i ? ", " : "", ids[i]);
}

/* The refusal reason, as zmemif says it: "uid 1001 not allowed (allowed: 0, 1000)". */
static void
refusal(char *buf, size_t size, const struct ucred *c)
{
	const struct fwd_config *cfg = creds.cfg;
	char uids[REASON_LEN], gids[REASON_LEN];

	id_list(uids, sizeof(uids), cfg->allow_uids, cfg->n_allow_uids);
	id_list(gids, sizeof(gids), cfg->allow_gids, cfg->n_allow_gids);
	if (cfg->n_allow_gids == 0)
		snprintf(buf, size, "uid %u not allowed (allowed: %s)", c->uid, uids);
	else if (cfg->n_allow_uids == 0)
		snprintf(buf, size, "uid %u gid %u not allowed (allowed gids: %s)", c->uid,
			 c->gid, gids);
	else
		snprintf(buf, size, "uid %u gid %u not allowed (allowed uids: %s; gids: %s)",
			 c->uid, c->gid, uids, gids);
}

static void
send_disconnect(int fd, const char *reason)
{
	uint8_t msg[MSG_SIZE];
	uint16_t type = MSG_DISCONNECT;

	memset(msg, 0, sizeof(msg));
	memcpy(msg, &type, sizeof(type));	/* little-endian hosts, as memif itself */
	memcpy(msg + REASON_OFF, reason, RTE_MIN(strlen(reason), (size_t)REASON_LEN - 1));
	if (send(fd, msg, sizeof(msg), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		fprintf(stderr, "%s: memif: cannot tell the refused peer why: %s\n", FWD_NAME,
			strerror(errno));
}

/* Forget peers whose connection the PMD has closed. Called with the lock held. */
static void
peers_prune(void)
{
	unsigned int i = 0;
	struct stat st;

	while (i < creds.n_peers) {
		struct peer *p = &creds.peers[i];

		if (fstat(p->fd, &st) == 0 && st.st_ino == p->ino && S_ISSOCK(st.st_mode))
			i++;
		else
			*p = creds.peers[--creds.n_peers];
	}
}

/* Decides about one connection accepted on the memif listener: true to hand it to the PMD. */
static bool
admit(int fd)
{
	struct ucred c;
	socklen_t len = sizeof(c);
	char reason[REASON_LEN];
	struct stat st;
	bool ok;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) < 0) {
		snprintf(reason, sizeof(reason), "peer credentials unavailable");
		c.pid = 0;
		c.uid = c.gid = (uid_t)-1;
		ok = false;
	} else if (c.pid == getpid()) {
		/* creds_selftest's own connection: seen, and not for the PMD */
		__atomic_store_n(&creds.probe_seen, 1, __ATOMIC_RELEASE);
		return false;
	} else {
		ok = !creds.check ||
			id_in(c.uid, creds.cfg->allow_uids, creds.cfg->n_allow_uids) ||
			id_in(c.gid, creds.cfg->allow_gids, creds.cfg->n_allow_gids);
		if (!ok)
			refusal(reason, sizeof(reason), &c);
	}

	pthread_mutex_lock(&creds.lock);
	if (ok) {
		peers_prune();
		if (creds.n_peers < MAX_PEERS && fstat(fd, &st) == 0)
			creds.peers[creds.n_peers++] = (struct peer){ fd, st.st_ino, c };
	} else {
		creds.refused++;
		creds.last_refused = c;
		strlcpy(creds.last_reason, reason, sizeof(creds.last_reason));
	}
	pthread_mutex_unlock(&creds.lock);

	if (!ok) {
		printf("%s: memif: refused a peer (pid %d uid %u gid %u): %s\n", FWD_NAME,
		       (int)c.pid, c.uid, c.gid, reason);
		send_disconnect(fd, reason);
	}
	return ok;
}

/*
 * accept() for the whole process. Other listeners (EAL telemetry, the management socket) get
 * plain accept(); only the memif listener's connections are checked. The PMD logs an error for
 * each refused connection ("Failed to accept connection request"); the line above it says why.
 */
int
accept(int fd, struct sockaddr *addr, socklen_t *addr_len)
{
	const struct fwd_config *cfg = __atomic_load_n(&creds.cfg, __ATOMIC_ACQUIRE);
	int nfd = (int)syscall(SYS_accept4, fd, addr, addr_len, 0);

	if (nfd < 0 || cfg == NULL || cfg->memif_role != MEMIF_SERVER || !is_memif_listener(fd))
		return nfd;
	if (admit(nfd))
		return nfd;
	close(nfd);
	errno = ECONNABORTED;
	return -1;
}

int
creds_setup(const struct fwd_config *cfg)
{
	creds.check = cfg->n_allow_uids > 0 || cfg->n_allow_gids > 0;
	__atomic_store_n(&creds.cfg, cfg, __ATOMIC_RELEASE);
	if (cfg->memif_role == MEMIF_SERVER && cfg->memif_abstract && !creds.check &&
	    cfg->memif_secret == NULL)
		fprintf(stderr, "%s: warning: the memif ports listen on the abstract socket %s "
			"with no secret and no allow-list: any process in this network namespace "
			"can connect as a memif port's client and receive its packets. To close it, "
			"give --memif-secret or --memif-allow-uid/--memif-allow-gid, or use a "
			"filesystem socket; --memif-require-secret makes this an error.\n",
			FWD_NAME, cfg->memif_socket);
	return 0;
}

/*
 * Server role, before any packet flows: proves that the PMD's accept() comes here. Without it an
 * allow-list would not be enforced (fatal) and the peer list would be empty (noted).
 */
int
creds_selftest(void)
{
	const struct fwd_config *cfg = creds.cfg;
	struct sockaddr_un sa;
	socklen_t len;
	uint64_t deadline;
	int fd;

	if (cfg->memif_role != MEMIF_SERVER)
		return 0;
	printf("%s: memif: checking that connections reach the credential check (the PMD logs "
	       "one failed accept for it)\n", FWD_NAME);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (cfg->memif_abstract) {
		strlcpy(sa.sun_path + 1, cfg->memif_socket + 1, sizeof(sa.sun_path) - 1);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				  strlen(cfg->memif_socket + 1));
	} else {
		strlcpy(sa.sun_path, cfg->memif_socket, sizeof(sa.sun_path));
		len = sizeof(sa);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, len) < 0) {
		/* DPDK binds abstract names padded to the whole sun_path: try that too */
		if (fd >= 0 && cfg->memif_abstract &&
		    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			goto connected;
		fprintf(stderr, "%s: memif: cannot connect to %s to test the credential check: "
			"%s\n", FWD_NAME, cfg->memif_socket, strerror(errno));
		if (fd >= 0)
			close(fd);
		return creds.check ? -1 : 0;
	}
connected:
	deadline = rte_get_timer_cycles() + 2 * rte_get_timer_hz();
	while (!__atomic_load_n(&creds.probe_seen, __ATOMIC_ACQUIRE) &&
	       rte_get_timer_cycles() < deadline)
		usleep(1000);
	close(fd);
	if (!__atomic_load_n(&creds.probe_seen, __ATOMIC_ACQUIRE)) {
		fprintf(stderr, "%s: memif: the PMD's accept() does not reach the forwarder's "
			"credential check (was it linked with -Wl,--export-dynamic-symbol=accept?)%s\n",
			FWD_NAME, creds.check ? ", so --memif-allow-uid/-gid would not be enforced: "
			"refusing to run" : "; memif_peers in the stats stays null");
		return creds.check ? -1 : 0;
	}
	creds.proven = true;
	printf("%s: memif: peer credentials are read%s\n", FWD_NAME,
	       creds.check ? " and checked against the allow-list" : "");
	return 0;
}

/* "memif_peers": the credentials of every peer connected to the memif socket, and refusals. */
void
creds_json(FILE *f)
{
	unsigned int i;

	if (!creds.proven) {
		fprintf(f, "\"memif_peers\":null,\"memif_refused\":null");
		return;
	}
	pthread_mutex_lock(&creds.lock);
	peers_prune();
	fprintf(f, "\"memif_peers\":[");
	for (i = 0; i < creds.n_peers; i++)
		fprintf(f, "%s{\"pid\":%d,\"uid\":%u,\"gid\":%u}", i ? "," : "",
			(int)creds.peers[i].cred.pid, creds.peers[i].cred.uid,
			creds.peers[i].cred.gid);
	fprintf(f, "],\"memif_refused\":{\"count\":%" PRIu64, creds.refused);
	if (creds.refused > 0)
		fprintf(f, ",\"last\":{\"pid\":%d,\"uid\":%u,\"gid\":%u,\"reason\":\"%s\"}",
			(int)creds.last_refused.pid, creds.last_refused.uid,
			creds.last_refused.gid, creds.last_reason);
	fprintf(f, "}");
	pthread_mutex_unlock(&creds.lock);
}
