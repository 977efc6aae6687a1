/* zmemif C ABI — CONTRACT DRAFT (hand-written; will be replaced by the cbindgen output of src/ffi.rs,
 * which must keep these names, numbers and layouts).
 *
 * Conventions
 *  - Every function returns int32_t: >= 0 success (a count where it says so), < 0 a ZMEMIF_E_* code.
 *    zmemif_last_error() copies the calling thread's message for the last failure (what to do).
 *  - Handles are opaque pointers. *_free(NULL) is allowed. A handle is used by one thread at a time;
 *    queues may be used from any thread (one queue per thread), ports/sockets from any thread.
 *  - No panic crosses the boundary (ZMEMIF_E_INTERNAL instead).
 *  - Hot path (rx_burst/tx_alloc/tx_burst) takes numbers and a caller-provided descriptor array.
 */
#ifndef ZMEMIF_H
#define ZMEMIF_H
#include <stdint.h>

#define ZMEMIF_E_INVALID_ARGUMENT  -1  /* a parameter is out of range (message names it)        */
#define ZMEMIF_E_SOCKET_PATH       -2  /* path too long / empty / directory missing               */
#define ZMEMIF_E_PERMISSION        -3  /* EACCES/EPERM on the socket or its directory             */
#define ZMEMIF_E_ADDRESS_IN_USE    -4  /* a live server already listens on that socket            */
#define ZMEMIF_E_ID_IN_USE         -5  /* an interface with that id and role exists on the socket */
#define ZMEMIF_E_NOT_CONNECTED     -6  /* no live connection (queue detached or peer gone)        */
#define ZMEMIF_E_TIMEOUT           -7  /* a wait ran out                                          */
#define ZMEMIF_E_QUEUE_RANGE       -8  /* queue id >= the negotiated/configured count             */
#define ZMEMIF_E_BUSY              -9  /* the queue is already open through another handle        */
#define ZMEMIF_E_CLOSED           -10  /* the port/socket was closed                              */
#define ZMEMIF_E_PEER_REJECTED    -11  /* the peer refused the handshake (reason: zmemif_port_reason) */
#define ZMEMIF_E_TOO_LARGE        -12  /* packet does not fit (chain longer than the ring allows)  */
#define ZMEMIF_E_IO               -13  /* other OS error (message has errno text)                 */
#define ZMEMIF_E_INTERNAL         -14  /* a bug: a panic was caught                               */

#define ZMEMIF_ROLE_CLIENT 0
#define ZMEMIF_ROLE_SERVER 1
#define ZMEMIF_MODE_ETHERNET 0
#define ZMEMIF_MODE_IP 1
#define ZMEMIF_MODE_PUNT_INJECT 2

#define ZMEMIF_DESC_NEXT 1 /* flags bit: the packet continues in the next descriptor */

/* One buffer (segment) of a packet: (region, offset, length). 16 bytes; same field order as the
 * memif wire descriptor, but this is the caller's own memory, never the shared ring. */
typedef struct zmemif_desc {
	uint16_t flags;  /* ZMEMIF_DESC_NEXT */
	uint16_t region; /* region index: view index */
	uint32_t length; /* rx: bytes of data; tx_alloc: capacity; tx_burst: bytes to send */
	uint32_t offset; /* byte offset in the region */
	uint32_t reserved;
} zmemif_desc;

typedef struct zmemif_port_config {          /* 80 bytes */
	uint32_t id;                         /* 0: interface id */
	uint8_t role;                        /* 4: ZMEMIF_ROLE_* */
	uint8_t mode;                        /* 5: ZMEMIF_MODE_* */
	uint8_t log2_ring_size;              /* 6: 1..14 (0 = default 10) */
	uint8_t secret_len;                  /* 7: 0..24 (0 = no secret) */
	uint16_t num_c2s;                    /* 8: 1..255 (0 = default 1) */
	uint16_t num_s2c;                    /* 10: 1..255 (0 = default 1) */
	uint32_t buffer_size;                /* 12: 1..65535 (0 = default 2048) */
	uint32_t reconnect_ms;               /* 16: client retry period (0 = default 1000) */
	uint8_t secret[24];                  /* 20 */
	uint8_t name[32];                    /* 44: interface name, NUL-padded (empty = "zmemif") */
	uint32_t flags;                      /* 76: reserved, 0 */
} zmemif_port_config;

typedef struct zmemif_port_info {            /* 64 bytes; valid fields depend on state */
	uint32_t state;       /* 0 disconnected, 1 connecting (handshake), 2 connected, 3 closed */
	uint32_t generation;  /* increments on each successful connect */
	uint16_t num_c2s;     /* negotiated */
	uint16_t num_s2c;
	uint8_t log2_ring_size;
	uint8_t role;
	uint16_t num_regions;
	uint32_t buffer_size;
	uint32_t reserved0;
	uint64_t connects;
	uint64_t disconnects;
	uint64_t rejects;     /* handshakes refused (by us or the peer) */
	uint64_t reserved1[2];
} zmemif_port_info;

typedef struct zmemif_queue_stats {          /* 64 bytes */
	uint64_t packets;
	uint64_t bytes;
	uint64_t bad_descs;   /* descriptors from the peer that failed validation: counted and skipped */
	uint64_t ring_full;   /* tx_alloc calls that found no free slot / rx bursts that filled max */
	uint64_t interrupts;  /* eventfd signals sent (tx) or received (rx) */
	uint64_t reserved[3];
} zmemif_queue_stats;

/* Events passed to the port callback (called from the socket's control thread). */
#define ZMEMIF_EVENT_CONNECTED    1 /* arg = generation */
#define ZMEMIF_EVENT_DISCONNECTED 2 /* arg = generation that ended */
#define ZMEMIF_EVENT_RX_READY     3 /* arg = rx queue id (armed with zmemif_queue_arm) */
typedef void (*zmemif_event_cb)(uint64_t ctx, uint32_t event, uint32_t arg);

typedef struct zmemif_socket zmemif_socket;
typedef struct zmemif_port zmemif_port;
typedef struct zmemif_queue zmemif_queue;

/* errors */
const char *zmemif_strerror(int32_t code);                       /* static string */
int32_t zmemif_last_error(uint8_t *buf, uint32_t len);           /* copies message, returns its length */

/* socket: path is a filesystem path, or an abstract name when abstract_ != 0 (no leading NUL/@).
 * uid/gid: 0xFFFFFFFF = leave; mode: permission bits for a filesystem listener (0 = 0660). */
int32_t zmemif_socket_new(const uint8_t *path, uint32_t path_len, uint32_t abstract_, uint32_t uid,
			  uint32_t gid, uint32_t mode, zmemif_socket **out);
void zmemif_socket_free(zmemif_socket *s);

/* port */
int32_t zmemif_port_new(zmemif_socket *s, const zmemif_port_config *cfg, zmemif_port **out);
void zmemif_port_free(zmemif_port *p); /* disconnects; queues opened on it keep working until freed but are NOT_CONNECTED */
int32_t zmemif_port_set_callback(zmemif_port *p, zmemif_event_cb cb, uint64_t ctx); /* cb NULL = none */
int32_t zmemif_port_wait_connected(zmemif_port *p, int32_t timeout_ms);  /* 0 or TIMEOUT/PEER_REJECTED/CLOSED */
int32_t zmemif_port_info_get(zmemif_port *p, zmemif_port_info *out);
int32_t zmemif_port_peer_name(zmemif_port *p, uint8_t *buf, uint32_t len);  /* returns length */
int32_t zmemif_port_reason(zmemif_port *p, uint8_t *buf, uint32_t len);     /* last disconnect reason */

/* queues: dir 0 = rx, 1 = tx. As client rx = S2C rings, tx = C2S rings; as server the reverse. */
int32_t zmemif_queue_open(zmemif_port *p, uint32_t dir, uint32_t qid, zmemif_queue **out);
void zmemif_queue_free(zmemif_queue *q);
/* attach to the port's current connection: returns its generation (>= 0) or NOT_CONNECTED.
 * While attached the connection's regions stay mapped, even after the peer is gone. */
int32_t zmemif_queue_attach(zmemif_queue *q);
/* drop the queue's hold on the connection (after every view of its regions was revoked). */
int32_t zmemif_queue_detach(zmemif_queue *q);
/* region idx of the attached connection: base address and size (for one view per region). */
int32_t zmemif_queue_region(zmemif_queue *q, uint32_t idx, uint64_t *base, uint64_t *size);
int32_t zmemif_queue_num_regions(zmemif_queue *q);
int32_t zmemif_queue_stats_get(zmemif_queue *q, zmemif_queue_stats *out);
int32_t zmemif_queue_set_polling(zmemif_queue *q, uint32_t polling); /* rx: MASK_INT on/off */
/* block until rx data / tx space, or timeout (ms; -1 forever). 1 = ready, 0 = timeout. */
int32_t zmemif_queue_wait(zmemif_queue *q, int32_t timeout_ms);
/* rx: ask the control thread to call the port callback (RX_READY, qid) once when data arrives. */
int32_t zmemif_queue_arm(zmemif_queue *q);

/* hot path. Each returns a count >= 0 or NOT_CONNECTED (connection ended: revoke views, detach). */
int32_t zmemif_rx_burst(zmemif_queue *q, zmemif_desc *out, uint32_t max); /* releases the previous burst first; whole packets only */
int32_t zmemif_rx_release(zmemif_queue *q);                                /* give back what the last burst returned */
int32_t zmemif_tx_alloc(zmemif_queue *q, zmemif_desc *out, uint32_t n);    /* reserve up to n buffers */
int32_t zmemif_tx_burst(zmemif_queue *q, const zmemif_desc *descs, uint32_t n); /* send the first n reserved buffers with these lengths/flags */

#endif
