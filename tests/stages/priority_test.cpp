// Priority rules: one case per row of the table in processor/stages/priority.cpp.
#include "processor/stages/priority.h"

#include <capnp/message.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <memory>

namespace ringward::processor {
namespace {

using schema::Priority;

class PriorityTest : public ::testing::Test {
 protected:
  // Held by pointer: MallocMessageBuilder's destructor may throw, a test fixture's may not.
  std::unique_ptr<capnp::MallocMessageBuilder> message_ =
      std::make_unique<capnp::MallocMessageBuilder>();
  schema::Event::Builder ev_ = message_->initRoot<schema::Event>();
  Priority priority() { return assign_priority(ev_.asReader()); }
};

TEST_F(PriorityTest, VerdictMakesAnythingCritical) {
  ev_.getKind().initFileOpen();
  EXPECT_EQ(priority(), Priority::LOW);
  ev_.setVerdict(schema::Verdict::SUSPICIOUS);
  EXPECT_EQ(priority(), Priority::CRITICAL);
  ev_.setVerdict(schema::Verdict::MALICIOUS);
  EXPECT_EQ(priority(), Priority::CRITICAL);
  ev_.setVerdict(schema::Verdict::CLEAN);
  EXPECT_EQ(priority(), Priority::LOW);
  EXPECT_EQ(assign_priority(ev_.asReader(), schema::Verdict::MALICIOUS), Priority::CRITICAL);
}

TEST_F(PriorityTest, IncomingPriorityFieldIsIgnored) {
  ev_.getKind().initFileOpen();
  ev_.setPriority(Priority::CRITICAL);  // forged by whoever wrote the record
  EXPECT_EQ(priority(), Priority::LOW);
}

TEST_F(PriorityTest, HttpRules) {
  auto http = ev_.getKind().initHttp();
  http.setStatus(200);
  EXPECT_EQ(priority(), Priority::NORMAL);
  for (uint16_t s : {500, 502, 503, 401, 403}) {
    http.setStatus(s);
    EXPECT_EQ(priority(), Priority::HIGH) << s;
  }
  http.setStatus(404);
  EXPECT_EQ(priority(), Priority::NORMAL);
  http.setBusinessError("insufficient_funds");
  EXPECT_EQ(priority(), Priority::HIGH);
  http.setBusinessError("");
  http.setStatus(0);
  http.setTimedOut(true);
  EXPECT_EQ(priority(), Priority::HIGH);
}

TEST_F(PriorityTest, ProcessAndFileRules) {
  ev_.getKind().initPrivilegeChange();
  EXPECT_EQ(priority(), Priority::HIGH);
  ev_.getKind().initProcessExec();
  EXPECT_EQ(priority(), Priority::NORMAL);
  ev_.getKind().initProcessExit().setExitCode(1 << 8);
  EXPECT_EQ(priority(), Priority::LOW);
  ev_.getKind().initProcessExit().setExitCode(11);  // SIGSEGV
  EXPECT_EQ(priority(), Priority::NORMAL);
  ev_.getKind().initFileOpen().setResult(3);
  EXPECT_EQ(priority(), Priority::LOW);
  ev_.getKind().initFileOpen().setResult(-EACCES);
  EXPECT_EQ(priority(), Priority::NORMAL);
  ev_.getKind().initNetConnect();
  EXPECT_EQ(priority(), Priority::NORMAL);
  ev_.getKind().initLost();
  EXPECT_EQ(priority(), Priority::HIGH);
  ev_.getKind().initValidationFailure();
  EXPECT_EQ(priority(), Priority::HIGH);
  ev_.getKind().initEndpointHealth().setState("unhealthy");
  EXPECT_EQ(priority(), Priority::HIGH);
  ev_.getKind().initEndpointHealth().setState("healthy");
  EXPECT_EQ(priority(), Priority::LOW);
}

}  // namespace
}  // namespace ringward::processor
