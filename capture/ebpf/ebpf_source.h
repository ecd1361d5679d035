// The eBPF event source: loads the CO-RE programs of bpf/, attaches them, and turns the kernel's
// fixed-layout ring-buffer records into schema events through the Emitter. After create()
// returns, pump() needs no new kernel objects and no bpf() calls (ring buffer, counters and the
// pending-HTTP table are all mmapped), so the process may drop every capability and install
// seccomp. Trust: capture process; privileged only until create() returns.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "capture/ebpf/cgroup_filter.h"
#include "capture/source.h"
#include "common/clock.h"

namespace ringward::capture {

struct EbpfOptions {
  // The agent's own processes, never captured (the shipper's HTTP would otherwise feed back).
  std::vector<uint32_t> exclude_pids;
  // Also the children of this tgid (the supervisor) whose name starts with the prefix; 0: none.
  // The prefix alone is never trusted: any process can rename itself.
  uint32_t exclude_children_of = 0;
  std::string exclude_comm_prefix = "ringward-";
  // Comm filters (exact, up to 15 bytes each, at most 64 each). Non-empty include: only those.
  std::vector<std::string> include_comms;
  std::vector<std::string> exclude_comms;
  std::vector<uint32_t> include_uids;          // at most 16; non-empty: only those
  std::vector<uint32_t> exclude_uids;          // at most 16
  std::vector<CgroupSubtree> include_cgroups;  // at most 16; non-empty: only tasks under one
  std::vector<CgroupSubtree> exclude_cgroups;  // at most 16
  bool http_capture = true;
  bool tls_uprobes = true;                     // needs http_capture
  std::string libssl_path;                     // empty: the usual copies + those processes map
  std::chrono::milliseconds http_request_timeout{30000};
  uint32_t max_argv_bytes = 1024;              // capped at 4096
  // Also report a client-side exchange whose peer is on loopback (the server side already
  // reports it; off means each local exchange is reported once).
  bool http_client_loopback = false;
  uint32_t ring_buffer_bytes = 8u << 20;       // power of two, >= page size
  std::chrono::milliseconds poll_interval{2};  // pump's sleep when the ring is empty
};

// Kinds, in the order of EbpfCounters::kinds.
enum class EbpfKind : uint32_t { exec, exit, file_open, connect, accept, privilege, http, count };
const char* ebpf_kind_name(EbpfKind kind);

struct EbpfKindCounters {
  uint64_t kernel_emitted = 0;  // records the kernel submitted
  uint64_t ringbuf_full = 0;    // kernel reservation failures (lost, reported via report_lost)
  uint64_t filtered = 0;        // dropped in-kernel by the configured filters (policy)
  uint64_t received = 0;        // records decoded by pump()
  uint64_t emit_rejected = 0;   // Emitter::emit returned false (capture policy, counted there)
};

struct EbpfCounters {
  std::array<EbpfKindCounters, static_cast<size_t>(EbpfKind::count)> kinds{};
  uint64_t invalid_records = 0;  // short or unknown records (counted, skipped)
  uint64_t http_timeouts = 0;    // pending requests completed by the sweep
  uint64_t http_evicted = 0;     // pending requests displaced by a colliding request
  uint64_t http_slot_busy = 0;   // requests not tracked because their slot was contended
  uint64_t priv_untracked = 0;   // privilege changes lost: no room to save the old creds
  const EbpfKindCounters& operator[](EbpfKind k) const {
    return kinds[static_cast<size_t>(k)];
  }
};

class EbpfSource;

// Expected failure of create(): `error` names what is missing or what failed.
struct EbpfOpenResult {
  std::unique_ptr<EbpfSource> source;
  std::string error;
  explicit operator bool() const { return source != nullptr; }
};

class EbpfSource final : public EventSource {
 public:
  // Checks BTF, program and map types and tracefs (mounting it when absent), then opens, loads
  // and attaches every concern. Optional hooks (TLS uprobes, tracepoints this kernel lacks) that
  // fail are logged and left out of active_hooks(); a failing mandatory concern fails create().
  static EbpfOpenResult create(const EbpfOptions& options, const Clock& clock);

  ~EbpfSource() override;
  EbpfSource(const EbpfSource&) = delete;
  EbpfSource& operator=(const EbpfSource&) = delete;

  bool pump(Emitter& out, std::chrono::milliseconds budget) override;
  // One more drain, then every loss counted so far, privilege losses included (nothing follows
  // that they could overtake).
  void finish(Emitter& out) override;
  std::vector<std::string> active_hooks() const override;
  // Kernel counters are read from mmapped memory; cheap, callable any time.
  EbpfCounters counters() const;

  struct Impl;

 private:
  explicit EbpfSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringward::capture
