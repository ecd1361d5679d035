// TLS plaintext from libssl: SSL_write/SSL_read and SSL_write_ex/SSL_read_ex (OpenSSL 1.1.1+,
// what Python's ssl module calls) uprobes and uretprobes. A separate object so a
// missing or odd libssl never fails the main capture. The connection key is the SSL pointer
// (no socket is known here), so TLS records carry no addresses and both loopback ends report.
// Trust: kernel; plaintext bytes are attacker-controlled and only copied.
#include "http.bpf.h"

struct ssl_call {
  __u64 ssl;
  __u64 buf;
  __u64 moved; /* the _ex variants: size_t * that receives the byte count; 0 for the others */
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 8192);
  __type(key, __u64); /* pid_tgid: one SSL call in flight per thread */
  __type(value, struct ssl_call);
} tls_calls SEC(".maps");

static __always_inline int tls__enter(struct pt_regs *ctx, bool ex) {
  __u64 id = bpf_get_current_pid_tgid();
  struct ssl_call call = {.ssl = PT_REGS_PARM1(ctx), .buf = PT_REGS_PARM2(ctx),
                          .moved = ex ? PT_REGS_PARM4(ctx) : 0};
  bpf_map_update_elem(&tls_calls, &id, &call, BPF_ANY);
  return 0;
}

static __always_inline int tls__exit(struct pt_regs *ctx, int dir) {
  __u64 id = bpf_get_current_pid_tgid();
  struct ssl_call *call = bpf_map_lookup_elem(&tls_calls, &id);
  if (!call) return 0;
  struct ssl_call c = *call;
  bpf_map_delete_elem(&tls_calls, &id);
  /* SSL_read/SSL_write return int: -1 (WANT_READ on every non-blocking retry) leaves rax =
   * 0xffffffff, which read as a long is a 4 GiB "success" over a stale buffer. */
  int ret = (int)PT_REGS_RC(ctx);
  __u64 n = ret > 0 ? ret : 0;
  if (c.moved) { /* SSL_*_ex: 1 on success, the count in *moved */
    if (ret != 1 || bpf_probe_read_user(&n, sizeof(n), (const void *)c.moved) != 0) return 0;
  }
  if (n < 8) return 0;
  char first[8];
  if (bpf_probe_read_user(first, sizeof(first), (const void *)c.buf) != 0) return 0;
  return http__data(dir, http__classify(first), c.ssl, NULL, 1, c.buf, NULL, 0, n);
}

SEC("uprobe")
int BPF_KPROBE(tls_write_enter) { return tls__enter(ctx, false); }

SEC("uprobe")
int BPF_KPROBE(tls_write_ex_enter) { return tls__enter(ctx, true); }

SEC("uretprobe")
int BPF_KRETPROBE(tls_write_exit) { return tls__exit(ctx, RW_DIR_OUT); }

SEC("uprobe")
int BPF_KPROBE(tls_read_enter) { return tls__enter(ctx, false); }

SEC("uprobe")
int BPF_KPROBE(tls_read_ex_enter) { return tls__enter(ctx, true); }

SEC("uretprobe")
int BPF_KRETPROBE(tls_read_exit) { return tls__exit(ctx, RW_DIR_IN); }
