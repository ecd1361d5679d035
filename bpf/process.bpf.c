// Process lifecycle: exec (filename, bounded argv, cwd) and exit (wait-style status).
// BTF tracepoints: they need no tracefs and hand us the task and linux_binprm directly.
// Trust: kernel.
#include "common.bpf.h"

#define RW_CWD_COMPONENTS 8
#define RW_CWD_COMPONENT_LEN (RW_PATH_MAX / RW_CWD_COMPONENTS)

/* Fills cwd with up to 8 path components, leaf first, each NUL-terminated in a 64-byte cell.
 * Returns the number of components, or RW_CWD_COMPONENTS + 1 when the path was deeper (user
 * space then marks it truncated). Crosses mount points like d_path does. */
static __always_inline __u32 cwd__components(struct task_struct *task, char *cwd) {
  struct path pwd = BPF_CORE_READ(task, fs, pwd);
  struct dentry *dentry = pwd.dentry;
  struct vfsmount *vfsmnt = pwd.mnt;
  struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
  __u32 n = 0;
  for (int i = 0; i < RW_CWD_COMPONENTS * 2; i++) {
    struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
    struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
    if (dentry == mnt_root) {
      struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
      if (mnt_parent == mnt) return n; /* global root */
      dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
      mnt = mnt_parent;
      vfsmnt = &mnt->mnt;
      continue;
    }
    if (dentry == parent) return n;
    if (n >= RW_CWD_COMPONENTS) return RW_CWD_COMPONENTS + 1;
    const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
    bpf_probe_read_kernel_str(cwd + (n & (RW_CWD_COMPONENTS - 1)) * RW_CWD_COMPONENT_LEN,
                              RW_CWD_COMPONENT_LEN, name);
    n++;
    dentry = parent;
  }
  return RW_CWD_COMPONENTS + 1;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(process_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm) {
  if (!filter__current(RW_KIND_EXEC)) return 0;
  struct rw_exec *rec = ringbuf__reserve(sizeof(*rec), RW_KIND_EXEC);
  if (!rec) return 0;
  envelope__fill(&rec->env, RW_KIND_EXEC);

  const char *filename = BPF_CORE_READ(bprm, filename);
  long n = bpf_probe_read_kernel_str(rec->filename, sizeof(rec->filename), filename);
  rec->filename_len = n > 0 ? n - 1 : 0;

  unsigned long arg_start = BPF_CORE_READ(task, mm, arg_start);
  unsigned long arg_end = BPF_CORE_READ(task, mm, arg_end);
  __u64 total = arg_end > arg_start ? arg_end - arg_start : 0;
  __u64 cap = rw_cfg.max_argv_bytes;
  if (cap > RW_ARGV_MAX) cap = RW_ARGV_MAX;
  __u64 len = total > cap ? cap : total;
  rec->argv_total = total;
  rec->argv_len = 0;
  if (len > 0) {
    len = ((len - 1) & (RW_ARGV_MAX - 1)) + 1; /* unsigned clamp the verifier can follow */
    if (bpf_probe_read_user(rec->argv, len, (const void *)arg_start) == 0) rec->argv_len = len;
  }
  rec->cwd_len = cwd__components(task, rec->cwd);
  ringbuf__submit(rec, RW_KIND_EXEC);
  return 0;
}

/* One event per process, when it ends: not "the leader exits" (a leader may pthread_exit() while
 * other threads run on, and an exec from another thread kills the old leader in de_thread while
 * the process lives on). The event names the process (its leader's comm), not the thread that
 * happened to end last ("GC Thread#0"), and the filters judge that name. */
static __always_inline int process__exit(struct task_struct *task) {
  /* Judged before a reservation: a record reserved and then discarded holds ring space until
   * the consumer passes it, and when the ring is full, a filtered exit must count as filtered,
   * not as lost. */
  struct task_struct *leader = task->group_leader;
  struct task_struct *parent = task->real_parent;
  char comm[RW_COMM_LEN];
  task__comm(comm, leader ? leader : task);
  if (!filter__pass(task->tgid, parent ? parent->tgid : 0, (__u32)bpf_get_current_uid_gid(), comm)) {
    counters__inc(RW_KIND_EXIT, RW_CNT_FILTERED);
    return 0;
  }
  struct rw_exit *rec = ringbuf__reserve(sizeof(*rec), RW_KIND_EXIT);
  if (!rec) return 0;
  envelope__fill(&rec->env, RW_KIND_EXIT);
  __builtin_memcpy(rec->env.comm, comm, RW_COMM_LEN);
  /* do_exit stores the wait()-style status in exit_code before this tracepoint; for a group
   * exit signal->group_exit_code holds the authoritative value. */
  int code = BPF_CORE_READ(task, exit_code);
  unsigned int flags = BPF_CORE_READ(task, signal, flags);
  if (flags & 0x00000004 /* SIGNAL_GROUP_EXIT */) code = BPF_CORE_READ(task, signal, group_exit_code);
  rec->exit_code = code;
  rec->pad = 0;
  ringbuf__submit(rec, RW_KIND_EXIT);
  return 0;
}

/* Linux 6.16+: the tracepoint says whether this thread ended the thread group, decided once,
 * under the kernel's own accounting. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *task, bool group_dead) {
  if (!group_dead) return 0;
  return process__exit(task);
}

/* Older kernels (the loader picks one of the two by the tracepoint's BTF): the last thread off
 * signal->live. do_exit decrements it a while before the tracepoint, so threads ending at the
 * same instant on two CPUs can both see 0 and report twice (rare; documented). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit_live, struct task_struct *task) {
  if (BPF_CORE_READ(task, signal, live.counter) != 0) return 0;
  return process__exit(task);
}
