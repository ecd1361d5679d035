// File opens: openat, openat2, and the older open and creat that musl (Alpine) and old binaries
// still call (path, flags, mode, result). One sys_exit hook per syscall;
// the arguments come from the saved user registers (see sysargs__regs). Trust: kernel.
#include "common.bpf.h"

/* Per-CPU record builder: the path length is known only after the copy, and only the bytes
 * that were copied go into the ring. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct rw_file_open);
} rw_file_scratch SEC(".maps");

#define RW_O_WRONLY 01
#define RW_O_CREAT 0100
#define RW_O_TRUNC 01000

struct open_how_user {
  __u64 flags;
  __u64 mode;
  __u64 resolve;
};

static __always_inline int file__emit(__u16 syscall, long ret) {
  __u32 zero = 0;
  struct rw_file_open *rec = bpf_map_lookup_elem(&rw_file_scratch, &zero);
  if (!rec) return 0;
  envelope__fill(&rec->env, RW_KIND_FILE_OPEN);
  rec->env.priv_lost_seq = lost_seq__read();
  if (!filter__envelope(&rec->env, RW_KIND_FILE_OPEN)) return 0;
  struct pt_regs *regs = sysargs__regs();
  /* regs is a BTF pointer: direct loads, no helper call per register. */
  const char *path = (const char *)regs->si;
  __u64 flags = 0, mode = 0;
  if (syscall == RW_OPENAT) {
    flags = regs->dx;
    mode = regs->r10;
  } else if (syscall == RW_OPENAT2) {
    struct open_how_user how = {};
    bpf_probe_read_user(&how, sizeof(how), (const void *)regs->dx);
    flags = how.flags;
    mode = how.mode;
  } else if (syscall == RW_OPEN) { /* open(path, flags, mode) */
    path = (const char *)regs->di;
    flags = regs->si;
    mode = regs->dx;
  } else { /* creat(path, mode) == open(path, O_CREAT | O_WRONLY | O_TRUNC, mode) */
    path = (const char *)regs->di;
    flags = RW_O_CREAT | RW_O_WRONLY | RW_O_TRUNC;
    mode = regs->si;
  }
  rec->result = ret;
  rec->flags = flags;
  rec->mode = mode;
  rec->syscall = syscall;
  long n = bpf_probe_read_user_str(rec->path, sizeof(rec->path), path);
  __u64 len = n > 0 ? n - 1 : 0; /* bytes before the NUL */
  if (len > RW_PATH_MAX - 1) len = RW_PATH_MAX - 1;
  rec->path[len] = 0;
  rec->path_len = len;
  ringbuf__output(rec, __builtin_offsetof(struct rw_file_open, path) + len + 1, RW_KIND_FILE_OPEN);
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int file_openat_exit(struct trace_event_raw_sys_exit *ctx) {
  return file__emit(RW_OPENAT, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int file_openat2_exit(struct trace_event_raw_sys_exit *ctx) {
  return file__emit(RW_OPENAT2, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_open")
int file_open_exit(struct trace_event_raw_sys_exit *ctx) {
  return file__emit(RW_OPEN, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int file_creat_exit(struct trace_event_raw_sys_exit *ctx) {
  return file__emit(RW_CREAT, ctx->ret);
}
