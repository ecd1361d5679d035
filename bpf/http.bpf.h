// HTTP exchange tracking shared by the plaintext syscall hooks (http.bpf.c) and the libssl
// uprobes (tls.bpf.c). A request is parked in a direct-mapped table of pending requests keyed by
// (process, connection) or (process, SSL *); its response completes it in-kernel, so latency is measured
// where it happens and one record carries request and response. A colliding request evicts the parked one
// as an EVICTED record (never lost silently); user space completes stale ones as TIMEOUT by
// sweeping the mmapped table (no syscalls, so it keeps working under seccomp).
// Trust: kernel; the payload bytes are attacker-controlled and only copied, never interpreted
// beyond an 8-byte prefix check.
#pragma once

#include "common.bpf.h"

#define RW_DIR_OUT 0 /* bytes this process sent */
#define RW_DIR_IN 1  /* bytes this process received */
#define RW_HTTP_MAX_IOV 4

enum { HTTP_NONE = 0, HTTP_REQUEST = 1, HTTP_RESPONSE = 2 };

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, RW_HTTP_SLOTS);
  __type(key, __u32);
  __type(value, struct rw_http_slot);
} rw_http_slots SEC(".maps");

/* Per-CPU gather buffer: twice the capture size so `offset (< 1024) + length (<= 1024)` is
 * provably in bounds for the verifier. A preempted program on the same CPU could interleave
 * bytes here; that corrupts captured payload, never memory, and is rare enough to accept. */
struct http_scratch {
  char buf[2 * RW_HTTP_MAX];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct http_scratch);
} rw_http_scratch SEC(".maps");

/* Per-CPU builder of compact rw_http records (header, request bytes, response bytes). Room for
 * 3 KiB of data: the response starts at req_len (<= 1024) and the iovec gather writes at
 * `offset (< 1024) + length (<= 1024)` past it, which the verifier must see in bounds. */
struct http_out {
  char buf[sizeof(struct rw_http) + 3 * RW_HTTP_MAX];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct http_out);
} rw_http_out SEC(".maps");

struct rw_iovec {
  __u64 base;
  __u64 len;
};

#define RW_W4(a, b, c, d) \
  ((__u32)(a) | ((__u32)(b) << 8) | ((__u32)(c) << 16) | ((__u32)(d) << 24))

static __always_inline int http__classify(const char p[8]) {
  __u32 w = (__u32)(__u8)p[0] | ((__u32)(__u8)p[1] << 8) | ((__u32)(__u8)p[2] << 16) |
            ((__u32)(__u8)p[3] << 24);
  if (w == RW_W4('H', 'T', 'T', 'P')) return p[4] == '/' ? HTTP_RESPONSE : HTTP_NONE;
  if (w == RW_W4('G', 'E', 'T', ' ') || w == RW_W4('P', 'O', 'S', 'T') ||
      w == RW_W4('P', 'U', 'T', ' ') || w == RW_W4('H', 'E', 'A', 'D') ||
      (w == RW_W4('D', 'E', 'L', 'E') && p[4] == 'T') ||
      (w == RW_W4('P', 'A', 'T', 'C') && p[4] == 'H') ||
      (w == RW_W4('O', 'P', 'T', 'I') && p[4] == 'O'))
    return HTTP_REQUEST;
  return HTTP_NONE;
}

static __always_inline __u32 http__slot_index(__u64 key, __u32 tgid) {
  __u64 h = (key >> 6) ^ (key >> 21) ^ ((__u64)tgid * 2654435761ULL);
  return (__u32)(h ^ (h >> 32)) & (RW_HTTP_SLOTS - 1);
}

/* Copies up to RW_HTTP_MAX of the `total` bytes moved, from a plain buffer or an iovec array,
 * into scratch. Returns the bytes copied. */
static __always_inline __u32 http__gather(char *dst, __u64 buf, const struct rw_iovec *iov,
                                          __u32 iovcnt, __u64 total) {
  __u64 off = 0;
  if (!iov) {
    __u64 n = total > RW_HTTP_MAX ? RW_HTTP_MAX : total;
    if (n == 0) return 0;
    n = ((n - 1) & (RW_HTTP_MAX - 1)) + 1;
    return bpf_probe_read_user(dst, n, (const void *)buf) == 0 ? n : 0;
  }
  for (int i = 0; i < RW_HTTP_MAX_IOV; i++) {
    if (i >= iovcnt || off >= RW_HTTP_MAX || off >= total) break;
    struct rw_iovec v;
    if (bpf_probe_read_user(&v, sizeof(v), &iov[i]) != 0) break;
    __u64 n = v.len;
    if (n > total - off) n = total - off;
    if (n > RW_HTTP_MAX - off) n = RW_HTTP_MAX - off;
    if (n == 0) continue;
    n = ((n - 1) & (RW_HTTP_MAX - 1)) + 1;
    if (bpf_probe_read_user(dst + (off & (RW_HTTP_MAX - 1)), n, (const void *)v.base) != 0) break;
    off += n;
  }
  return off;
}

static __always_inline __u32 http__clamp(__u32 len) { return len > RW_HTTP_MAX ? RW_HTTP_MAX : len; }

/* Emits a parked request that got no response (evicted); the caller owns the slot (BUSY). */
static __always_inline void http__emit_unanswered(struct rw_http_slot *slot, __u32 end) {
  __u32 zero = 0;
  struct http_out *out = bpf_map_lookup_elem(&rw_http_out, &zero);
  if (!out) return;
  struct rw_http *rec = (struct rw_http *)out->buf;
  rec->env = slot->env;
  rec->conn = slot->conn;
  rec->resp_size = 0;
  rec->latency_ns = 0;
  rec->resp_len = 0;
  rec->end = end;
  __u32 len = http__clamp(slot->conn.req_len);
  rec->conn.req_len = len;
  if (len > 0) bpf_probe_read_kernel(rec->data, len, slot->req);
  ringbuf__output(rec, sizeof(*rec) + len, RW_KIND_HTTP);
}

static __always_inline int http__begin(__u64 key, struct sock *sk, __u8 role, __u8 tls,
                                       __u64 buf, const struct rw_iovec *iov, __u32 iovcnt,
                                       __u64 size) {
  struct rw_http_conn conn = {};
  /* (The client end of a loopback connection never gets here: http.bpf.c skips it, and the
   * server end reports the exchange.) */
  if (sk) sock__addrs(sk, &conn.family, conn.laddr, conn.raddr, &conn.lport, &conn.rport);
  __u32 zero = 0;
  struct http_scratch *scratch = bpf_map_lookup_elem(&rw_http_scratch, &zero);
  if (!scratch) return 0;
  /* One envelope fill serves the filter and the slot (filter__current would read comm, pid
   * and uid with helpers a second time). On the stack, not in the per-CPU scratch: a program
   * preempted on this CPU must never hand its slot another task's identity. */
  struct rw_envelope env;
  envelope__fill(&env, RW_KIND_HTTP);
  env.priv_lost_seq = lost_seq__read();
  if (!filter__envelope(&env, RW_KIND_HTTP)) return 0;
  conn.req_len = http__gather(scratch->buf, buf, iov, iovcnt, size);
  conn.req_size = size;
  conn.role = role;
  conn.tls = tls;

  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  __u32 idx = http__slot_index(key, tgid);
  struct rw_http_slot *slot = bpf_map_lookup_elem(&rw_http_slots, &idx);
  if (!slot) return 0;
  __u64 state = slot->state;
  if (state == RW_SLOT_LIVE) {
    if (__sync_val_compare_and_swap(&slot->state, RW_SLOT_LIVE, RW_SLOT_BUSY) != RW_SLOT_LIVE) {
      counters__inc(RW_KIND_HTTP, RW_CNT_SLOT_BUSY);
      return 0;
    }
    counters__inc(RW_KIND_HTTP, RW_CNT_EVICTED);
    http__emit_unanswered(slot, RW_HTTP_EVICTED);
  } else if (state != RW_SLOT_FREE ||
             __sync_val_compare_and_swap(&slot->state, RW_SLOT_FREE, RW_SLOT_BUSY) !=
                 RW_SLOT_FREE) {
    counters__inc(RW_KIND_HTTP, RW_CNT_SLOT_BUSY);
    return 0;
  }
  slot->key_sock = key;
  slot->key_tgid = tgid;
  slot->env = env;
  conn.start_ns = slot->env.mono_ns;
  slot->conn = conn;
  __u32 len = conn.req_len;
  if (len > 0) {
    len = ((len - 1) & (RW_HTTP_MAX - 1)) + 1;
    bpf_probe_read_kernel(slot->req, len, scratch->buf);
  }
  __sync_val_compare_and_swap(&slot->state, RW_SLOT_BUSY, RW_SLOT_LIVE);
  return 0;
}

static __always_inline int http__complete(__u64 key, __u64 buf, const struct rw_iovec *iov,
                                          __u32 iovcnt, __u64 size) {
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  __u32 idx = http__slot_index(key, tgid);
  struct rw_http_slot *slot = bpf_map_lookup_elem(&rw_http_slots, &idx);
  if (!slot) return 0;
  /* Unlocked pre-check: most responses without a parked request end here, cheaply. */
  if (slot->state != RW_SLOT_LIVE || slot->key_sock != key || slot->key_tgid != tgid) return 0;
  __u32 zero = 0;
  struct http_out *out = bpf_map_lookup_elem(&rw_http_out, &zero);
  if (!out) return 0;
  if (__sync_val_compare_and_swap(&slot->state, RW_SLOT_LIVE, RW_SLOT_BUSY) != RW_SLOT_LIVE)
    return 0; /* completed or swept concurrently */
  if (slot->key_sock != key || slot->key_tgid != tgid) {
    __sync_val_compare_and_swap(&slot->state, RW_SLOT_BUSY, RW_SLOT_LIVE);
    return 0;
  }
  /* The slot is ours: build the record (request from the slot, response straight from the
   * caller's buffer behind it), free the slot, then copy the record into the ring. */
  struct rw_http *rec = (struct rw_http *)out->buf;
  /* Same process as the request (the key includes the tgid): its envelope, re-stamped,
   * instead of a second envelope__fill. */
  rec->env = slot->env;
  rec->env.mono_ns = bpf_ktime_get_ns();
  rec->env.tid = (__u32)bpf_get_current_pid_tgid();
  rec->env.thread_start_ns = bpf_get_current_task_btf()->start_time;
  rec->conn = slot->conn;
  rec->resp_size = size;
  rec->latency_ns = rec->env.mono_ns - slot->conn.start_ns;
  rec->end = RW_HTTP_COMPLETE;
  __u32 req_len = http__clamp(slot->conn.req_len);
  rec->conn.req_len = req_len;
  if (req_len > 0) bpf_probe_read_kernel(rec->data, req_len, slot->req);
  __sync_val_compare_and_swap(&slot->state, RW_SLOT_BUSY, RW_SLOT_FREE);
  __u32 resp_len = http__gather(rec->data + req_len, buf, iov, iovcnt, size);
  resp_len = http__clamp(resp_len);
  rec->resp_len = resp_len;
  ringbuf__output(rec, sizeof(*rec) + req_len + resp_len, RW_KIND_HTTP);
  return 0;
}

/* Entry point for both directions: `what` is http__classify() of the first bytes moved. */
static __always_inline int http__data(int dir, int what, __u64 key, struct sock *sk,
                                      __u8 tls, __u64 buf, const struct rw_iovec *iov,
                                      __u32 iovcnt, __u64 size) {
  if (what == HTTP_NONE) return 0;
  if (what == HTTP_REQUEST) {
    __u8 role = dir == RW_DIR_IN ? RW_ROLE_SERVER : RW_ROLE_CLIENT;
    return http__begin(key, sk, role, tls, buf, iov, iovcnt, size);
  }
  return http__complete(key, buf, iov, iovcnt, size);
}
