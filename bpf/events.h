// Record layouts shared by the BPF programs (bpf/*.bpf.c) and their loader (capture/ebpf/).
// Every record starts with rw_envelope; `kind` says which layout follows. Most layouts have a
// fixed size (bpf_ringbuf_reserve needs a constant); the two frequent ones (file open, HTTP) are
// compact: a fixed header then only the bytes that were captured (built in a per-CPU buffer and
// copied with bpf_ringbuf_output), so the kernel ring holds ~5x more of them before it drops.
// Trust: written by the kernel (trusted), but the loader still clamps every length it reads.
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define RW_LAYOUT_VERSION 3 /* 2: compact file-open and HTTP records; 3: thread start, euid, lost seq */
#define RW_COMM_LEN 16
#define RW_PATH_MAX 512    /* file paths and exec filenames: longer ones are truncated */
#define RW_ARGV_MAX 4096   /* compile-time cap; the configured max_argv_bytes is <= this */
#define RW_HTTP_MAX 1024   /* first bytes of each request and response */
#define RW_MAX_CPUS 256    /* size of per-CPU counter arrays (index is cpu & (RW_MAX_CPUS-1)) */
#define RW_FILTER_MAX 16   /* entries per rodata filter list */
#define RW_HTTP_SLOTS 4096 /* pending-request table (direct-mapped, power of two) */

enum rw_kind {
  RW_KIND_EXEC = 0,
  RW_KIND_EXIT = 1,
  RW_KIND_FILE_OPEN = 2,
  RW_KIND_CONNECT = 3,
  RW_KIND_ACCEPT = 4,
  RW_KIND_PRIV = 5,
  RW_KIND_HTTP = 6,
  RW_KIND_COUNT = 7,
};

/* Per-kind, per-CPU accounting, kept in each object's .bss (mmapped by the skeleton, so user space
 * reads it without a syscall, which matters after seccomp). */
enum rw_counter {
  RW_CNT_EMITTED = 0,      /* records submitted to the ring */
  RW_CNT_RINGBUF_FULL = 1, /* bpf_ringbuf_reserve failed: the event is lost, and counted here */
  RW_CNT_FILTERED = 2,     /* dropped by configured in-kernel filters (policy, not loss) */
  RW_CNT_SLOT_BUSY = 3,    /* http: pending slot contended, request not tracked */
  RW_CNT_EVICTED = 4,      /* http: a pending request displaced by a colliding one (emitted) */
  RW_CNT_UNTRACKED = 5,    /* priv: a syscall's old creds could not be saved (no storage): lost */
  RW_CNT_COUNT = 6,
};

struct rw_envelope {
  __u64 mono_ns;
  __u64 cgroup_id;
  __u64 thread_start_ns; /* the thread's start (CLOCK_MONOTONIC): with tid, its identity (tids are reused) */
  __u32 pid;
  __u32 tid;
  __u32 ppid;
  __u32 uid;
  __u32 gid;
  __u32 euid;
  /* Privilege-change records the kernel ring had no room for, host-wide, so far. Capture reports
   * the losses before the first event whose value moved: whatever reads the stream learns of a
   * missing privilege change before it sees the thread's next event. */
  __u32 priv_lost_seq;
  __u16 kind;
  __u16 version;
  char comm[RW_COMM_LEN];
  char pcomm[RW_COMM_LEN];
};

struct rw_exec {
  struct rw_envelope env;
  __u32 filename_len;
  __u32 argv_len;   /* bytes of NUL-separated argv copied */
  __u32 argv_total; /* bytes of argv the process had */
  __u32 cwd_len;
  char filename[RW_PATH_MAX];
  char cwd[RW_PATH_MAX]; /* last path components of the cwd, '/'-joined (see process.bpf.c) */
  char argv[RW_ARGV_MAX];
};

struct rw_exit {
  struct rw_envelope env;
  __s32 exit_code;
  __u32 pad;
};

enum rw_open_syscall { RW_OPENAT = 0, RW_OPENAT2 = 1, RW_OPEN = 2, RW_CREAT = 3 };

/* Compact: the record is offsetof(path) + path_len + 1 bytes (the path is NUL-terminated). */
struct rw_file_open {
  struct rw_envelope env;
  __s32 result;
  __u32 flags;
  __u32 mode;
  __u16 syscall;
  __u16 path_len;
  char path[RW_PATH_MAX];
};

struct rw_net {
  struct rw_envelope env;
  __s32 result;
  __u16 family;
  __u16 sport;
  __u16 dport;
  __u16 pad;
  __u8 saddr[16];
  __u8 daddr[16];
};

enum rw_priv_syscall {
  RW_PRIV_SETUID = 0,
  RW_PRIV_SETGID,
  RW_PRIV_SETRESUID,
  RW_PRIV_SETRESGID,
  RW_PRIV_SETREUID,
  RW_PRIV_SETREGID,
  RW_PRIV_CAPSET,
  RW_PRIV_EXEC,
  RW_PRIV_COUNT,
};

struct rw_creds {
  __u32 uid;
  __u32 euid;
  __u32 gid;
  __u32 egid;
  __u64 cap_effective;
};

struct rw_priv {
  struct rw_envelope env;
  __u32 syscall;
  __s32 result;
  struct rw_creds old_creds;
  struct rw_creds new_creds;
  __u32 filename_len;
  __u32 pad;
  char filename[RW_PATH_MAX];
};

enum rw_http_role { RW_ROLE_SERVER = 0, RW_ROLE_CLIENT = 1 };

/* Connection facts saved with a pending request and carried into the exchange record. */
struct rw_http_conn {
  __u64 start_ns; /* when the request bytes were seen */
  __u64 req_size; /* bytes the request syscall moved */
  __u16 family;
  __u16 lport;
  __u16 rport;
  __u8 role;
  __u8 tls;
  __u8 laddr[16];
  __u8 raddr[16];
  __u32 req_len; /* captured request bytes */
  __u32 pad;
};

/* A pending request in the direct-mapped table (array map, mmapped by user space so timeouts are
 * swept without syscalls). `state` is the lock: FREE -> BUSY (cmpxchg) -> LIVE; whoever moves
 * LIVE -> BUSY owns the slot and must emit it exactly once. */
enum rw_slot_state { RW_SLOT_FREE = 0, RW_SLOT_BUSY = 1, RW_SLOT_LIVE = 2 };

struct rw_http_slot {
  __u64 state;
  __u64 key_sock; /* TCP connection identity (http__conn_key), or SSL * for TLS */
  __u32 key_tgid;
  __u32 pad;
  struct rw_envelope env; /* the process at request time */
  struct rw_http_conn conn;
  char req[RW_HTTP_MAX];
};

enum rw_http_end { RW_HTTP_COMPLETE = 0, RW_HTTP_TIMEOUT = 1, RW_HTTP_EVICTED = 2 };

/* Compact: the record is sizeof(rw_http) + conn.req_len + resp_len bytes; `data` holds the
 * captured request bytes, then the captured response bytes. */
struct rw_http {
  struct rw_envelope env;
  struct rw_http_conn conn;
  __u64 resp_size;
  __u64 latency_ns;
  __u32 resp_len;
  __u32 end; /* rw_http_end */
  char data[];
};

/* Read-only knobs, one copy in each object's .rodata, set by the loader before load. */
struct rw_config {
  __u32 own_pids[RW_FILTER_MAX];
  __u32 n_own_pids;
  __u32 own_parent;     /* the supervisor: its children named with own_prefix are the agent's */
  __u32 own_prefix_len; /* comm prefix of the agent's processes ("ringward-") */
  char own_prefix[RW_COMM_LEN];
  __u32 incl_uids[RW_FILTER_MAX]; /* n_incl_uids > 0: only these uids pass */
  __u32 n_incl_uids;
  __u32 excl_uids[RW_FILTER_MAX];
  __u32 n_excl_uids;
  __u32 n_incl_comms; /* > 0: only comms in the include map pass */
  __u32 n_excl_comms;
  /* cgroup v2 subtrees, in rw_cgroups: includes at [0, n_incl_cgroups), excludes at
   * [RW_FILTER_MAX, RW_FILTER_MAX + n_excl_cgroups). */
  __u32 n_incl_cgroups; /* > 0: only tasks under one of these pass */
  __u32 n_excl_cgroups;
  __u32 max_argv_bytes;
  __u32 http_capture_client_loopback; /* 0: a client-side exchange with a loopback peer is skipped
                                         (the server side reports it) */
};
