// Loader and consumer for the bpf/ programs (libbpf-bootstrap flow: open -> set read-only
// knobs -> load -> attach -> consume; one cleanup path, the destructors). Each BPF concern is its
// own skeleton; all share the first one's ring buffer and filter maps, so an optional concern
// (TLS) can fail without touching the others. Trust: capture process, privileged until create()
// returns; every record length read from the ring is clamped before use.
#include "capture/ebpf/ebpf_source.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdarg>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/privilege.h"
#include "events.h"
// The skeletons refer to struct rw_config, so events.h comes first.
#include "file.skel.h"
#include "http.skel.h"
#include "net.skel.h"
#include "priv.skel.h"
#include "process.skel.h"
#include "tls.skel.h"

namespace ringward::capture {

namespace {

using schema::Priority;

constexpr std::string_view kKindNames[] = {"process_exec", "process_exit", "file_open",
                                           "net_connect",  "net_accept",   "privilege_change",
                                           "http"};
static_assert(std::size(kKindNames) == RW_KIND_COUNT);
static_assert(static_cast<int>(EbpfKind::count) == RW_KIND_COUNT);

std::string errno_text(int err) { return std::string(strerrorname_np(err) ? strerrorname_np(err) : "?"); }

// libbpf speaks through one process-wide callback; warnings go to our log, debug is dropped.
int libbpf_log(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[512];
  int n = vsnprintf(line, sizeof(line), fmt, args);
  if (n > 0) {
    std::string_view text(line, std::min<size_t>(static_cast<size_t>(n), sizeof(line) - 1));
    while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    spdlog::warn("libbpf: {}", text);
  }
  return 0;
}

bool path_exists(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0;
}

// Finds tracefs, mounting it at /sys/kernel/tracing when it is absent (classic tracepoints need
// it; libbpf tries debugfs/tracing first, then /sys/kernel/tracing).
std::string ensure_tracefs(std::string* error) {
  for (const char* dir : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    if (path_exists(std::string(dir) + "/events")) return dir;
  }
  if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0) {
    *error = "tracefs is not mounted and mounting it at /sys/kernel/tracing failed: " +
             errno_text(errno) + " (classic tracepoints need it)";
    return {};
  }
  spdlog::info("ebpf: mounted tracefs at /sys/kernel/tracing (classic tracepoints need it)");
  return "/sys/kernel/tracing";
}

std::string check_kernel_support() {
  if (!path_exists("/sys/kernel/btf/vmlinux"))
    return "kernel BTF is missing: /sys/kernel/btf/vmlinux does not exist (CO-RE programs need a "
           "kernel built with CONFIG_DEBUG_INFO_BTF=y)";
  struct {
    bpf_prog_type type;
    const char* name;
  } progs[] = {{BPF_PROG_TYPE_TRACEPOINT, "tracepoint"}, {BPF_PROG_TYPE_KPROBE, "kprobe/uprobe"}};
  // tp_btf (BPF_PROG_TYPE_TRACING) is not probed here: libbpf probes it with an fentry-style
  // load, which fails on kernels without fentry even though tp_btf works; loading the process
  // object reports it precisely instead.
  for (auto& p : progs) {
    int r = libbpf_probe_bpf_prog_type(p.type, nullptr);
    if (r != 1)
      return std::string("kernel lacks BPF program type ") + p.name +
             (r < 0 ? " (probe failed: " + errno_text(-r) + ")" : "");
  }
  int r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr);
  if (r != 1)
    return std::string("kernel lacks BPF map type ringbuf (Linux 5.8+)") +
           (r < 0 ? " (probe failed: " + errno_text(-r) + ")" : "");
  // set*id and capset keep a thread's old ids in its own task storage from entry to exit.
  r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_storage_get, nullptr);
  if (r != 1)
    return std::string("kernel lacks bpf_task_storage_get for tracepoint programs (Linux 5.13+)") +
           (r < 0 ? " (probe failed: " + errno_text(-r) + ")" : "");
  return {};
}

// Every distinct libssl file (by device and inode) the TLS uprobes should cover: the configured
// one, or the system's usual copies plus the ones running processes have mapped executable (a
// program with its own copy; a container's through /proc/<pid>/root where capture may look
// there). Uprobes attach to a file, so processes started later with one of these are covered
// too; a copy first mapped after capture started is not (attaching needs the privileges capture
// gives up). libbpf parses each file as root, so only files owned by root and writable by no one
// else are taken: any user can map a file named libssl.so. The scan is bounded in processes,
// files and time (a process whose maps cannot be read, e.g. stuck in a page fault, still holds
// up one read).
std::vector<std::string> find_libssls(const std::string& configured) {
  constexpr size_t kMaxLibs = 16;
  constexpr int kMaxProcs = 8192;
  constexpr auto kBudget = std::chrono::seconds(2);
  std::vector<std::string> out;
  std::set<std::pair<dev_t, ino_t>> seen;
  auto trusted = [](const struct stat& st) {
    return S_ISREG(st.st_mode) && st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
  };
  auto add = [&](const std::string& path, const struct stat& st) {
    if (out.size() >= kMaxLibs || !trusted(st)) return;
    if (seen.insert({st.st_dev, st.st_ino}).second) out.push_back(path);
  };
  auto add_path = [&](const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) == 0) add(path, st);
  };
  if (!configured.empty()) {
    add_path(configured);
    return out;
  }
  for (const char* p : {"/usr/lib/x86_64-linux-gnu/libssl.so.3", "/lib/x86_64-linux-gnu/libssl.so.3",
                        "/usr/lib64/libssl.so.3", "/usr/lib/libssl.so.3",
                        "/usr/lib/x86_64-linux-gnu/libssl.so.1.1", "/usr/lib64/libssl.so.1.1"})
    add_path(p);
  DIR* proc = opendir("/proc");
  if (!proc) return out;
  const auto deadline = std::chrono::steady_clock::now() + kBudget;
  std::set<std::string> mappings_seen;  // "dev inode" of the maps lines already looked at
  int scanned = 0;
  std::string stopped;
  int unreachable = 0;  // copies only a process's own root shows, which the kernel refused us
  std::string unreachable_example;
  while (dirent* d = readdir(proc)) {
    if (d->d_name[0] < '1' || d->d_name[0] > '9') continue;
    if (++scanned > kMaxProcs) stopped = std::to_string(kMaxProcs) + " processes";
    else if (out.size() >= kMaxLibs) stopped = std::to_string(kMaxLibs) + " files";
    else if (std::chrono::steady_clock::now() > deadline) stopped = "2 s";
    if (!stopped.empty()) break;
    const std::string pid_dir = std::string("/proc/") + d->d_name;
    std::ifstream maps(pid_dir + "/maps");
    std::string line;
    while (std::getline(maps, line)) {
      if (line.find("/libssl.so") == std::string::npos || line.ends_with(" (deleted)")) continue;
      // address perms offset dev inode path
      std::istringstream f(line);
      std::string addr, perms, offset, dev, inode;
      f >> addr >> perms >> offset >> dev >> inode;
      if (perms.size() < 3 || perms[2] != 'x') continue;
      if (!mappings_seen.insert(dev + " " + inode).second) continue;
      const size_t path_at = line.find('/');
      if (path_at == std::string::npos) continue;
      const std::string path = line.substr(path_at);
      const ino_t ino = static_cast<ino_t>(std::strtoull(inode.c_str(), nullptr, 10));
      // The mapped file itself (its inode), seen from the host, else through the process's root.
      struct stat st {};
      if (stat(path.c_str(), &st) == 0 && st.st_ino == ino) {
        add(path, st);
      } else if (const std::string via_root = pid_dir + "/root" + path;
                 stat(via_root.c_str(), &st) == 0) {
        if (st.st_ino == ino) add(via_root, st);
      } else if (errno == EACCES || errno == EPERM) {
        if (unreachable++ == 0) unreachable_example = via_root;
      }
    }
  }
  closedir(proc);
  if (unreachable > 0)
    spdlog::warn("ebpf: {} libssl cop{} inside other mount namespaces (containers) could not be "
                 "opened through /proc/<pid>/root (e.g. {}: permission denied): TLS in those "
                 "processes is not captured; capture needs CAP_SYS_PTRACE for them (see "
                 "docs/operations.md, TLS in containers)",
                 unreachable, unreachable == 1 ? "y" : "ies", unreachable_example);
  if (!stopped.empty())
    spdlog::warn("ebpf: libssl scan of /proc stopped at {}; copies mapped by the rest are not hooked", stopped);
  return out;
}

// Owns one mmapped region (the pending-HTTP table, the lost-privilege count).
class Mapping {
 public:
  Mapping() = default;
  Mapping(void* addr, size_t size) : addr_(addr), size_(size) {}
  Mapping(Mapping&& o) noexcept : addr_(std::exchange(o.addr_, nullptr)), size_(o.size_) {}
  Mapping& operator=(Mapping&& o) noexcept {
    reset();
    addr_ = std::exchange(o.addr_, nullptr);
    size_ = o.size_;
    return *this;
  }
  ~Mapping() { reset(); }
  void* get() const { return addr_; }

 private:
  void reset() {
    if (addr_) munmap(addr_, size_);
    addr_ = nullptr;
  }
  void* addr_ = nullptr;
  size_t size_ = 0;
};

// One loaded concern: its skeleton (destroyed -> detached and closed) and its counters.
struct Concern {
  std::string name;
  std::unique_ptr<void, std::function<void(void*)>> skel;
  bpf_object* obj = nullptr;
  const uint64_t* counters = nullptr;  // .bss rw_counters[RW_MAX_CPUS][RW_KIND_COUNT][RW_CNT_COUNT]
  std::vector<std::string> hooks;
  std::vector<bpf_link*> extra_links;  // manual attachments (uprobes), destroyed before skel
  ~Concern() {
    for (bpf_link* l : extra_links) bpf_link__destroy(l);
  }
  Concern() = default;
  Concern(Concern&&) = default;
};

// A word the kernel writes into memory shared with us (a mmapped map or ring page).
uint64_t load_acquire(const uint64_t* p) {
  return std::atomic_ref<const uint64_t>(*p).load(std::memory_order_acquire);
}

uint64_t load_counter(const uint64_t* base, int cpu, int kind, int counter) {
  const uint64_t* p = base + (static_cast<size_t>(cpu) * RW_KIND_COUNT + kind) * RW_CNT_COUNT + counter;
  return std::atomic_ref<const uint64_t>(*p).load(std::memory_order_relaxed);
}

std::string_view bounded(const char* p, size_t max) {
  return std::string_view(p, strnlen(p, max));
}

kj::ArrayPtr<const kj::byte> bytes(std::string_view s) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

kj::ArrayPtr<const kj::byte> bytes(const void* p, size_t n) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(p), n);
}

const char* priv_syscall_name(uint32_t s) {
  static constexpr const char* kNames[] = {"setuid",   "setgid",   "setresuid", "setresgid",
                                           "setreuid", "setregid", "capset",    "exec"};
  return s < std::size(kNames) ? kNames[s] : "unknown";
}

}  // namespace

// The running kernel's BTF, loaded once (kept for the process's life).
static btf* vmlinux_btf() {
  static btf* vmlinux = btf__load_vmlinux_btf();
  return vmlinux;
}

// Whether the running kernel has the BTF tracepoint `name` (its btf_trace_<name> typedef).
static bool kernel_has_btf_tracepoint(const std::string& name) {
  btf* vmlinux = vmlinux_btf();
  if (vmlinux == nullptr) return true;  // let the load report it
  return btf__find_by_name_kind(vmlinux, ("btf_trace_" + name).c_str(), BTF_KIND_TYPEDEF) >= 0;
}

// Arguments of a BTF tracepoint (its btf_trace_<name> typedef: pointer to a function whose first
// parameter is the context), or -1 when unknown.
static int btf_tracepoint_args(const std::string& name) {
  btf* vmlinux = vmlinux_btf();
  if (vmlinux == nullptr) return -1;
  int id = btf__find_by_name_kind(vmlinux, ("btf_trace_" + name).c_str(), BTF_KIND_TYPEDEF);
  if (id < 0) return -1;
  const btf_type* t = btf__type_by_id(vmlinux, btf__resolve_type(vmlinux, id));
  if (t == nullptr || !btf_is_ptr(t)) return -1;
  const btf_type* proto = btf__type_by_id(vmlinux, t->type);
  if (proto == nullptr || !btf_is_func_proto(proto)) return -1;
  return static_cast<int>(btf_vlen(proto)) - 1;
}

const char* ebpf_kind_name(EbpfKind kind) {
  auto i = static_cast<size_t>(kind);
  return i < std::size(kKindNames) ? kKindNames[i].data() : "unknown";
}

struct EbpfSource::Impl {
  Impl(const EbpfOptions& o, const Clock& c) : options(o), clock(c) {}
  ~Impl() {
    // Consumer first (it reads the map mmaps), then the concerns in reverse load order.
    if (ring) ring_buffer__free(ring);
    slots_mapping = Mapping();
    ring_pos_mapping = Mapping();
    lost_seq_mapping = Mapping();
    while (!concerns.empty()) concerns.pop_back();
  }

  EbpfOptions options;
  const Clock& clock;
  rw_config cfg{};
  std::vector<Concern> concerns;
  // fds of the maps every object shares, from the first object that defines them.
  int events_fd = -1, incl_fd = -1, excl_fd = -1, slots_fd = -1, lost_seq_fd = -1, cgroups_fd = -1;
  // Privilege-change losses are reported in the order of rw_lost_seq, which the kernel moves
  // once per loss, after counting it: a record carries the value read before it took its ring
  // slot, so the losses up to that value happened before it, and every record from before
  // them sits earlier in the ring. `priv_reported_seq`: losses reported so far. With no record
  // to carry them (a quiet system), the losses up to `priv_settled_seq` are reported once the
  // consumer has passed `settled_prod`, the ring's producer position read after it: every
  // record reserved before that read has then been handed over, so the report overtakes none.
  // (A loss reported ahead of records from before it would let the processor relearn a
  // thread's old ids after it forgot them, and the thread's next record, its loss already
  // reported, would read as an unreported change.)
  uint32_t priv_reported_seq = 0;
  uint32_t priv_settled_seq = 0;
  uint64_t settled_prod = 0;
  ring_buffer* ring = nullptr;
  Mapping slots_mapping;
  Mapping lost_seq_mapping;
  const uint64_t* lost_seq = nullptr;  // rw_lost_seq[0], mapped
  // The kernel ring's consumer page and producer page, mapped read-only (libbpf keeps its own
  // mappings and offers no accessor for the positions in this version).
  Mapping ring_pos_mapping;
  const uint64_t* ring_consumer = nullptr;
  const uint64_t* ring_producer = nullptr;
  rw_http_slot* slots = nullptr;
  std::string tracefs;
  std::vector<std::string> missing_hooks;

  // Puts the configured cgroup directories into rw_cgroups (includes first, excludes from
  // RW_FILTER_MAX on). The map holds the cgroups themselves: the fds can go right after.
  std::string fill_cgroups() {
    auto put = [&](const std::vector<CgroupSubtree>& list, uint32_t base) -> std::string {
      for (size_t i = 0; i < list.size(); i++) {
        int fd = open(list[i].dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return "open cgroup " + list[i].dir + ": " + errno_text(errno);
        uint32_t key = base + static_cast<uint32_t>(i);
        int rc = bpf_map_update_elem(cgroups_fd, &key, &fd, BPF_ANY);
        int e = errno;
        close(fd);
        if (rc != 0) return "cgroup filter " + list[i].dir + ": " + errno_text(e);
      }
      return {};
    };
    if (auto e = put(options.include_cgroups, 0); !e.empty()) return e;
    return put(options.exclude_cgroups, RW_FILTER_MAX);
  }

  // Consumer state.
  Emitter* emitter = nullptr;
  uint64_t deadline_ns = 0;
  uint64_t consumed_in_call = 0;
  bool budget_exhausted = false;
  unsigned empty_polls = 0;  // in a row: the idle back-off
  uint64_t next_sweep_ns = 0;
  std::array<EbpfKindCounters, RW_KIND_COUNT> user{};
  uint64_t invalid_records = 0;
  uint64_t http_timeouts = 0;
  // Kernel loss counters already reported, per concern, cpu, kind and counter (ringbuf_full;
  // slot_busy: HTTP requests never tracked; untracked: privilege changes whose old creds could
  // not be saved); invalid records.
  std::vector<std::vector<uint64_t>> reported;
  uint64_t reported_invalid = 0;
  int ncpus = 1;

  std::string build_config();
  template <typename S>
  std::string load(const char* name, S* (*open_fn)(), int (*load_fn)(S*), int (*attach_fn)(S*),
                   void (*destroy_fn)(S*), bool optional);
  std::string attach_tls(Concern& c, const std::string& libssl);
  std::string start_consumer();
  void fill_map(int fd, const std::vector<std::string>& comms);

  static int on_record(void* ctx, void* data, size_t size);
  void handle_record(const void* data, size_t size);
  // `rec` is the header of a compact record; req/resp are its (already bounded) data bytes.
  void handle_http(const rw_http& rec, std::string_view req, std::string_view resp,
                   bool timed_out_by_sweep);
  void sweep_http(uint64_t now_ns);
  void report_losses();
  // Privilege-change losses up to `seq` not reported yet (see priv_reported_seq), summed over CPUs
  // into one report per reason (a flood of them must not make every later record scan every
  // counter and report per CPU).
  void report_priv_losses(uint32_t seq);
  uint32_t read_lost_seq() const;
  // Kernel losses of one kind and counter on one CPU (in one object's counters) not reported yet,
  // at most `max` of them.
  uint64_t take_losses(size_t concern, int cpu, int kind, int counter, uint64_t max = UINT64_MAX);
  uint64_t kernel_counter(int kind, int counter) const;
};

std::string EbpfSource::Impl::build_config() {
  cfg = rw_config{};
  if (options.exclude_pids.size() > RW_FILTER_MAX) return "too many exclude_pids (max 16)";
  if (options.include_uids.size() > RW_FILTER_MAX || options.exclude_uids.size() > RW_FILTER_MAX)
    return "too many include/exclude uids (max 16 each)";
  if (options.include_cgroups.size() > RW_FILTER_MAX || options.exclude_cgroups.size() > RW_FILTER_MAX)
    return "too many include/exclude cgroups (max 16 each)";
  if (options.include_comms.size() > 64 || options.exclude_comms.size() > 64)
    return "too many include/exclude comms (max 64 each)";
  if (options.exclude_comm_prefix.size() >= RW_COMM_LEN) return "exclude_comm_prefix longer than 15";
  for (auto& c : options.include_comms)
    if (c.empty() || c.size() >= RW_COMM_LEN) return "include comm '" + c + "' not 1-15 bytes";
  for (auto& c : options.exclude_comms)
    if (c.empty() || c.size() >= RW_COMM_LEN) return "exclude comm '" + c + "' not 1-15 bytes";
  uint32_t rb = options.ring_buffer_bytes;
  if (rb < 4096 || (rb & (rb - 1)) != 0) return "ring_buffer_bytes must be a power of two >= 4096";
  for (size_t i = 0; i < options.exclude_pids.size(); i++) cfg.own_pids[i] = options.exclude_pids[i];
  cfg.n_own_pids = options.exclude_pids.size();
  cfg.own_parent = options.exclude_children_of;
  memcpy(cfg.own_prefix, options.exclude_comm_prefix.data(), options.exclude_comm_prefix.size());
  cfg.own_prefix_len = options.exclude_comm_prefix.size();
  for (size_t i = 0; i < options.exclude_uids.size(); i++) cfg.excl_uids[i] = options.exclude_uids[i];
  cfg.n_excl_uids = options.exclude_uids.size();
  for (size_t i = 0; i < options.include_uids.size(); i++) cfg.incl_uids[i] = options.include_uids[i];
  cfg.n_incl_uids = options.include_uids.size();
  cfg.n_incl_cgroups = options.include_cgroups.size();
  cfg.n_excl_cgroups = options.exclude_cgroups.size();
  cfg.n_incl_comms = options.include_comms.size();
  cfg.n_excl_comms = options.exclude_comms.size();
  cfg.max_argv_bytes = std::min<uint32_t>(options.max_argv_bytes, RW_ARGV_MAX);
  cfg.http_capture_client_loopback = options.http_client_loopback ? 1 : 0;
  return {};
}

void EbpfSource::Impl::fill_map(int fd, const std::vector<std::string>& comms) {
  for (auto& c : comms) {
    char key[RW_COMM_LEN] = {};
    memcpy(key, c.data(), c.size());
    uint8_t one = 1;
    bpf_map_update_elem(fd, key, &one, BPF_ANY);
  }
}

template <typename S>
std::string EbpfSource::Impl::load(const char* name, S* (*open_fn)(), int (*load_fn)(S*),
                                   int (*attach_fn)(S*), void (*destroy_fn)(S*), bool optional) {
  S* s = open_fn();
  if (!s) return std::string("open BPF object '") + name + "': " + errno_text(errno);
  Concern c;
  c.name = name;
  c.skel = std::unique_ptr<void, std::function<void(void*)>>(
      s, [destroy_fn](void* p) { destroy_fn(static_cast<S*>(p)); });
  c.obj = s->obj;
  memcpy(const_cast<rw_config*>(&s->rodata->rw_cfg), &cfg, sizeof(cfg));

  // Share the first object's maps; size the ring buffer on the first.
  struct Shared {
    const char* map;
    int* fd;
  } shared[] = {{"rw_events", &events_fd},
                {"rw_comm_include", &incl_fd},
                {"rw_comm_exclude", &excl_fd},
                {"rw_http_slots", &slots_fd},
                {"rw_lost_seq", &lost_seq_fd},
                {"rw_cgroups", &cgroups_fd}};
  for (auto& sh : shared) {
    bpf_map* m = bpf_object__find_map_by_name(s->obj, sh.map);
    if (!m) continue;
    if (*sh.fd >= 0) {
      int err = bpf_map__reuse_fd(m, *sh.fd);
      if (err) return std::string("share map ") + sh.map + " with '" + name + "': " + errno_text(-err);
    } else if (std::string_view(sh.map) == "rw_events") {
      bpf_map__set_max_entries(m, options.ring_buffer_bytes);
    }
  }

  // Tracepoints this kernel lacks are left out rather than failing the object.
  bpf_program* prog;
  bpf_object__for_each_program(prog, s->obj) {
    std::string_view sec = bpf_program__section_name(prog);
    if (sec.starts_with("tp_btf/")) {
      std::string event(sec.substr(strlen("tp_btf/")));
      // Process exit: the variant with group_dead where the tracepoint passes it (6.16+).
      const std::string_view prog_name = bpf_program__name(prog);
      if (prog_name == "process_exit" || prog_name == "process_exit_live") {
        const bool has_group_dead = btf_tracepoint_args(event) >= 2;
        if ((prog_name == "process_exit") != has_group_dead) {
          bpf_program__set_autoload(prog, false);
          continue;
        }
      }
      if (!kernel_has_btf_tracepoint(event)) {
        bpf_program__set_autoload(prog, false);
        missing_hooks.push_back("tp_btf:" + event);
        spdlog::warn("ebpf: BTF tracepoint {} does not exist on this kernel; hook left out", event);
      }
      continue;
    }
    if (sec.starts_with("tracepoint/")) {
      std::string event(sec.substr(strlen("tracepoint/")));
      if (!path_exists(tracefs + "/events/" + event)) {
        bpf_program__set_autoload(prog, false);
        missing_hooks.push_back("tracepoint:" + event);
        spdlog::warn("ebpf: tracepoint {} does not exist on this kernel; hook left out", event);
        continue;
      }
    }
  }

  // An exec is judged at sched_prepare_exec where the kernel has it (6.10+); the fallback that
  // saves creds at execve entry (and its map) is then left out.
  if (bpf_program* pe = bpf_object__find_program_by_name(s->obj, "priv_prepare_exec");
      pe && bpf_program__autoload(pe)) {
    for (const char* fallback : {"priv_execve_enter", "priv_execveat_enter", "priv_exec"})
      if (bpf_program* p = bpf_object__find_program_by_name(s->obj, fallback))
        bpf_program__set_autoload(p, false);
    if (bpf_map* m = bpf_object__find_map_by_name(s->obj, "priv_exec_pending"))
      bpf_map__set_max_entries(m, 1);
  }

  int err = load_fn(s);
  if (err) {
    std::string msg = std::string("load BPF object '") + name + "': " + errno_text(-err) +
                      " (the verifier log above says why)";
    if (optional) {
      spdlog::warn("ebpf: optional {} not loaded: {}", name, msg);
      return {};
    }
    return msg;
  }
  for (auto& sh : shared) {
    bpf_map* m = bpf_object__find_map_by_name(s->obj, sh.map);
    if (m && *sh.fd < 0) *sh.fd = bpf_map__fd(m);
  }
  if (attach_fn) {
    err = attach_fn(s);
    if (err) {
      std::string msg = std::string("attach BPF object '") + name + "': " + errno_text(-err);
      if (optional) {
        spdlog::warn("ebpf: optional {} not attached: {}", name, msg);
        return {};
      }
      return msg;
    }
    bpf_object__for_each_program(prog, s->obj) {
      if (!bpf_program__autoload(prog)) continue;
      std::string sec = bpf_program__section_name(prog);
      std::replace(sec.begin(), sec.end(), '/', ':');
      c.hooks.push_back(sec);
    }
  }
  c.counters = reinterpret_cast<const uint64_t*>(&s->bss->rw_counters[0][0][0]);
  concerns.push_back(std::move(c));
  return {};
}

std::string EbpfSource::Impl::attach_tls(Concern& c, const std::string& libssl) {
  struct {
    const char* prog;
    const char* func;
    bool ret;
    bool optional;  // the _ex variants exist from OpenSSL 1.1.1 on
  } probes[] = {{"tls_write_enter", "SSL_write", false, false},
                {"tls_write_exit", "SSL_write", true, false},
                {"tls_read_enter", "SSL_read", false, false},
                {"tls_read_exit", "SSL_read", true, false},
                {"tls_write_ex_enter", "SSL_write_ex", false, true},
                {"tls_write_exit", "SSL_write_ex", true, true},
                {"tls_read_ex_enter", "SSL_read_ex", false, true},
                {"tls_read_exit", "SSL_read_ex", true, true}};
  bool any = false;
  for (size_t i = 0; i < std::size(probes); i += 2) {
    // Entry and return probe of one function: both attached, or neither.
    bpf_link* links[2] = {nullptr, nullptr};
    std::string error;
    for (size_t j = 0; j < 2 && error.empty(); j++) {
      auto& p = probes[i + j];
      bpf_program* prog = bpf_object__find_program_by_name(c.obj, p.prog);
      if (!prog) return std::string("program ") + p.prog + " missing";
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = p.ret, .func_name = p.func);
      links[j] = bpf_program__attach_uprobe_opts(prog, -1, libssl.c_str(), 0, &opts);
      if (!links[j])
        error = std::string("attach ") + (p.ret ? "uretprobe " : "uprobe ") + p.func + " in " +
                libssl + ": " + errno_text(errno);
    }
    if (!error.empty()) {
      for (bpf_link* l : links)
        if (l) bpf_link__destroy(l);
      if (!probes[i].optional) return error;
      spdlog::warn("ebpf: optional TLS hook left out: {}", error);
      continue;
    }
    c.extra_links.insert(c.extra_links.end(), std::begin(links), std::end(links));
    c.hooks.push_back("uprobe:" + libssl + ":" + probes[i].func);
    any = true;
  }
  return any ? std::string() : "no TLS hook attached in " + libssl;
}

// Maps `size` bytes of a map's fd (rounded up to whole pages) into `out`; an error names `what`.
static std::string map_fd(int fd, size_t size, int prot, const char* what, Mapping& out) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size = (size + page - 1) / page * page;
  void* p = mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return std::string("mmap ") + what + " (" + std::to_string(size >> 10) + " KiB): " + errno_text(errno);
  out = Mapping(p, size);
  return {};
}

std::string EbpfSource::Impl::start_consumer() {
  ring = ring_buffer__new(events_fd, &Impl::on_record, this, nullptr);
  if (!ring) return "create ring buffer consumer: " + errno_text(errno);
  if (slots_fd >= 0) {
    const size_t size = static_cast<size_t>(RW_HTTP_SLOTS) * ((sizeof(rw_http_slot) + 7) & ~size_t{7});
    if (auto e = map_fd(slots_fd, size, PROT_READ | PROT_WRITE, "pending-HTTP table", slots_mapping); !e.empty())
      return e;
    slots = static_cast<rw_http_slot*>(slots_mapping.get());
  }
  // The kernel ring's consumer and producer positions: a page each, read-only here.
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (auto e = map_fd(events_fd, 2 * page, PROT_READ, "the kernel ring's positions", ring_pos_mapping); !e.empty())
    return e;
  ring_consumer = static_cast<const uint64_t*>(ring_pos_mapping.get());
  ring_producer = reinterpret_cast<const uint64_t*>(static_cast<const char*>(ring_pos_mapping.get()) + page);
  if (lost_seq_fd >= 0) {
    if (auto e = map_fd(lost_seq_fd, sizeof(uint64_t), PROT_READ, "lost-privilege count", lost_seq_mapping); !e.empty())
      return e;
    lost_seq = static_cast<const uint64_t*>(lost_seq_mapping.get());
  }
  ncpus = std::clamp(libbpf_num_possible_cpus(), 1, RW_MAX_CPUS);
  reported.assign(concerns.size(), std::vector<uint64_t>(ncpus * RW_KIND_COUNT * RW_CNT_COUNT, 0));
  return {};
}

EbpfOpenResult EbpfSource::create(const EbpfOptions& options, const Clock& clock) {
  static_assert(sizeof(rw_http_slot) % 8 == 0);
  EbpfOpenResult result;
  libbpf_set_print(libbpf_log);
  if (std::string e = check_kernel_support(); !e.empty()) {
    result.error = "ebpf: " + e;
    return result;
  }
  auto impl = std::make_unique<Impl>(options, clock);
  std::string err;
  impl->tracefs = ensure_tracefs(&err);
  if (impl->tracefs.empty()) {
    result.error = "ebpf: " + err;
    return result;
  }
  if (std::string e = impl->build_config(); !e.empty()) {
    result.error = "ebpf: invalid options: " + e;
    return result;
  }
  auto fail = [&](const std::string& e) {
    result.error = "ebpf: " + e;
    return std::move(result);
  };
  // The first object creates the shared maps; fill the comm filters before anything attaches
  // so no event escapes the filter. process loads without attaching, then attaches last.
  if (auto e = impl->load<process_bpf>("process", process_bpf__open, process_bpf__load, nullptr,
                                       process_bpf__destroy, false);
      !e.empty())
    return fail(e);
  impl->fill_map(impl->incl_fd, options.include_comms);
  impl->fill_map(impl->excl_fd, options.exclude_comms);
  if (auto e = impl->fill_cgroups(); !e.empty()) return fail(e);
  // Privilege changes before everything else: a uid change must never fall between two events
  // of a thread that capture reports (the processor judges uid continuity per thread).
  if (auto e = impl->load<priv_bpf>("priv", priv_bpf__open, priv_bpf__load, priv_bpf__attach,
                                    priv_bpf__destroy, false);
      !e.empty())
    return fail(e);
  if (int e = process_bpf__attach(static_cast<process_bpf*>(impl->concerns[0].skel.get())); e)
    return fail("attach BPF object 'process': " + errno_text(-e));
  {
    bpf_program* prog;
    bpf_object__for_each_program(prog, impl->concerns[0].obj) {
      std::string sec = bpf_program__section_name(prog);
      std::replace(sec.begin(), sec.end(), '/', ':');
      impl->concerns[0].hooks.push_back(sec);
    }
  }
  if (auto e = impl->load<file_bpf>("file", file_bpf__open, file_bpf__load, file_bpf__attach,
                                    file_bpf__destroy, false);
      !e.empty())
    return fail(e);
  if (auto e = impl->load<net_bpf>("net", net_bpf__open, net_bpf__load, net_bpf__attach,
                                   net_bpf__destroy, false);
      !e.empty())
    return fail(e);
  if (options.http_capture) {
    if (auto e = impl->load<http_bpf>("http", http_bpf__open, http_bpf__load, http_bpf__attach,
                                      http_bpf__destroy, false);
        !e.empty())
      return fail(e);
    if (options.tls_uprobes) {
      const std::vector<std::string> libssls = find_libssls(options.libssl_path);
      if (libssls.empty()) {
        spdlog::info("ebpf: no libssl found ({}); TLS plaintext capture inactive",
                     options.libssl_path.empty() ? "searched the usual paths" : options.libssl_path);
        impl->missing_hooks.push_back("uprobe:libssl");
      } else {
        size_t before = impl->concerns.size();
        if (auto e = impl->load<tls_bpf>("tls", tls_bpf__open, tls_bpf__load, nullptr,
                                         tls_bpf__destroy, true);
            !e.empty())
          return fail(e);
        if (impl->concerns.size() > before) {
          // One object, its programs attached in every copy; a copy that fails is left out.
          Concern& tls = impl->concerns.back();
          tls.hooks.clear();
          size_t attached = 0;
          for (const auto& libssl : libssls) {
            if (auto e = impl->attach_tls(tls, libssl); !e.empty())
              spdlog::warn("ebpf: TLS uprobes left out for {}: {}", libssl, e);
            else
              attached++;
          }
          if (attached == 0) {
            impl->concerns.pop_back();
            impl->missing_hooks.push_back("uprobe:libssl");
          }
        } else {
          impl->missing_hooks.push_back("uprobe:libssl");
        }
      }
    }
  }
  if (auto e = impl->start_consumer(); !e.empty()) return fail(e);
  impl->next_sweep_ns = clock.mono_ns();
  result.source.reset(new EbpfSource(std::move(impl)));
  return result;
}

EbpfSource::EbpfSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EbpfSource::~EbpfSource() = default;

std::vector<std::string> EbpfSource::active_hooks() const {
  std::vector<std::string> hooks;
  for (auto& c : impl_->concerns) hooks.insert(hooks.end(), c.hooks.begin(), c.hooks.end());
  return hooks;
}

uint64_t EbpfSource::Impl::kernel_counter(int kind, int counter) const {
  uint64_t sum = 0;
  for (auto& c : concerns)
    for (int cpu = 0; cpu < ncpus; cpu++) sum += load_counter(c.counters, cpu, kind, counter);
  return sum;
}

EbpfCounters EbpfSource::counters() const {
  EbpfCounters out;
  for (int k = 0; k < RW_KIND_COUNT; k++) {
    auto& o = out.kinds[k];
    o = impl_->user[k];
    o.kernel_emitted = impl_->kernel_counter(k, RW_CNT_EMITTED);
    o.ringbuf_full = impl_->kernel_counter(k, RW_CNT_RINGBUF_FULL);
    o.filtered = impl_->kernel_counter(k, RW_CNT_FILTERED);
  }
  out.invalid_records = impl_->invalid_records;
  out.http_timeouts = impl_->http_timeouts;
  out.http_evicted = impl_->kernel_counter(RW_KIND_HTTP, RW_CNT_EVICTED);
  out.http_slot_busy = impl_->kernel_counter(RW_KIND_HTTP, RW_CNT_SLOT_BUSY);
  out.priv_untracked = impl_->kernel_counter(RW_KIND_PRIV, RW_CNT_UNTRACKED);
  return out;
}

uint64_t EbpfSource::Impl::take_losses(size_t concern, int cpu, int kind, int counter, uint64_t max) {
  const uint64_t now = load_counter(concerns[concern].counters, cpu, kind, counter);
  uint64_t& seen = reported[concern][(cpu * RW_KIND_COUNT + kind) * RW_CNT_COUNT + counter];
  const uint64_t lost = std::min(now > seen ? now - seen : 0, max);
  seen += lost;
  return lost;
}

uint32_t EbpfSource::Impl::read_lost_seq() const {
  if (!lost_seq) return priv_reported_seq;
  return static_cast<uint32_t>(load_acquire(lost_seq));
}

// Why the kernel lost records, per counter (only the loss counters).
constexpr std::pair<int, const char*> kKernelLosses[] = {
    {RW_CNT_RINGBUF_FULL, "ringbuf_full"},
    // A request whose pending slot was contended is never tracked: its exchange is lost.
    {RW_CNT_SLOT_BUSY, "http_slot_busy"},
    // A privilege change whose old creds the kernel gave no storage: never reported.
    {RW_CNT_UNTRACKED, "untracked"}};

void EbpfSource::Impl::report_priv_losses(uint32_t seq) {
  const int32_t due = static_cast<int32_t>(seq - priv_reported_seq);
  if (due <= 0) return;  // an HTTP record carries its request's older value
  uint64_t left = static_cast<uint64_t>(due);
  for (auto [counter, reason] : kKernelLosses) {
    uint64_t lost = 0;
    for (size_t i = 0; i < concerns.size(); i++)
      for (int cpu = 0; cpu < ncpus; cpu++) lost += take_losses(i, cpu, RW_KIND_PRIV, counter, left - lost);
    left -= lost;
    priv_reported_seq += static_cast<uint32_t>(lost);
    if (lost > 0) emitter->report_lost("kernel", reason, kKindNames[RW_KIND_PRIV], -1, lost);
  }
}

void EbpfSource::Impl::report_losses() {
  for (size_t i = 0; i < concerns.size(); i++) {
    for (int cpu = 0; cpu < ncpus; cpu++) {
      for (int k = 0; k < RW_KIND_COUNT; k++) {
        if (k == RW_KIND_PRIV) continue;  // in seq order, below
        for (auto [counter, reason] : kKernelLosses) {
          if (uint64_t lost = take_losses(i, cpu, k, counter); lost > 0)
            emitter->report_lost("kernel", reason, kKindNames[k], cpu, lost);
        }
      }
    }
  }
  // Privilege losses with no record after them yet: only those settled (see priv_settled_seq);
  // a record after a loss reports it sooner, in order.
  if (static_cast<int64_t>(load_acquire(ring_consumer) - settled_prod) >= 0) {
    report_priv_losses(priv_settled_seq);
    priv_settled_seq = read_lost_seq();
    settled_prod = load_acquire(ring_producer);
  }
  // Records the kernel submitted that could not be decoded (short, wrong layout or kind).
  if (invalid_records > reported_invalid) {
    emitter->report_lost("capture", "invalid_record", "unknown", -1, invalid_records - reported_invalid);
    reported_invalid = invalid_records;
  }
}

bool EbpfSource::pump(Emitter& out, std::chrono::milliseconds budget) {
  Impl& s = *impl_;
  uint64_t start = s.clock.mono_ns();
  s.deadline_ns = start + static_cast<uint64_t>(std::max<int64_t>(budget.count(), 0)) * 1'000'000ULL;
  s.emitter = &out;
  const uint64_t poll_ns = static_cast<uint64_t>(s.options.poll_interval.count()) * 1'000'000ULL;
  // An idle host backs off to 8x the interval (2 ms -> 16 ms: 500 wake-ups a second cost ~1 % of
  // a core), as long as the kernel ring holds that long at 64 MB/s, well above what the hooks
  // produce (8 MiB: 130 ms); the first record brings the interval back.
  const uint64_t holds_ns = static_cast<uint64_t>(s.options.ring_buffer_bytes) * 1000 / 64;
  const uint64_t idle_ns = std::max(poll_ns, std::min(8 * poll_ns, holds_ns));
  for (;;) {
    s.budget_exhausted = false;
    s.consumed_in_call = 0;
    ring_buffer__consume(s.ring);  // negative only when on_record stopped at the deadline
    s.report_losses();
    uint64_t now = s.clock.mono_ns();
    if (s.slots && now >= s.next_sweep_ns) {
      s.sweep_http(now);
      uint64_t timeout_ns = static_cast<uint64_t>(s.options.http_request_timeout.count()) * 1'000'000ULL;
      s.next_sweep_ns = now + std::clamp<uint64_t>(timeout_ns / 4, 10'000'000ULL, 1'000'000'000ULL);
    }
    if (now >= s.deadline_ns || s.budget_exhausted) break;
    if (s.consumed_in_call == 0) {
      const uint64_t nap = std::min(idle_ns, poll_ns << s.empty_polls);
      s.empty_polls = std::min(s.empty_polls + 1, 3u);
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::min(s.deadline_ns - now, nap)));
    } else {
      s.empty_polls = 0;
    }
  }
  s.emitter = nullptr;
  return true;
}

void EbpfSource::finish(Emitter& out) {
  Impl& s = *impl_;
  s.emitter = &out;
  s.deadline_ns = s.clock.mono_ns() + 20'000'000ULL;
  s.budget_exhausted = false;
  s.consumed_in_call = 0;
  ring_buffer__consume(s.ring);
  s.report_losses();
  s.report_priv_losses(s.read_lost_seq());
  s.emitter = nullptr;
}

int EbpfSource::Impl::on_record(void* ctx, void* data, size_t size) {
  auto* self = static_cast<Impl*>(ctx);
  self->handle_record(data, size);
  // Checking the clock every 64 records keeps the deadline without a clock read per record.
  if ((++self->consumed_in_call & 63) == 0 && self->clock.mono_ns() >= self->deadline_ns) {
    self->budget_exhausted = true;
    return -EINTR;  // libbpf commits this record and stops
  }
  return 0;
}

namespace {

void fill_envelope(schema::Event::Builder ev, const rw_envelope& e) {
  ev.setMonoNs(e.mono_ns);
  ev.setPid(e.pid);
  ev.setTid(e.tid);
  ev.setThreadStartNs(e.thread_start_ns);
  ev.setPpid(e.ppid);
  ev.setUid(e.uid);
  ev.setEuid(e.euid);
  ev.setGid(e.gid);
  ev.setComm(bytes(bounded(e.comm, RW_COMM_LEN)));
  ev.setCgroupId(e.cgroup_id);
  ev.setParentComm(bytes(bounded(e.pcomm, RW_COMM_LEN)));
}

size_t addr_len(uint16_t family) { return family == 10 ? 16 : 4; }

// Method and target from the first request line; status from "HTTP/x.y NNN".
struct HttpHead {
  std::string_view method, target;
  uint16_t status = 0;
};

HttpHead parse_head(std::string_view req, std::string_view resp) {
  HttpHead h;
  size_t sp = req.find(' ');
  if (sp != std::string_view::npos && sp <= 16) {
    h.method = req.substr(0, sp);
    size_t end = req.find_first_of(" \r\n", sp + 1);
    h.target = req.substr(sp + 1, (end == std::string_view::npos ? req.size() : end) - sp - 1);
  }
  size_t rs = resp.find(' ');
  if (resp.starts_with("HTTP/") && rs != std::string_view::npos && rs + 4 <= resp.size()) {
    uint16_t v = 0;
    bool ok = true;
    for (size_t i = rs + 1; i < rs + 4; i++) {
      if (resp[i] < '0' || resp[i] > '9') ok = false;
      v = v * 10 + (resp[i] - '0');
    }
    if (ok) h.status = v;
  }
  return h;
}

}  // namespace

void EbpfSource::Impl::handle_http(const rw_http& rec, std::string_view req,
                                   std::string_view resp, bool timed_out_by_sweep) {
  if (timed_out_by_sweep) resp = {};
  HttpHead head = parse_head(req, resp);
  bool timed_out = timed_out_by_sweep || rec.end != RW_HTTP_COMPLETE;
  Priority prio = head.status >= 500 ? Priority::HIGH : Priority::NORMAL;
  auto& uc = user[RW_KIND_HTTP];
  uc.received++;
  bool ok = emitter->emit(prio, [&](schema::Event::Builder ev) {
    fill_envelope(ev, rec.env);
    auto h = ev.getKind().initHttp();
    h.setMethod(kj::StringPtr(std::string(head.method).c_str()));
    h.setTarget(bytes(head.target));
    h.setStatus(head.status);
    h.setRequest(bytes(req));
    h.setResponse(bytes(resp));
    h.setRequestSize(rec.conn.req_size);
    h.setResponseSize(timed_out ? 0 : rec.resp_size);
    h.setLatencyNs(timed_out ? 0 : rec.latency_ns);
    h.setTimedOut(timed_out);
    h.setTls(rec.conn.tls != 0);
    h.setFamily(rec.conn.family);
    if (rec.conn.family == 2 || rec.conn.family == 10) {
      h.setLocalAddr(bytes(rec.conn.laddr, addr_len(rec.conn.family)));
      h.setRemoteAddr(bytes(rec.conn.raddr, addr_len(rec.conn.family)));
    }
    h.setLocalPort(rec.conn.lport);
    h.setRemotePort(rec.conn.rport);
    h.setRole(rec.conn.role == RW_ROLE_SERVER ? "server" : "client");
  });
  if (!ok) uc.emit_rejected++;
}

void EbpfSource::Impl::sweep_http(uint64_t now_ns) {
  const uint64_t timeout_ns = static_cast<uint64_t>(options.http_request_timeout.count()) * 1'000'000ULL;
  for (uint32_t i = 0; i < RW_HTTP_SLOTS; i++) {
    rw_http_slot& slot = slots[i];
    std::atomic_ref<__u64> state(slot.state);
    if (state.load(std::memory_order_acquire) != RW_SLOT_LIVE) continue;
    uint64_t start = std::atomic_ref<__u64>(slot.conn.start_ns).load(std::memory_order_relaxed);
    if (now_ns < start || now_ns - start < timeout_ns) continue;
    __u64 expected = RW_SLOT_LIVE;
    if (!state.compare_exchange_strong(expected, RW_SLOT_BUSY, std::memory_order_acq_rel)) continue;
    // Between the checks above and taking the slot, the kernel may have completed the stale
    // request and parked a fresh one (LIVE -> ... -> LIVE): judge the age again now that the
    // slot is ours, and hand a fresh request back untouched.
    start = std::atomic_ref<__u64>(slot.conn.start_ns).load(std::memory_order_relaxed);
    if (now_ns < start || now_ns - start < timeout_ns) {
      state.store(RW_SLOT_LIVE, std::memory_order_release);
      continue;
    }
    // We own the slot: copy it out, then free it for the kernel.
    rw_http rec{};
    memcpy(&rec.env, &slot.env, sizeof(rec.env));
    memcpy(&rec.conn, &slot.conn, sizeof(rec.conn));
    uint32_t req_len = std::min<uint32_t>(rec.conn.req_len, RW_HTTP_MAX);
    std::string req(slot.req, req_len);
    state.store(RW_SLOT_FREE, std::memory_order_release);
    rec.end = RW_HTTP_TIMEOUT;
    http_timeouts++;
    handle_http(rec, req, {}, true);
  }
}

void EbpfSource::Impl::handle_record(const void* data, size_t size) {
  if (size < sizeof(rw_envelope)) {
    invalid_records++;
    return;
  }
  rw_envelope env;
  memcpy(&env, data, sizeof(env));
  if (env.version != RW_LAYOUT_VERSION) {  // programs and loader are built together: a bug
    invalid_records++;
    return;
  }
  // A privilege change was lost since the last record: say so before this one (an HTTP record
  // carries its request's older value and never moves it back).
  if (static_cast<int32_t>(env.priv_lost_seq - priv_reported_seq) > 0) report_priv_losses(env.priv_lost_seq);
  auto need = [&](size_t n) {
    if (size >= n) return true;
    invalid_records++;
    return false;
  };
  switch (env.kind) {
    case RW_KIND_EXEC: {
      if (!need(sizeof(rw_exec))) return;
      const auto& r = *static_cast<const rw_exec*>(data);
      user[RW_KIND_EXEC].received++;
      uint32_t argv_len = std::min<uint32_t>(r.argv_len, RW_ARGV_MAX);
      std::string_view argv(r.argv, argv_len);
      std::vector<std::string_view> args;
      while (!argv.empty()) {
        size_t nul = argv.find('\0');
        args.push_back(argv.substr(0, nul));
        if (nul == std::string_view::npos) break;
        argv.remove_prefix(nul + 1);
      }
      // cwd: 64-byte cells, leaf first; > 8 means deeper than we walked.
      constexpr size_t kCell = RW_PATH_MAX / 8;
      std::string cwd;
      uint32_t n = std::min<uint32_t>(r.cwd_len, 9);
      if (n > 8) cwd = "...";
      for (uint32_t i = std::min<uint32_t>(n, 8); i > 0; i--) {
        cwd += '/';
        cwd += bounded(r.cwd + (i - 1) * kCell, kCell);
      }
      if (cwd.empty()) cwd = "/";
      bool ok = emitter->emit(Priority::NORMAL, [&](schema::Event::Builder ev) {
        fill_envelope(ev, r.env);
        auto e = ev.getKind().initProcessExec();
        e.setFilename(bytes(bounded(r.filename, std::min<uint32_t>(r.filename_len + 1, RW_PATH_MAX))));
        auto list = e.initArgv(args.size());
        for (size_t i = 0; i < args.size(); i++) list.set(i, bytes(args[i]));
        e.setCwd(bytes(cwd));
        e.setArgvTruncated(r.argv_total > argv_len);
      });
      if (!ok) user[RW_KIND_EXEC].emit_rejected++;
      return;
    }
    case RW_KIND_EXIT: {
      if (!need(sizeof(rw_exit))) return;
      const auto& r = *static_cast<const rw_exit*>(data);
      user[RW_KIND_EXIT].received++;
      bool ok = emitter->emit(Priority::NORMAL, [&](schema::Event::Builder ev) {
        fill_envelope(ev, r.env);
        ev.getKind().initProcessExit().setExitCode(r.exit_code);
      });
      if (!ok) user[RW_KIND_EXIT].emit_rejected++;
      return;
    }
    case RW_KIND_FILE_OPEN: {
      // Compact: the header, then path_len path bytes (NUL-terminated); read no further than
      // the record reaches.
      constexpr size_t kPathAt = offsetof(rw_file_open, path);
      if (!need(kPathAt)) return;
      const auto& r = *static_cast<const rw_file_open*>(data);
      size_t path_room = std::min<size_t>(size - kPathAt, RW_PATH_MAX);
      std::string_view path = bounded(static_cast<const char*>(data) + kPathAt,
                                      std::min<size_t>(r.path_len, path_room));
      user[RW_KIND_FILE_OPEN].received++;
      bool ok = emitter->emit(Priority::LOW, [&](schema::Event::Builder ev) {
        fill_envelope(ev, r.env);
        auto f = ev.getKind().initFileOpen();
        f.setPath(bytes(path));
        f.setFlags(r.flags);
        f.setMode(r.mode);
        f.setResult(r.result);
        f.setSyscall(r.syscall == RW_OPENAT2 ? "openat2"
                     : r.syscall == RW_OPEN  ? "open"
                     : r.syscall == RW_CREAT ? "creat"
                                             : "openat");
      });
      if (!ok) user[RW_KIND_FILE_OPEN].emit_rejected++;
      return;
    }
    case RW_KIND_CONNECT:
    case RW_KIND_ACCEPT: {
      if (!need(sizeof(rw_net))) return;
      const auto& r = *static_cast<const rw_net*>(data);
      user[env.kind].received++;
      bool ok = emitter->emit(Priority::NORMAL, [&](schema::Event::Builder ev) {
        fill_envelope(ev, r.env);
        auto n = env.kind == RW_KIND_CONNECT ? ev.getKind().initNetConnect() : ev.getKind().initNetAccept();
        n.setFamily(r.family);
        if (r.family == 2 || r.family == 10) {
          n.setSrcAddr(bytes(r.saddr, addr_len(r.family)));
          n.setDstAddr(bytes(r.daddr, addr_len(r.family)));
        }
        n.setSrcPort(r.sport);
        n.setDstPort(r.dport);
        n.setResult(r.result);
      });
      if (!ok) user[env.kind].emit_rejected++;
      return;
    }
    case RW_KIND_PRIV: {
      if (!need(sizeof(rw_priv))) return;
      const auto& r = *static_cast<const rw_priv*>(data);
      user[RW_KIND_PRIV].received++;
      const auto &o = r.old_creds, &n = r.new_creds;
      const CredIds before{o.uid, o.euid, o.gid, o.egid}, after{n.uid, n.euid, n.gid, n.egid};
      bool gained_caps = (n.cap_effective & ~o.cap_effective) != 0;
      Priority prio = gains_root_uid(before, after) || gained_caps || gains_group_root(before, after)
                          ? Priority::CRITICAL
                          : Priority::NORMAL;
      bool ok = emitter->emit(prio, [&](schema::Event::Builder ev) {
        fill_envelope(ev, r.env);
        auto p = ev.getKind().initPrivilegeChange();
        p.setSyscall(priv_syscall_name(r.syscall));
        p.setOldUid(o.uid);
        p.setNewUid(n.uid);
        p.setOldEuid(o.euid);
        p.setNewEuid(n.euid);
        p.setOldGid(o.gid);
        p.setNewGid(n.gid);
        p.setOldEgid(o.egid);
        p.setNewEgid(n.egid);
        p.setOldCaps(o.cap_effective);
        p.setNewCaps(n.cap_effective);
        p.setResult(r.result);
        if (r.syscall == RW_PRIV_EXEC)
          p.setFilename(bytes(bounded(r.filename, std::min<uint32_t>(r.filename_len + 1, RW_PATH_MAX))));
      });
      if (!ok) user[RW_KIND_PRIV].emit_rejected++;
      return;
    }
    case RW_KIND_HTTP: {
      // Compact: the header, then req_len request bytes, then resp_len response bytes.
      if (!need(sizeof(rw_http))) return;
      const auto& r = *static_cast<const rw_http*>(data);
      size_t req_len = std::min<uint32_t>(r.conn.req_len, RW_HTTP_MAX);
      size_t resp_len = std::min<uint32_t>(r.resp_len, RW_HTTP_MAX);
      if (!need(sizeof(rw_http) + req_len + resp_len)) return;
      const char* d = static_cast<const char*>(data) + sizeof(rw_http);
      handle_http(r, std::string_view(d, req_len), std::string_view(d + req_len, resp_len), false);
      return;
    }
    default:
      invalid_records++;
      return;
  }
}

}  // namespace ringward::capture
