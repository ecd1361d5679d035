// Credential continuity (RW-PRIV-003): a thread seen unprivileged (real and effective uid
// non-root) that shows up as root with no privilege change reported for it is flagged once; a
// reported change, a set-uid exec, an already privileged thread, a reused tid, an HTTP exchange
// (which carries its request's identity), a loss report of a privilege change and an unknown
// thread identity never are. Through the engine on real Cap'n Proto events, plus properties of
// the tracker.
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <rapidcheck.h>

#include "processor/detect/cred_tracker.h"
#include "tests/detect/detect_test_util.h"

namespace ringward::detect {
namespace {

using testing::has;
using testing::joined;

enum class Kind { open, exec, priv, http, lost };

struct Stream {
  Engine engine = [] {
    auto e = Engine::load_default();
    if (!e) std::abort();
    return std::move(e).value();
  }();

  // An event of thread (tid, start_ns) with real uid `uid` and effective uid `euid` (-1: = uid).
  // A `lost` event is about `lost_kind`. A privilege change leaves the thread with `new_uid` and
  // `new_euid` (-1: the envelope's ids, as a set*id record written at the syscall's exit).
  std::vector<Finding> event(Kind kind, uint32_t tid, uint64_t start_ns, uint32_t uid, int64_t euid = -1,
                             const char* lost_kind = "privilege_change", int64_t new_uid = -1,
                             int64_t new_euid = -1) {
    capnp::MallocMessageBuilder msg;
    auto ev = msg.initRoot<schema::Event>();
    ev.setPid(tid);
    ev.setTid(tid);
    ev.setThreadStartNs(start_ns);
    ev.setUid(uid);
    ev.setEuid(euid < 0 ? uid : static_cast<uint32_t>(euid));
    const std::string_view comm = "a.out";
    ev.setComm(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(comm.data()), comm.size()));
    switch (kind) {
      case Kind::open: ev.initKind().initFileOpen().setPath(capnp::Data::Reader(
                           reinterpret_cast<const kj::byte*>("/tmp/x"), 6)); break;
      case Kind::exec: ev.initKind().initProcessExec().setFilename(capnp::Data::Reader(
                           reinterpret_cast<const kj::byte*>("/bin/id"), 7)); break;
      case Kind::priv: {
        auto p = ev.initKind().initPrivilegeChange();
        p.setSyscall("setresuid");
        p.setOldUid(uid);
        p.setNewUid(new_uid < 0 ? uid : static_cast<uint32_t>(new_uid));
        p.setNewEuid(new_euid >= 0 ? static_cast<uint32_t>(new_euid)
                                   : euid < 0 ? uid : static_cast<uint32_t>(euid));
        break;
      }
      case Kind::http: ev.initKind().initHttp().setMethod("GET"); break;
      case Kind::lost: {
        auto l = ev.initKind().initLost();
        l.setStage("kernel");
        l.setReason("ringbuf_full");
        l.setEventKind(lost_kind);
        break;
      }
    }
    const kj::Array<capnp::word> words = capnp::messageToFlatArray(msg);
    capnp::FlatArrayMessageReader reader(words);
    std::vector<Finding> f;
    engine.inspect(reader.getRoot<schema::Event>(), f);
    return f;
  }
};

constexpr uint64_t kStart = 5'000'000'000ULL;

TEST(CredContinuity, RootWithNoChangeSeenIsFlaggedOncePerTransition) {
  Stream s;
  EXPECT_FALSE(has(s.event(Kind::exec, 100, kStart, 1000), "RW-PRIV-003"));
  EXPECT_FALSE(has(s.event(Kind::open, 100, kStart, 1000), "RW-PRIV-003"));
  auto f = s.event(Kind::exec, 100, kStart, 0);  // exploit, then execve("/bin/sh")
  EXPECT_TRUE(has(f, "RW-PRIV-003")) << joined(f);
  EXPECT_FALSE(has(s.event(Kind::open, 100, kStart, 0), "RW-PRIV-003"));
  // Back to a user and root again, unseen both times: a second transition, a second finding.
  EXPECT_FALSE(has(s.event(Kind::open, 100, kStart, 1000), "RW-PRIV-003"));
  EXPECT_TRUE(has(s.event(Kind::open, 100, kStart, 0), "RW-PRIV-003"));
}

TEST(CredContinuity, ReportedChangesAndOtherThreadsAreNotFlagged) {
  Stream s;
  // The kernel reported the change (sudo's setresuid): explained.
  s.event(Kind::open, 200, kStart, 1000);
  EXPECT_FALSE(has(s.event(Kind::priv, 200, kStart, 0), "RW-PRIV-003"));
  EXPECT_FALSE(has(s.event(Kind::exec, 200, kStart, 0), "RW-PRIV-003"));
  // The same tid, a later start: another thread that reused the number.
  s.event(Kind::open, 300, kStart, 1000);
  EXPECT_FALSE(has(s.event(Kind::open, 300, kStart + 1, 0), "RW-PRIV-003"));
  // Root giving up root is no escalation.
  s.event(Kind::open, 400, kStart, 0);
  EXPECT_FALSE(has(s.event(Kind::open, 400, kStart, 65534), "RW-PRIV-003"));
  // Identity unknown (a source without thread start times): never judged.
  s.event(Kind::open, 500, 0, 1000);
  EXPECT_FALSE(has(s.event(Kind::open, 500, 0, 0), "RW-PRIV-003"));
}

TEST(CredContinuity, HttpExchangesAndLossReportsNeverLeadToAFinding) {
  Stream s;
  // An exchange is stamped with its request's identity: it neither judges nor updates.
  s.event(Kind::open, 600, kStart, 1000);
  EXPECT_FALSE(has(s.event(Kind::http, 600, kStart, 0), "RW-PRIV-003"));
  EXPECT_FALSE(has(s.event(Kind::open, 600, kStart, 1000), "RW-PRIV-003"));
  // Events were lost (or capture restarted): the change may be among them.
  s.event(Kind::open, 700, kStart, 1000);
  s.event(Kind::lost, 0, 0, 0);
  EXPECT_FALSE(has(s.event(Kind::open, 700, kStart, 0), "RW-PRIV-003"));
  // Tracking resumes after the loss.
  s.event(Kind::open, 800, kStart, 1000);
  EXPECT_TRUE(has(s.event(Kind::open, 800, kStart, 0), "RW-PRIV-003"));
}

// The effective uid counts both ways: a thread holding euid 0 was privileged already (a 32-bit
// set-uid helper calling setuid32(0) is no escalation), and a thread gaining only euid 0 did
// escalate. An exec may change the effective uid by itself (set-uid binary, reported on its
// own, possibly after the exec event): an exec is judged by the real uid only.
TEST(CredContinuity, EffectiveUidAndSetuidExecs) {
  Stream s;
  s.event(Kind::open, 100, kStart, 1000, 0);  // set-uid helper: real 1000, effective root
  EXPECT_FALSE(has(s.event(Kind::open, 100, kStart, 0, 0), "RW-PRIV-003"));
  s.event(Kind::open, 110, kStart, 1000);
  EXPECT_TRUE(has(s.event(Kind::open, 110, kStart, 1000, 0), "RW-PRIV-003"));  // euid only
  // sudo: its exec event (euid 0) may come before the exec's privilege report.
  s.event(Kind::open, 120, kStart, 1000);
  EXPECT_FALSE(has(s.event(Kind::exec, 120, kStart, 1000, 0), "RW-PRIV-003"));
  EXPECT_FALSE(has(s.event(Kind::priv, 120, kStart, 1000, 0), "RW-PRIV-003"));
  EXPECT_FALSE(has(s.event(Kind::open, 120, kStart, 1000, 0), "RW-PRIV-003"));
  // An exec's own report is written before the exec commits its ids: its envelope carries the
  // old ones, the record the new ones, and the thread's next events are root.
  s.event(Kind::open, 125, kStart, 1000);
  EXPECT_FALSE(has(s.event(Kind::priv, 125, kStart, 1000, 1000, "", 0, 0), "RW-PRIV-003"));
  EXPECT_FALSE(has(s.event(Kind::open, 125, kStart, 0, 0), "RW-PRIV-003"));
  // ... but an exec under a real uid 0 nobody reported is the exploit's shell.
  s.event(Kind::open, 130, kStart, 1000);
  EXPECT_TRUE(has(s.event(Kind::exec, 130, kStart, 0), "RW-PRIV-003"));
}

// Only a loss that can hide a privilege change forgets: a flood of lost file opens must not
// give a thread a window to escalate unseen.
TEST(CredContinuity, OnlyLossesThatCanHideAChangeForget) {
  Stream s;
  s.event(Kind::open, 140, kStart, 1000);
  s.event(Kind::lost, 0, 0, 0, -1, "file_open");
  s.event(Kind::lost, 0, 0, 0, -1, "http");
  EXPECT_TRUE(has(s.event(Kind::open, 140, kStart, 0), "RW-PRIV-003"));
  for (const char* kind : {"privilege_change", "", "unknown"}) {
    s.event(Kind::open, 150, kStart, 1000);
    s.event(Kind::lost, 0, 0, 0, -1, kind);
    EXPECT_FALSE(has(s.event(Kind::open, 150, kStart, 0), "RW-PRIV-003")) << "lost kind '" << kind << "'";
  }
  // An event the processor could not inspect (it forgets the same way).
  s.event(Kind::open, 160, kStart, 1000);
  s.engine.forget_thread_credentials();
  EXPECT_FALSE(has(s.event(Kind::open, 160, kStart, 0), "RW-PRIV-003"));
}

// Forgetting is a generation step, not a sweep of the table (the processor forgets at every
// event while its breaker is open): after many of them, nothing seen before counts, and what is
// seen afterwards does.
TEST(CredContinuity, ForgettingIsCompleteAfterManyForgets) {
  CredTracker t(64);
  CredSighting user{.tid = 7, .start_ns = 9, .uid = 1000, .euid = 1000};
  CredSighting root{.tid = 7, .start_ns = 9, .uid = 0, .euid = 0};
  for (int round = 0; round < 3; round++) {
    EXPECT_FALSE(t.observe(user));
    for (int i = 0; i < 100000; i++) t.forget_all();
    EXPECT_FALSE(t.observe(root)) << "round " << round;
    EXPECT_FALSE(t.observe(user));
    EXPECT_TRUE(t.observe(root)) << "round " << round;
  }
}

TEST(CredContinuity, DisabledWithoutItsRule) {
  std::string rules(Engine::default_rules_text());
  const std::string line = "detector = \"privesc_unobserved_root\"";
  const auto at = rules.find(line);
  ASSERT_NE(at, std::string::npos);
  const auto block = rules.rfind("[[rule]]", at);
  rules.erase(block, at + line.size() - block);
  auto e = Engine::load(rules, "test");
  ASSERT_TRUE(e) << e.error().to_string();
  Stream s{std::move(e).value()};
  s.event(Kind::open, 900, kStart, 1000);
  EXPECT_FALSE(has(s.event(Kind::open, 900, kStart, 0), "RW-PRIV-003"));
}

// Whatever the interleaving of threads, collisions in a tiny table and reused tids: if every uid
// change of a thread comes with a reported change, nothing is ever flagged.
TEST(CredContinuity, NoFindingWhenEveryChangeIsReported) {
  const bool ok = rc::check([](const std::vector<std::tuple<uint8_t, uint8_t, uint8_t, bool>>& steps) {
    CredTracker t(4);
    std::map<std::pair<uint32_t, uint64_t>, std::pair<uint32_t, uint32_t>> ids_of;
    for (auto [thread, uid_pick, euid_pick, exec] : steps) {
      CredSighting s;
      s.tid = thread % 5;
      s.start_ns = 1 + thread % 3;
      s.uid = uid_pick % 3 == 0 ? 0 : 1000 + uid_pick % 2;
      s.euid = euid_pick % 3 == 0 ? 0 : 1000 + euid_pick % 2;
      s.exec = exec;
      auto it = ids_of.find({s.tid, s.start_ns});
      s.reported_change = it != ids_of.end() && it->second != std::pair(s.uid, s.euid);
      ids_of[{s.tid, s.start_ns}] = {s.uid, s.euid};
      RC_ASSERT(!t.observe(s));
    }
  });
  EXPECT_TRUE(ok);
}

// ... and with changes unreported, a thread that was seen unprivileged right before (nothing
// evicted it in a table large enough) is flagged exactly when it turns up as root.
TEST(CredContinuity, UnreportedRootIsFlaggedWhenTheThreadWasJustSeen) {
  const bool ok = rc::check([](const std::vector<std::tuple<uint8_t, bool, bool>>& steps) {
    CredTracker t(1 << 12);
    std::map<uint32_t, std::pair<uint32_t, uint32_t>> last;
    for (auto [thread, root, effective_only] : steps) {
      CredSighting s;
      s.tid = 1 + thread % 16;
      s.start_ns = 42;
      s.uid = root && !effective_only ? 0 : 1000;
      s.euid = root ? 0 : 1000;
      auto it = last.find(s.tid);
      const bool expect = it != last.end() && it->second.first != 0 && it->second.second != 0 && root;
      RC_ASSERT(t.observe(s) == expect);
      last[s.tid] = {s.uid, s.euid};
    }
  });
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace ringward::detect
