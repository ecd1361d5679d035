// Plaintext HTTP on TCP sockets from the sys_exit tracepoints of the eight data syscalls. Exit
// hooks only: the result says how many bytes moved, the saved registers give fd and buffer, and
// the payload is still in the caller's memory. The cheap exits come first: result < 8, then an
// 8-byte prefix check; only a request pays for the fd -> socket walk (a response is matched to
// its parked request by (process, fd), which the request's walk already vetted). Trust: kernel.
#include "http.bpf.h"

static __always_inline int http__syscall(int dir, long ret, __u64 fd, __u64 buf,
                                         const struct rw_iovec *iov, __u32 iovcnt) {
  if (ret < 8) return 0;
  char first[8];
  __u64 peek = buf;
  if (iov) {
    struct rw_iovec v;
    if (bpf_probe_read_user(&v, sizeof(v), iov) != 0 || v.len < 8) return 0;
    peek = v.base;
  }
  if (bpf_probe_read_user(first, sizeof(first), (const void *)peek) != 0) return 0;
  int what = http__classify(first);
  if (what == HTTP_NONE) return 0;
  if (what == HTTP_RESPONSE) return http__complete(RW_HTTP_KEY_FD(fd), buf, iov, iovcnt, ret);
  struct sock *sk = sock__tcp_from_fd(fd);
  if (!sk) return 0;
  __u8 role = dir == RW_DIR_IN ? RW_ROLE_SERVER : RW_ROLE_CLIENT;
  return http__begin(RW_HTTP_KEY_FD(fd), sk, role, 0, buf, iov, iovcnt, ret);
}

static __always_inline int http__plain(struct trace_event_raw_sys_exit *ctx, int dir) {
  long ret = ctx->ret;
  if (ret < 8) return 0;
  struct pt_regs *regs = sysargs__regs();
  return http__syscall(dir, ret, regs->di, regs->si, NULL, 0);
}

static __always_inline int http__vector(struct trace_event_raw_sys_exit *ctx, int dir) {
  long ret = ctx->ret;
  if (ret < 8) return 0;
  struct pt_regs *regs = sysargs__regs();
  return http__syscall(dir, ret, regs->di, 0, (const struct rw_iovec *)regs->si, regs->dx);
}

struct msghdr_user {
  __u64 name;
  __u32 namelen;
  __u32 pad;
  __u64 iov;
  __u64 iovlen;
};

static __always_inline int http__msg(struct trace_event_raw_sys_exit *ctx, int dir) {
  long ret = ctx->ret;
  if (ret < 8) return 0;
  struct pt_regs *regs = sysargs__regs();
  struct msghdr_user msg;
  if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)regs->si) != 0) return 0;
  return http__syscall(dir, ret, regs->di, 0, (const struct rw_iovec *)msg.iov, msg.iovlen);
}

SEC("tracepoint/syscalls/sys_exit_read")
int http_read_exit(struct trace_event_raw_sys_exit *ctx) { return http__plain(ctx, RW_DIR_IN); }

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int http_recvfrom_exit(struct trace_event_raw_sys_exit *ctx) { return http__plain(ctx, RW_DIR_IN); }

SEC("tracepoint/syscalls/sys_exit_write")
int http_write_exit(struct trace_event_raw_sys_exit *ctx) { return http__plain(ctx, RW_DIR_OUT); }

SEC("tracepoint/syscalls/sys_exit_sendto")
int http_sendto_exit(struct trace_event_raw_sys_exit *ctx) { return http__plain(ctx, RW_DIR_OUT); }

SEC("tracepoint/syscalls/sys_exit_readv")
int http_readv_exit(struct trace_event_raw_sys_exit *ctx) { return http__vector(ctx, RW_DIR_IN); }

SEC("tracepoint/syscalls/sys_exit_writev")
int http_writev_exit(struct trace_event_raw_sys_exit *ctx) { return http__vector(ctx, RW_DIR_OUT); }

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int http_recvmsg_exit(struct trace_event_raw_sys_exit *ctx) { return http__msg(ctx, RW_DIR_IN); }

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int http_sendmsg_exit(struct trace_event_raw_sys_exit *ctx) { return http__msg(ctx, RW_DIR_OUT); }
