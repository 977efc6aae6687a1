/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2025 zmemif authors
 */

/*
 * udpgen: a kernel-side UDP traffic source for forwarder/bench.sh and e2e.sh. Sends
 * prebuilt Ethernet frames through an AF_PACKET socket (qdisc bypassed) in sendmmsg()
 * batches, optionally paced; the flows differ in their UDP source port.
 *
 *   udpgen IFACE SRC_MAC DST_MAC SRC_IP DST_IP DST_PORT SECONDS [FLOWS [SIZE [PPS]]]
 *
 * SIZE is the frame length without FCS (default 64); PPS 0 means as fast as possible.
 * Prints one JSON line: frames sent, seconds, rate.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH		64
#define MAX_FLOWS	1024
#define MAX_FRAME	1514

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
parse_mac(const char *s, uint8_t *mac)
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
		      &mac[4], &mac[5]) == 6 ? 0 : -1;
}

static uint16_t
ip_checksum(const void *data, size_t len)
{
	const uint16_t *p = data;
	uint32_t sum = 0;

	for (; len > 1; len -= 2)
		sum += *p++;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void
build_frame(uint8_t *f, size_t size, const uint8_t *src_mac, const uint8_t *dst_mac,
	    uint32_t src_ip, uint32_t dst_ip, uint16_t sport, uint16_t dport)
{
	struct ether_header *eth = (struct ether_header *)f;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct udphdr *udp = (struct udphdr *)(ip + 1);
	size_t l3 = size - sizeof(*eth);

	memset(f, 0, size);
	memcpy(eth->ether_dhost, dst_mac, 6);
	memcpy(eth->ether_shost, src_mac, 6);
	eth->ether_type = htons(ETHERTYPE_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons((uint16_t)l3);
	ip->saddr = src_ip;
	ip->daddr = dst_ip;
	ip->check = ip_checksum(ip, sizeof(*ip));
	udp->source = htons(sport);
	udp->dest = htons(dport);
	udp->len = htons((uint16_t)(l3 - sizeof(*ip)));
	udp->check = 0;		/* optional for IPv4 */
	l3 -= sizeof(*ip) + sizeof(*udp);
	memcpy(udp + 1, "zmemif-fwd bench", l3 < 16 ? l3 : 16);
}

int
main(int argc, char **argv)
{
	static uint8_t frames[MAX_FLOWS][MAX_FRAME];
	uint8_t src_mac[6], dst_mac[6];
	struct in_addr src_ip, dst_ip;
	struct sockaddr_ll sll;
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	unsigned int flows = 1, size = 64, dport, i, flow = 0;
	double seconds, pps = 0, t0, t, next;
	uint64_t sent = 0;
	int fd, one = 1;

	if (argc < 8) {
		fprintf(stderr, "usage: %s IFACE SRC_MAC DST_MAC SRC_IP DST_IP DST_PORT SECONDS "
			"[FLOWS [SIZE [PPS]]]\n", argv[0]);
		return 2;
	}
	if (parse_mac(argv[2], src_mac) < 0 || parse_mac(argv[3], dst_mac) < 0 ||
	    inet_pton(AF_INET, argv[4], &src_ip) != 1 ||
	    inet_pton(AF_INET, argv[5], &dst_ip) != 1) {
		fprintf(stderr, "udpgen: bad MAC or IPv4 address\n");
		return 2;
	}
	dport = (unsigned int)atoi(argv[6]);
	seconds = atof(argv[7]);
	if (argc > 8)
		flows = (unsigned int)atoi(argv[8]);
	if (argc > 9)
		size = (unsigned int)atoi(argv[9]);
	if (argc > 10)
		pps = atof(argv[10]);
	if (flows < 1 || flows > MAX_FLOWS || size < 60 || size > MAX_FRAME || dport > 65535) {
		fprintf(stderr, "udpgen: FLOWS 1..%d, SIZE 60..%d\n", MAX_FLOWS, MAX_FRAME);
		return 2;
	}

	fd = socket(AF_PACKET, SOCK_RAW, 0);	/* protocol 0: send only, receive nothing */
	if (fd < 0) {
		perror("udpgen: socket");
		return 1;
	}
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("udpgen: bind");
		return 1;
	}
	for (i = 0; i < flows; i++)
		build_frame(frames[i], size, src_mac, dst_mac, src_ip.s_addr, dst_ip.s_addr,
			    (uint16_t)(10000 + i), (uint16_t)dport);

	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_len = size;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	t0 = now_s();
	next = t0;
	for (t = t0; t - t0 < seconds; t = now_s()) {
		int n;

		if (pps > 0) {
			if (t < next)
				continue;
			next += BATCH / pps;
		}
		for (i = 0; i < BATCH; i++) {
			iov[i].iov_base = frames[flow];
			flow = flow + 1 == flows ? 0 : flow + 1;
		}
		n = sendmmsg(fd, msgs, BATCH, 0);
		if (n > 0)
			sent += (uint64_t)n;
		else if (n < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
			perror("udpgen: sendmmsg");
			return 1;
		}
	}
	t = now_s() - t0;
	printf("{\"sent\":%llu,\"seconds\":%.3f,\"pps\":%.0f}\n", (unsigned long long)sent, t,
	       (double)sent / t);
	close(fd);
	return 0;
}
