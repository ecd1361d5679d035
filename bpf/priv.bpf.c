// Privilege changes: set*id and capset (old and new ids and effective caps, result), and an exec
// that changed the effective ids or caps (set-uid/set-gid binaries, file caps). set*id and capset
// save the old creds at syscall entry in the calling thread's own task storage: one slot per
// thread, freed with the thread, so no number of threads parked inside these syscalls can crowd
// out another thread's change (a shared table could be filled on purpose). Only when the kernel
// cannot give the slot (out of memory, or the storage busy on this CPU) is the change lost, and
// then counted (RW_CNT_UNTRACKED, and the lost-privilege sequence every later record carries).
// An exec is judged at sched_prepare_exec (Linux 6.10+), where the old creds are the task's and
// the new ones are final in bprm: no saved state at all. Older kernels fall back to saving the
// creds at execve entry in an LRU map (failed execs leave entries behind, so it must evict).
// Trust: kernel.
#include "common.bpf.h"

struct priv_saved {
  struct rw_creds creds;
  __u32 armed;   /* set at syscall entry, cleared at its exit */
  __u32 syscall; /* the call that saved them: an entry seen while the hooks were being attached,
                  * whose exit was not, must not stand in for another call's */
};

struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct priv_saved);
} priv_pending SEC(".maps");

/* Kernels before 6.10 only (the loader shrinks it to one entry when sched_prepare_exec exists). */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32); /* tgid: after exec the thread becomes the group leader */
  __type(value, struct rw_creds);
} priv_exec_pending SEC(".maps");

static __always_inline void priv__creds_of(const struct cred *cred, struct rw_creds *c) {
  c->uid = BPF_CORE_READ(cred, uid.val);
  c->euid = BPF_CORE_READ(cred, euid.val);
  c->gid = BPF_CORE_READ(cred, gid.val);
  c->egid = BPF_CORE_READ(cred, egid.val);
  c->cap_effective = 0;
  /* kernel_cap_t is u64 (6.3+) or u32[2] (older): the same 8 little-endian bytes either way. */
  bpf_core_read(&c->cap_effective, sizeof(c->cap_effective), &cred->cap_effective);
}

static __always_inline void priv__read_creds(struct rw_creds *c) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  priv__creds_of(BPF_CORE_READ(task, cred), c);
}

/* A change that passes the filters by name and cgroup: one that changes a uid (the processor
 * follows every uid change of a thread) or takes group 0 (a name is the caller's to choose). */
static __always_inline bool priv__must_show(const struct rw_creds *a, const struct rw_creds *b) {
  return a->uid != b->uid || a->euid != b->euid || (b->gid == 0 && a->gid != 0) ||
         (b->egid == 0 && a->egid != 0);
}

static __always_inline int priv__enter(__u32 syscall) {
  struct task_struct *task = bpf_get_current_task_btf();
  struct priv_saved *slot =
      bpf_task_storage_get(&priv_pending, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (!slot) {
    /* No slot: this change will not be reported. Count it where the losses are counted and move
     * the sequence so the consumer says so before the thread's next record. */
    counters__inc(RW_KIND_PRIV, RW_CNT_UNTRACKED);
    lost_seq__bump();
    return 0;
  }
  priv__read_creds(&slot->creds);
  slot->syscall = syscall;
  slot->armed = 1;
  return 0;
}

static __always_inline int priv__exit(__u32 syscall, long ret) {
  struct task_struct *task = bpf_get_current_task_btf();
  struct priv_saved *slot = bpf_task_storage_get(&priv_pending, task, 0, 0);
  if (!slot || !slot->armed) return 0; /* entered before we attached, or the slot was refused */
  slot->armed = 0;
  if (slot->syscall != syscall) return 0; /* entered before this exit hook was attached */
  struct rw_creds saved = slot->creds;
  struct rw_creds now;
  priv__read_creds(&now);
  if (!filter__current_as(RW_KIND_PRIV, priv__must_show(&saved, &now))) return 0;
  struct rw_priv *rec = ringbuf__reserve(sizeof(*rec), RW_KIND_PRIV);
  if (!rec) return 0;
  envelope__fill(&rec->env, RW_KIND_PRIV);
  rec->syscall = syscall;
  rec->result = ret;
  rec->old_creds = saved;
  rec->new_creds = now;
  rec->filename_len = 0;
  rec->pad = 0;
  rec->filename[0] = 0;
  ringbuf__submit(rec, RW_KIND_PRIV);
  return 0;
}

#define RW_PRIV_HOOKS(name, id)                                                   \
  SEC("tracepoint/syscalls/sys_enter_" #name)                                     \
  int priv_##name##_enter(void *ctx) { return priv__enter(id); }                    \
  SEC("tracepoint/syscalls/sys_exit_" #name)                                      \
  int priv_##name##_exit(struct trace_event_raw_sys_exit *ctx) {                  \
    return priv__exit(id, ctx->ret);                                              \
  }

RW_PRIV_HOOKS(setuid, RW_PRIV_SETUID)
RW_PRIV_HOOKS(setgid, RW_PRIV_SETGID)
RW_PRIV_HOOKS(setresuid, RW_PRIV_SETRESUID)
RW_PRIV_HOOKS(setresgid, RW_PRIV_SETRESGID)
RW_PRIV_HOOKS(setreuid, RW_PRIV_SETREUID)
RW_PRIV_HOOKS(setregid, RW_PRIV_SETREGID)
RW_PRIV_HOOKS(capset, RW_PRIV_CAPSET)

/* Emits the record of an exec that gained an effective id or capability (the common exec gains
 * nothing and returns early). Only the filters by who apply (the agent, uids): the name an exec
 * is judged by would be the one it is leaving (the old program's) or one it chose (the new
 * file's), and a gain of privilege is what the stream exists to show. The identity is the one
 * the process has after the exec: a thread other than the leader that execs takes over the
 * leader's tid and start time (de_thread), so the record is the leader's. `always`: emit it even
 * without a gain (the identity changes ids another way, see priv_prepare_exec). */
static __always_inline int priv__exec_record(const struct rw_creds *saved, const struct rw_creds *now,
                                             struct linux_binprm *bprm, bool always) {
  if (!always && now->euid == saved->euid && now->egid == saved->egid &&
      (now->cap_effective & ~saved->cap_effective) == 0)
    return 0;
  if (!filter__current_as(RW_KIND_PRIV, true)) return 0;
  struct rw_priv *rec = ringbuf__reserve(sizeof(*rec), RW_KIND_PRIV);
  if (!rec) return 0;
  envelope__fill(&rec->env, RW_KIND_PRIV);
  struct task_struct *leader = bpf_get_current_task_btf()->group_leader;
  rec->env.tid = rec->env.pid;
  if (leader) rec->env.thread_start_ns = leader->start_time;
  rec->syscall = RW_PRIV_EXEC;
  rec->result = 0;
  rec->old_creds = *saved;
  rec->new_creds = *now;
  rec->pad = 0;
  long n = bpf_probe_read_kernel_str(rec->filename, sizeof(rec->filename),
                                     BPF_CORE_READ(bprm, filename));
  rec->filename_len = n > 0 ? n - 1 : 0;
  ringbuf__submit(rec, RW_KIND_PRIV);
  return 0;
}

/* Linux 6.10+: the point of an exec past which it cannot fail (only kill the task), where the
 * task still holds its old creds and bprm->cred holds the ones it is about to commit. It sees
 * every exec, including a 32-bit one through int 0x80, which the 64-bit syscall tracepoints
 * never see. The record comes before the exec's own event and carries the name and ids from
 * before the exec. Past this point an exec can no longer fail, only be killed: a gain reported
 * here is committed unless the process dies first (then its exit follows with no exec). */
SEC("tp_btf/sched_prepare_exec")
int BPF_PROG(priv_prepare_exec, struct task_struct *task, struct linux_binprm *bprm) {
  struct rw_creds saved, now;
  priv__read_creds(&saved);
  priv__creds_of(BPF_CORE_READ(bprm, cred), &now);
  /* A thread other than the leader may hold other ids than the leader (a raw per-thread
   * set*id, reported under its own identity). After the exec it is the process under the
   * leader's identity, so that identity's ids change even when the exec itself gains nothing:
   * judged from the leader's ids. */
  struct task_struct *cur = bpf_get_current_task_btf();
  struct task_struct *leader = cur->group_leader;
  if (leader && leader != cur) {
    struct rw_creds lc;
    priv__creds_of(BPF_CORE_READ(leader, cred), &lc);
    if (lc.uid != saved.uid || lc.euid != saved.euid)
      return priv__exec_record(&lc, &now, bprm, lc.uid != now.uid || lc.euid != now.euid);
  }
  return priv__exec_record(&saved, &now, bprm, false);
}

/* Before 6.10 (the loader leaves these three out when the hook above exists): the creds saved
 * at execve entry, compared after the exec. */
static __always_inline int priv__exec_enter(void) {
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  struct rw_creds c;
  priv__read_creds(&c);
  bpf_map_update_elem(&priv_exec_pending, &tgid, &c, BPF_ANY);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int priv_execve_enter(void *ctx) { return priv__exec_enter(); }

SEC("tracepoint/syscalls/sys_enter_execveat")
int priv_execveat_enter(void *ctx) { return priv__exec_enter(); }

SEC("tp_btf/sched_process_exec")
int BPF_PROG(priv_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm) {
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  struct rw_creds *old = bpf_map_lookup_elem(&priv_exec_pending, &tgid);
  if (!old) return 0;
  struct rw_creds saved = *old;
  bpf_map_delete_elem(&priv_exec_pending, &tgid);
  struct rw_creds now;
  priv__read_creds(&now);
  return priv__exec_record(&saved, &now, bprm, false);
}
