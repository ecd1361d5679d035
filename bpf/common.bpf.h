// Helpers shared by every ringward BPF concern, grouped by layer: config__ (read-only knobs),
// counters__ (per-CPU accounting in .bss), filter__ (in-kernel include/exclude), envelope__
// (process context), ringbuf__ (reservation with loss accounting), sock__ (fd -> struct sock).
// Maps defined here exist once per object; the loader makes every object share the first
// object's ring buffer and filter maps (bpf_map__reuse_fd). Trust: kernel.
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "events.h"

char LICENSE[] SEC("license") = "GPL";

#define RW_AF_INET 2
#define RW_AF_INET6 10
#define RW_SOCK_STREAM 1
#define RW_S_IFMT 00170000
#define RW_S_IFSOCK 0140000

/* ---- maps shared by all objects -------------------------------------------------------------- */

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 << 20); /* resized by the loader from options */
} rw_events SEC(".maps");

struct rw_comm_key {
  char comm[RW_COMM_LEN];
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64); /* filled once by the loader, never grows */
  __type(key, struct rw_comm_key);
  __type(value, __u8);
} rw_comm_include SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, struct rw_comm_key);
  __type(value, __u8);
} rw_comm_exclude SEC(".maps");

/* Count of privilege-change records lost (see rw_envelope.priv_lost_seq). Mapped by the consumer,
 * which reads it after giving up the bpf() syscall. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} rw_lost_seq SEC(".maps");

/* The configured cgroup subtrees (a cgroup directory fd per slot, set by the loader): matched
 * with bpf_current_task_under_cgroup, which compares cgroups themselves, so a cgroup namespace
 * around capture changes nothing. */
struct {
  __uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
  __uint(max_entries, 2 * RW_FILTER_MAX);
  __type(key, __u32);
  __type(value, __u32);
} rw_cgroups SEC(".maps");

/* ---- config ---------------------------------------------------------------------------------- */

const volatile struct rw_config rw_cfg = {};

/* ---- counters -------------------------------------------------------------------------------- */

/* [cpu][kind][counter]; each CPU writes only its own row, so plain adds would do, but programs of
 * one CPU can nest (uprobe inside a tracepoint is impossible, softirq is not), so stay atomic. */
__u64 rw_counters[RW_MAX_CPUS][RW_KIND_COUNT][RW_CNT_COUNT] = {};

static __always_inline void counters__inc(__u32 kind, __u32 counter) {
  __u32 cpu = bpf_get_smp_processor_id() & (RW_MAX_CPUS - 1);
  if (kind >= RW_KIND_COUNT || counter >= RW_CNT_COUNT) return;
  __sync_fetch_and_add(&rw_counters[cpu][kind][counter], 1);
}

/* ---- filter ---------------------------------------------------------------------------------- */

/* The agent's own processes: listed tgids, or a child of the supervisor named with the agent's
 * prefix. A name alone proves nothing (anyone can prctl(PR_SET_NAME, "ringward-x") and would
 * vanish from capture); a parent cannot be chosen. Cheapest check, done first. */
static __always_inline bool filter__is_own(__u32 tgid, __u32 ppid, const char *comm) {
  for (int i = 0; i < RW_FILTER_MAX; i++) {
    if (i >= rw_cfg.n_own_pids) break;
    if (rw_cfg.own_pids[i] == tgid) return true;
  }
  if (rw_cfg.own_parent == 0 || ppid != rw_cfg.own_parent) return false;
  __u32 n = rw_cfg.own_prefix_len;
  if (n == 0) return false;
  for (int i = 0; i < RW_COMM_LEN; i++) {
    if (i >= n) return true;
    if (comm[i] != rw_cfg.own_prefix[i]) return false;
  }
  return true;
}

/* The filters by who: the agent itself, and uids. */
static __always_inline bool filter__pass_identity(__u32 tgid, __u32 ppid, __u32 uid, const char *comm) {
  if (filter__is_own(tgid, ppid, comm)) return false;
  for (int i = 0; i < RW_FILTER_MAX; i++) {
    if (i >= rw_cfg.n_excl_uids) break;
    if (rw_cfg.excl_uids[i] == uid) return false;
  }
  if (rw_cfg.n_incl_uids) {
    bool listed = false;
    for (int i = 0; i < RW_FILTER_MAX; i++) {
      if (i >= rw_cfg.n_incl_uids) break;
      if (rw_cfg.incl_uids[i] == uid) listed = true;
    }
    if (!listed) return false;
  }
  return true;
}

/* All configured filters. `comm` must be the current task's comm, `ppid` its parent's tgid. */
static __always_inline bool filter__pass(__u32 tgid, __u32 ppid, __u32 uid, const char *comm) {
  if (!filter__pass_identity(tgid, ppid, uid, comm)) return false;
  for (int i = 0; i < RW_FILTER_MAX; i++) {
    if (i >= rw_cfg.n_excl_cgroups) break;
    if (bpf_current_task_under_cgroup(&rw_cgroups, RW_FILTER_MAX + i) == 1) return false;
  }
  if (rw_cfg.n_incl_cgroups) {
    bool under = false;
    for (int i = 0; i < RW_FILTER_MAX; i++) {
      if (i >= rw_cfg.n_incl_cgroups) break;
      if (bpf_current_task_under_cgroup(&rw_cgroups, i) == 1) under = true;
    }
    if (!under) return false;
  }
  if (rw_cfg.n_incl_comms || rw_cfg.n_excl_comms) {
    struct rw_comm_key key = {};
    __builtin_memcpy(key.comm, comm, RW_COMM_LEN);
    if (rw_cfg.n_incl_comms && !bpf_map_lookup_elem(&rw_comm_include, &key)) return false;
    if (rw_cfg.n_excl_comms && bpf_map_lookup_elem(&rw_comm_exclude, &key)) return false;
  }
  return true;
}

/* A task's comm by two 8-byte loads through its BTF pointer instead of a helper call (the
 * verifier accepts loads inside a char array member). The kernel keeps comm NUL-padded
 * (__set_task_comm pads), so the bytes equal what bpf_get_current_comm returns; a concurrent
 * rename can tear either copy alike. */
static __always_inline void task__comm(char dst[RW_COMM_LEN], struct task_struct *task) {
  const __u64 *src = (const __u64 *)task->comm;
  __u64 *out = (__u64 *)dst;
  out[0] = src[0];
  out[1] = src[1];
}

/* Filters the current task; counts a filtered event against `kind`. `identity_only`: only the
 * filters by who (the agent, uids), not by name or cgroup, for a privilege change that changes
 * a uid: the events before and after it can pass filters it fails (exec renames a process), and
 * a reader of the stream must not see a thread's uid change without the change itself. */
static __always_inline bool filter__current_as(__u32 kind, bool identity_only) {
  struct task_struct *task = bpf_get_current_task_btf();
  struct task_struct *parent = task->real_parent;
  char comm[RW_COMM_LEN];
  task__comm(comm, task);
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  __u32 ppid = parent ? parent->tgid : 0;
  __u32 uid = (__u32)bpf_get_current_uid_gid();
  if (identity_only ? filter__pass_identity(tgid, ppid, uid, comm) : filter__pass(tgid, ppid, uid, comm))
    return true;
  counters__inc(kind, RW_CNT_FILTERED);
  return false;
}

static __always_inline bool filter__current(__u32 kind) { return filter__current_as(kind, false); }

/* Filters on an envelope already filled for the current task (no second read of its identity);
 * counts a filtered event against `kind`. */
static __always_inline bool filter__envelope(const struct rw_envelope *e, __u32 kind) {
  if (filter__pass(e->pid, e->ppid, e->uid, e->comm)) return true;
  counters__inc(kind, RW_CNT_FILTERED);
  return false;
}

/* The lost-privilege count, read before a record takes its ring slot: every record from before
 * a loss then sits earlier in the ring than any record that carries it. */
static __always_inline __u32 lost_seq__read(void) {
  __u32 zero = 0;
  __u64 *lost = bpf_map_lookup_elem(&rw_lost_seq, &zero);
  return lost ? (__u32)*lost : 0;
}

/* ---- envelope -------------------------------------------------------------------------------- */

/* Runs once per event: task fields, both comms included, are direct BTF loads (no helper call
 * each). Leaves priv_lost_seq alone: ringbuf__reserve sets it, a record built elsewhere sets it
 * before ringbuf__output. */
static __always_inline void envelope__fill(struct rw_envelope *e, __u16 kind) {
  struct task_struct *task = bpf_get_current_task_btf();
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u64 uid_gid = bpf_get_current_uid_gid();
  struct task_struct *parent = task->real_parent;
  e->mono_ns = bpf_ktime_get_ns();
  e->cgroup_id = bpf_get_current_cgroup_id();
  e->thread_start_ns = task->start_time;
  e->pid = pid_tgid >> 32;
  e->tid = (__u32)pid_tgid;
  e->ppid = parent ? parent->tgid : 0;
  e->uid = (__u32)uid_gid;
  e->gid = uid_gid >> 32;
  /* task->cred is __rcu: kernels whose BTF carries the rcu type tag hand out a maybe-NULL
   * pointer the verifier wants checked (never NULL in practice; if it were, the real uid stands
   * in, not 0, which would read as root). */
  const struct cred *cred = task->cred;
  e->euid = cred ? cred->euid.val : e->uid;
  e->kind = kind;
  e->version = RW_LAYOUT_VERSION;
  task__comm(e->comm, task);
  if (parent)
    task__comm(e->pcomm, parent);
  else
    __builtin_memset(e->pcomm, 0, sizeof(e->pcomm));
}

/* ---- ring buffer ----------------------------------------------------------------------------- */

/* A privilege-change record was lost: every record from now on carries the new count, so the
 * consumer reports the loss before the first record that follows it. */
static __always_inline void lost_seq__bump(void) {
  __u32 zero = 0;
  __u64 *lost = bpf_map_lookup_elem(&rw_lost_seq, &zero);
  if (lost) __sync_fetch_and_add(lost, 1);
}

/* Reserve or count the loss. No wake-up on submit: the consumer polls on a short interval, which
 * costs it far less than a wake-up per event (MACHINE.md: ~30 % of a core vs < 2 %). */
static __always_inline void *ringbuf__reserve(__u64 size, __u32 kind) {
  __u32 seq = lost_seq__read();
  struct rw_envelope *rec = bpf_ringbuf_reserve(&rw_events, size, 0);
  if (!rec) {
    counters__inc(kind, RW_CNT_RINGBUF_FULL);
    if (kind == RW_KIND_PRIV) lost_seq__bump();
    return NULL;
  }
  rec->priv_lost_seq = seq; /* every reserved record starts with its envelope */
  return rec;
}

static __always_inline void ringbuf__submit(void *rec, __u32 kind) {
  bpf_ringbuf_submit(rec, BPF_RB_NO_WAKEUP);
  counters__inc(kind, RW_CNT_EMITTED);
}

/* Variable-size record built elsewhere (a per-CPU buffer): one copy into the ring, and only the
 * meaningful bytes take ring space. Counts like reserve + submit. */
static __always_inline void ringbuf__output(void *rec, __u64 size, __u32 kind) {
  if (bpf_ringbuf_output(&rw_events, rec, size, BPF_RB_NO_WAKEUP) != 0) {
    counters__inc(kind, RW_CNT_RINGBUF_FULL);
    return;
  }
  counters__inc(kind, RW_CNT_EMITTED);
}

/* ---- syscall arguments at sys_exit ----------------------------------------------------------- */

/* At a sys_exit tracepoint the user registers saved at entry are intact (only ax holds the
 * result), so one exit hook sees both arguments and result: no enter hook, no per-call map
 * update. x86-64 syscall ABI: di, si, dx, r10, r8, r9. */
static __always_inline struct pt_regs *sysargs__regs(void) {
  struct task_struct *task = bpf_get_current_task_btf();
  return (struct pt_regs *)bpf_task_pt_regs(task);
}

/* ---- sockets --------------------------------------------------------------------------------- */

/* Reinterprets a kernel address as a typed BTF pointer so the fields below are read with direct
 * (fault-tolerant) loads instead of one bpf_probe_read_kernel call each. The verifier inlines it
 * as a plain move (Linux 6.2+). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* fd of the current task -> struct sock of a TCP (INET/INET6 stream) socket, or NULL (connect
 * and accept; HTTP gets the sock from its tracepoint). It avoids helper calls: the chain
 * task->files->fdt is read with direct BTF loads, the one variable-index read (fd[fd]) with a
 * helper, then file/socket/sock with direct loads again. ~9 helper reads (~230 ns here) became
 * one read and a handful of loads. A racing close() at worst yields a stale pointer whose
 * direct loads read zeros or stale fields (they never fault), so the result is only a wrong
 * "not a socket". */
static __always_inline struct sock *sock__tcp_from_fd(__u64 fd) {
  struct task_struct *task = bpf_get_current_task_btf();
  struct files_struct *files = task->files;
  if (!files) return NULL;
  struct fdtable *fdt = files->fdt;
  if (!fdt) return NULL;
  if (fd >= fdt->max_fds) return NULL;
  struct file *fptr = NULL;
  if (bpf_probe_read_kernel(&fptr, sizeof(fptr), &fdt->fd[fd]) != 0 || !fptr) return NULL;
  struct file *file = bpf_rdonly_cast(fptr, bpf_core_type_id_kernel(struct file));
  struct inode *inode = file->f_inode;
  if (!inode || (inode->i_mode & RW_S_IFMT) != RW_S_IFSOCK) return NULL;
  struct socket *socket = bpf_rdonly_cast(file->private_data, bpf_core_type_id_kernel(struct socket));
  if (!socket || socket->type != RW_SOCK_STREAM) return NULL;
  struct sock *sk = socket->sk;
  if (!sk) return NULL;
  __u16 family = sk->__sk_common.skc_family;
  if (family != RW_AF_INET && family != RW_AF_INET6) return NULL;
  return sk;
}

/* Local and remote address of a connected INET socket; ports in host order. `sk` must be a BTF
 * pointer (from sock__tcp_from_fd): the fields are direct loads. */
static __always_inline void sock__addrs(struct sock *sk, __u16 *family, __u8 laddr[16],
                                        __u8 raddr[16], __u16 *lport, __u16 *rport) {
  __u16 fam = sk->__sk_common.skc_family;
  *family = fam;
  *lport = sk->__sk_common.skc_num;
  *rport = bpf_ntohs(sk->__sk_common.skc_dport);
  __u32 *l = (__u32 *)laddr, *r = (__u32 *)raddr;
  if (fam == RW_AF_INET) {
    l[0] = sk->__sk_common.skc_rcv_saddr;
    r[0] = sk->__sk_common.skc_daddr;
  } else {
    for (int i = 0; i < 4; i++) {
      l[i] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[i];
      r[i] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[i];
    }
  }
}
