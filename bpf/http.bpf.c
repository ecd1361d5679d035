// Plaintext HTTP on TCP sockets from the kernel's socket data tracepoints (tp_btf
// sock_send_length / sock_recv_length, Linux 6.3+): they fire once per socket send or receive,
// whichever syscall carried it (read/write, send*/recv*, readv/writev), hand over the struct sock
// (no fd -> socket walk), and never run for file or pipe I/O. The user buffer comes from the
// syscall arguments in the saved user registers (orig_ax says which syscall); paths without a
// user buffer we understand (io_uring, sendfile/splice, kernel sockets) are skipped. Cheap exits
// first: fewer than 8 bytes, not TCP, then an 8-byte prefix check. Being tp_btf, these hooks also
// keep HTTP off the syscall tracepoints. Trust: kernel.
#include "http.bpf.h"

#define RW_MSG_PEEK 2
#define RW_PF_KTHREAD 0x00200000
#define RW_IPPROTO_TCP 6

/* x86-64 syscall numbers whose user buffer we know how to find. The same numbers in an ia32
 * task (restart_syscall, exit, lseek, getpid, brk, setgid, getgid, ...) never send or receive
 * on a socket, so a compat task cannot be misread; x32 numbers have bit 30 set and never match. */
#define RW_NR_READ 0
#define RW_NR_WRITE 1
#define RW_NR_READV 19
#define RW_NR_WRITEV 20
#define RW_NR_SENDTO 44
#define RW_NR_RECVFROM 45
#define RW_NR_SENDMSG 46
#define RW_NR_RECVMSG 47

struct msghdr_user {
  __u64 name;
  __u32 namelen;
  __u32 pad;
  __u64 iov;
  __u64 iovlen;
};

/* Pending-request key of a TCP connection. A BTF pointer cannot be used as a number, so the key
 * is the connection's identity instead: the kernel's 4-tuple hash (skc_hash, salted per boot)
 * and both ports; bit 63 keeps it apart from the SSL * keys of TLS (user addresses). Two live
 * connections of one process collide only with equal ports and an equal 31-bit hash. */
static __always_inline __u64 http__conn_key(struct sock *sk) {
  __u64 hash = sk->__sk_common.skc_hash & 0x7fffffff;
  __u64 ports = ((__u64)sk->__sk_common.skc_dport << 16) | sk->__sk_common.skc_num;
  return (1ULL << 63) | (hash << 32) | ports;
}

/* Sockets this program has decided to ignore: the client end of a loopback connection (its
 * server end reports every exchange). The value is the connection key at marking time, so a
 * socket disconnected and connected elsewhere is looked at again. Socket-local storage lives and
 * dies with its socket, so the map is bounded by the sockets that exist; a marked socket costs one
 * lookup per send/receive instead of the register walk, user-memory reads and slot probe below
 * (on loopback that is half of all the runs). */
struct {
  __uint(type, BPF_MAP_TYPE_SK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, __u64);
} rw_http_sk SEC(".maps");

static __always_inline bool http__peer_is_loopback(struct sock *sk, __u16 family) {
  if (family == RW_AF_INET) return (sk->__sk_common.skc_daddr & 0xff) == 127;
  __u32 a0 = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[0];
  __u32 a1 = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[1];
  __u32 a2 = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[2];
  __u32 a3 = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[3];
  if (a0 || a1) return false;
  if (a2 == bpf_htonl(0x0000ffff)) return (a3 & 0xff) == 127; /* v4-mapped 127.0.0.0/8 */
  return a2 == 0 && a3 == bpf_htonl(1);                        /* ::1 */
}

static __always_inline int http__sock(struct sock *sk, int ret, int flags, int dir) {
  if (ret < 8) return 0;
  if (dir == RW_DIR_IN && (flags & RW_MSG_PEEK)) return 0; /* the bytes will be read again */
  if (sk->sk_type != RW_SOCK_STREAM || sk->sk_protocol != RW_IPPROTO_TCP) return 0;
  __u16 family = sk->__sk_common.skc_family;
  if (family != RW_AF_INET && family != RW_AF_INET6) return 0;
  const __u64 key = http__conn_key(sk);
  __u64 *mark = bpf_sk_storage_get(&rw_http_sk, sk, 0, 0);
  if (mark && *mark == key) return 0;
  struct task_struct *task = bpf_get_current_task_btf();
  if (task->flags & RW_PF_KTHREAD) return 0; /* no user registers to read */
  struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
  __u64 nr = regs->orig_ax;
  __u64 buf = 0;
  const struct rw_iovec *iov = NULL;
  __u32 iovcnt = 0;
  if (nr == RW_NR_READ || nr == RW_NR_WRITE || nr == RW_NR_SENDTO || nr == RW_NR_RECVFROM) {
    buf = regs->si;
  } else if (nr == RW_NR_READV || nr == RW_NR_WRITEV) {
    iov = (const struct rw_iovec *)regs->si;
    iovcnt = regs->dx;
  } else if (nr == RW_NR_SENDMSG || nr == RW_NR_RECVMSG) {
    struct msghdr_user msg;
    if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)regs->si) != 0) return 0;
    iov = (const struct rw_iovec *)msg.iov;
    iovcnt = msg.iovlen;
  } else {
    return 0;
  }
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
  /* A request sent to a loopback peer: the client end, whose exchange the server end on this host
   * reports. Only a socket that has received nothing yet is remembered as a client for good (a
   * client's first request precedes any reply; a server socket always received first, so a
   * server whose output merely looks like a request is skipped for that message only). */
  if (what == HTTP_REQUEST && dir == RW_DIR_OUT && !rw_cfg.http_capture_client_loopback &&
      http__peer_is_loopback(sk, family)) {
    struct tcp_sock *tp = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
    if (tp->bytes_received == 0) {
      mark = bpf_sk_storage_get(&rw_http_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
      if (mark) *mark = key;
    }
    return 0;
  }
  return http__data(dir, what, key, sk, 0, buf, iov, iovcnt, ret);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(http_sock_send, struct sock *sk, int ret, int flags) {
  return http__sock(sk, ret, flags, RW_DIR_OUT);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(http_sock_recv, struct sock *sk, int ret, int flags) {
  return http__sock(sk, ret, flags, RW_DIR_IN);
}
