/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2025 zmemif authors
 */

/*
 * No memif region is unmapped under a forwarding lcore.
 *
 * DPDK 22.11's net_memif PMD tears a connection down in memif_disconnect(), on the EAL
 * interrupt thread when the peer leaves (or on the main lcore when a port stops): it clears
 * ETH_MEMIF_FLAG_CONNECTED and the link status, closes the control and queue eventfds, then
 * munmap()s and frees the shared regions. Its rx/tx bursts test the flag once, on entry. An
 * lcore that entered a burst just before the flag was cleared (and was preempted, as lcores are
 * on a loaded machine) then touches a ring that is no longer mapped: SIGSEGV. The PMD raises no
 * event first (22.11's memif never calls rte_eth_dev_callback_process, so an
 * RTE_ETH_EVENT_INTR_LSC callback never runs) and takes no lock the data path could share.
 *
 * So the forwarder makes the PMD's own close() and munmap() wait, the way creds.c makes its
 * accept() check credentials: the executable defines and exports both
 * (-Wl,--export-dynamic-symbol=close,--export-dynamic-symbol=munmap), and the dynamic linker
 * binds the PMD's calls to them. Called from any thread but a forwarding lcore, they first wait
 * for a grace period of DPDK's RCU (rte_rcu_qsbr): every online lcore reports a quiescent state
 * at the end of each loop iteration, outside any burst. Once all have reported since the wait
 * began, every burst that might have seen the port connected has returned, and every later
 * burst sees the cleared flag (the writer's token increment is a release after the PMD's
 * store; the lcores load the token with acquire before their next burst) and returns 0 before
 * touching the ring. The first close() in memif_disconnect() comes before the eventfds are
 * closed (so no burst writes to a closed, maybe reused, fd number), munmap() before the unmap.
 *
 * A grace period costs the caller about one loop iteration (a few microseconds, more when the
 * lcore is preempted); the data path pays one load and one store per iteration. Every other
 * close() and munmap() from a non-lcore thread (the management socket, the EAL) waits as well,
 * which only delays it. The wait is bounded (QUIESCE_MAX_US): an lcore that never comes back
 * is counted as a timeout in the JSON and the call proceeds, as it would have without us.
 */

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <rte_cycles.h>
#include <rte_rcu_qsbr.h>

#include "fwd.h"

#define QUIESCE_MAX_US		1000000	/* give up waiting for an lcore after 1 s */
#define QUIESCE_SPIN_US		20	/* then check every 10 us, sleeping in between */

static struct {
	struct rte_rcu_qsbr *qsbr;	/* NULL until the lcores are set up */
	uint64_t waits;			/* grace periods waited for */
	uint64_t timeouts;		/* of them, given up after QUIESCE_MAX_US */
	uint64_t max_tsc;		/* longest wait */
} quiesce;

static RTE_DEFINE_PER_LCORE(bool, quiesce_reader);	/* this thread is a forwarding lcore */

int
quiesce_init(unsigned int n_lcores)
{
	struct rte_rcu_qsbr *v;
	unsigned int i;
	size_t sz = rte_rcu_qsbr_get_memsize(n_lcores);

	/* what the PMD's calls bind to: the global scope, the executable first */
	if (dlsym(RTLD_DEFAULT, "close") != (void *)close ||
	    dlsym(RTLD_DEFAULT, "munmap") != (void *)munmap) {
		fprintf(stderr, "%s: the memif PMD's close() and munmap() do not reach the "
			"forwarder (was it linked with -Wl,--export-dynamic-symbol=close and "
			"=munmap?); a memif peer leaving could crash it\n", FWD_NAME);
		return -1;
	}
	/* libc memory, never freed: close() and munmap() read it until the process ends, also
	 * after rte_eal_cleanup() has unmapped the EAL's */
	v = aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_ALIGN_CEIL(sz, RTE_CACHE_LINE_SIZE));
	if (v == NULL || rte_rcu_qsbr_init(v, n_lcores) != 0)
		return -1;
	for (i = 0; i < n_lcores; i++)
		if (rte_rcu_qsbr_thread_register(v, i) != 0)
			return -1;
	__atomic_store_n(&quiesce.qsbr, v, __ATOMIC_RELEASE);
	return 0;
}

/* Forwarding lcore idx, before its loop: from now on close()/munmap() elsewhere wait for it. */
void
quiesce_online(unsigned int idx)
{
	RTE_PER_LCORE(quiesce_reader) = true;
	rte_rcu_qsbr_thread_online(quiesce.qsbr, idx);
}

/* Forwarding lcore idx, at the end of every loop iteration: it is in no burst. */
void
quiesce_report(unsigned int idx)
{
	rte_rcu_qsbr_quiescent(quiesce.qsbr, idx);
}

/* Forwarding lcore idx, after its loop: no one waits for it any more. */
void
quiesce_offline(unsigned int idx)
{
	rte_rcu_qsbr_thread_offline(quiesce.qsbr, idx);
}

/* The lcores have returned (rte_eal_mp_wait_lcore): nothing to wait for any more. */
void
quiesce_fini(void)
{
	__atomic_store_n(&quiesce.qsbr, NULL, __ATOMIC_RELEASE);
}

/* Wait until no forwarding lcore is inside a burst it began before this call. */
void
quiesce_wait(void)
{
	struct rte_rcu_qsbr *v = __atomic_load_n(&quiesce.qsbr, __ATOMIC_ACQUIRE);
	uint64_t t, start, deadline, took;

	if (v == NULL || RTE_PER_LCORE(quiesce_reader))
		return;	/* before the lcores exist; or an lcore, which cannot wait for itself */
	t = rte_rcu_qsbr_start(v);
	start = rte_get_timer_cycles();
	deadline = start + rte_get_timer_hz() / 1000000 * QUIESCE_MAX_US;
	while (rte_rcu_qsbr_check(v, t, false) == 0) {
		if (rte_get_timer_cycles() > deadline) {
			__atomic_fetch_add(&quiesce.timeouts, 1, __ATOMIC_RELAXED);
			break;
		}
		if (rte_get_timer_cycles() - start < rte_get_timer_hz() / 1000000 * QUIESCE_SPIN_US)
			rte_pause();
		else
			rte_delay_us_sleep(10);
	}
	took = rte_get_timer_cycles() - start;
	__atomic_fetch_add(&quiesce.waits, 1, __ATOMIC_RELAXED);
	if (took > __atomic_load_n(&quiesce.max_tsc, __ATOMIC_RELAXED))
		__atomic_store_n(&quiesce.max_tsc, took, __ATOMIC_RELAXED);
}

void
quiesce_json(FILE *f)
{
	fprintf(f, "\"unmap_quiesce\":{\"waits\":%" PRIu64 ",\"timeouts\":%" PRIu64
		",\"max_us\":%" PRIu64 "}",
		__atomic_load_n(&quiesce.waits, __ATOMIC_RELAXED),
		__atomic_load_n(&quiesce.timeouts, __ATOMIC_RELAXED),
		__atomic_load_n(&quiesce.max_tsc, __ATOMIC_RELAXED) * 1000000 /
		rte_get_timer_hz());
}

/*
 * The PMD's close() and munmap() (and everyone else's in this process; glibc's own internal
 * calls do not come here). Straight to the system call after the wait, as creds.c's accept().
 */
int
close(int fd)
{
	quiesce_wait();
	return (int)syscall(SYS_close, fd);
}

int
munmap(void *addr, size_t len)
{
	quiesce_wait();
	return (int)syscall(SYS_munmap, addr, len);
}
