// TCP connect and accept over IPv4/IPv6: addresses, ports, result. In both records `saddr` is
// the side that initiated the connection (connect: local; accept: the peer). Non-INET sockets
// (AF_UNIX, netlink) and non-stream sockets are skipped in-kernel; EAGAIN from a non-blocking
// accept is not an event. Trust: kernel.
#include "common.bpf.h"

#define RW_EAGAIN 11

struct sockaddr_user {
  __u16 family;
  __u16 port; /* network order */
  union {
    __u8 v4[4];
    struct {
      __u32 flowinfo;
      __u8 v6[16];
    };
  };
};

/* -ERESTARTSYS .. -ERESTART_RESTARTBLOCK: a signal interrupted the call, which the kernel
 * restarts (or turns into EINTR) on the way out; the sys_exit tracepoint sees the internal code.
 * Not an outcome: the restarted call reports its own. */
static __always_inline bool net__restarted(long ret) { return ret <= -512 && ret >= -516; }

SEC("tracepoint/syscalls/sys_exit_connect")
int net_connect_exit(struct trace_event_raw_sys_exit *ctx) {
  if (net__restarted(ctx->ret)) return 0;
  struct pt_regs *regs = sysargs__regs();
  struct sockaddr_user sa = {};
  if (bpf_probe_read_user(&sa, sizeof(sa), (const void *)BPF_CORE_READ(regs, si)) != 0) {
    /* sockaddr_in is shorter than sockaddr_in6: retry with the v4 size at the end of a page. */
    if (bpf_probe_read_user(&sa, 8, (const void *)BPF_CORE_READ(regs, si)) != 0) return 0;
  }
  if (sa.family != RW_AF_INET && sa.family != RW_AF_INET6) return 0;
  struct sock *sk = sock__tcp_from_fd(BPF_CORE_READ(regs, di));
  if (!sk) return 0;
  if (!filter__current(RW_KIND_CONNECT)) return 0;
  struct rw_net *rec = ringbuf__reserve(sizeof(*rec), RW_KIND_CONNECT);
  if (!rec) return 0;
  envelope__fill(&rec->env, RW_KIND_CONNECT);
  rec->result = ctx->ret;
  rec->family = sa.family;
  rec->dport = bpf_ntohs(sa.port);
  rec->pad = 0;
  __builtin_memset(rec->saddr, 0, sizeof(rec->saddr));
  __builtin_memset(rec->daddr, 0, sizeof(rec->daddr));
  if (sa.family == RW_AF_INET) {
    __builtin_memcpy(rec->daddr, sa.v4, 4);
    bpf_core_read(rec->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
  } else {
    __builtin_memcpy(rec->daddr, sa.v6, 16);
    bpf_core_read(rec->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
  }
  rec->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
  ringbuf__submit(rec, RW_KIND_CONNECT);
  return 0;
}

static __always_inline int net__accept(long ret) {
  if (ret == -RW_EAGAIN || net__restarted(ret)) return 0;
  struct sock *sk = NULL;
  if (ret >= 0) {
    sk = sock__tcp_from_fd(ret);
    if (!sk) return 0;
  } else {
    /* A failed accept on a non-TCP listener is not ours to report. */
    struct pt_regs *regs = sysargs__regs();
    if (!sock__tcp_from_fd(BPF_CORE_READ(regs, di))) return 0;
  }
  if (!filter__current(RW_KIND_ACCEPT)) return 0;
  struct rw_net *rec = ringbuf__reserve(sizeof(*rec), RW_KIND_ACCEPT);
  if (!rec) return 0;
  envelope__fill(&rec->env, RW_KIND_ACCEPT);
  rec->result = ret;
  rec->pad = 0;
  __builtin_memset(rec->saddr, 0, sizeof(rec->saddr));
  __builtin_memset(rec->daddr, 0, sizeof(rec->daddr));
  rec->family = 0;
  rec->sport = rec->dport = 0;
  if (sk) {
    __u16 family = 0, lport = 0, rport = 0;
    sock__addrs(sk, &family, rec->daddr, rec->saddr, &lport, &rport);
    rec->family = family;
    rec->sport = rport;
    rec->dport = lport;
  }
  ringbuf__submit(rec, RW_KIND_ACCEPT);
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int net_accept_exit(struct trace_event_raw_sys_exit *ctx) { return net__accept(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_accept4")
int net_accept4_exit(struct trace_event_raw_sys_exit *ctx) { return net__accept(ctx->ret); }
