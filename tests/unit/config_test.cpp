// Configuration: the embedded default is valid; errors name file, line and key; env overrides.
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "common/config.h"

namespace ringward {
namespace {

TEST(Config, EmbeddedDefaultIsValid) {
  auto r = load_config("");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->capture.source, "ebpf");
  EXPECT_EQ(r.config->processor.max_events_per_second, 10000);
  ASSERT_EQ(r.config->shipper.sinks.size(), 1u);
  EXPECT_EQ(r.config->shipper.sinks[0].type, "file");
}

TEST(Config, UnknownKeyNamesFileLineAndKey) {
  auto r = load_config_text("[capture]\nsource = \"synthetic\"\nsorce = 1\n[[shipper.sinks]]\ntype=\"file\"\npath=\"/x\"\n", "my.toml");
  ASSERT_FALSE(r.config);
  EXPECT_EQ(r.error, "my.toml:3: key 'capture.sorce': unknown key");
}

TEST(Config, WrongTypeAndRange) {
  auto r = load_config_text("[processor]\nmax_events_per_second = \"many\"\n", "a.toml");
  ASSERT_FALSE(r.config);
  EXPECT_NE(r.error.find("a.toml:2: key 'processor.max_events_per_second': expected an integer"), std::string::npos) << r.error;
  r = load_config_text("[processor]\nmax_events_per_second = -5\n", "a.toml");
  EXPECT_NE(r.error.find("out of range"), std::string::npos) << r.error;
  r = load_config_text("[capture]\nsource = \"magic\"\n", "a.toml");
  EXPECT_NE(r.error.find("a.toml:2: key 'capture.source': 'magic' is not one of: ebpf, synthetic"), std::string::npos) << r.error;
  r = load_config_text("[supervisor]\nevent_buffer_size = 100000\n", "a.toml");
  EXPECT_NE(r.error.find("power of two"), std::string::npos) << r.error;
}

// Capture filters: the kernel's limits and what a name, uid or cgroup path can be are checked
// when the file is read, not when capture starts.
TEST(Config, CaptureFiltersAreChecked) {
  auto r = load_config_text(
      "[capture]\ninclude_uids = [0, 1000]\nexclude_uids = [65534]\n"
      "include_cgroups = [\"/system.slice\"]\nexclude_cgroups = [\"/system.slice/cron.service\"]\n"
      "[[shipper.sinks]]\ntype = \"file\"\npath = \"/tmp/x.ndjson\"\n",
      "f.toml");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->capture.include_uids, (std::vector<int64_t>{0, 1000}));
  EXPECT_EQ(r.config->capture.exclude_uids, (std::vector<int64_t>{65534}));
  EXPECT_EQ(r.config->capture.include_cgroups, (std::vector<std::string>{"/system.slice"}));
  EXPECT_EQ(r.config->capture.exclude_cgroups, (std::vector<std::string>{"/system.slice/cron.service"}));
  auto err = [](const std::string& text) {
    auto x = load_config_text("[capture]\n" + text + "\n", "f.toml");
    return x.config ? std::string("(accepted)") : x.error;
  };
  EXPECT_NE(err("exclude_uids = [-1]").find("f.toml:2: key 'capture.exclude_uids': -1 is not a uid"), std::string::npos);
  EXPECT_NE(err("include_uids = [4294967295]").find("is not a uid"), std::string::npos);
  EXPECT_NE(err("include_comm = [\"a-name-longer-than-15\"]").find("1-15 bytes"), std::string::npos);
  EXPECT_NE(err("exclude_comm = [\"\"]").find("1-15 bytes"), std::string::npos);
  EXPECT_NE(err("include_cgroups = [\"system.slice\"]").find("from '/'"), std::string::npos);
  EXPECT_NE(err("exclude_cgroups = [\"/a/../b\"]").find("'..'"), std::string::npos);
  EXPECT_NE(err("include_cgroups = [\"/system.slice/.\"]").find("'.'"), std::string::npos);
  EXPECT_NE(err("exclude_cgroups = [\"/\"]").find("root cgroup"), std::string::npos);
  EXPECT_EQ(err("include_cgroups = [\"/\"]").find("root cgroup"), std::string::npos);
  EXPECT_NE(err("include_cgroups = [\"/" + std::string(5000, 'a') + "\"]").find("5001 bytes"), std::string::npos);
  EXPECT_NE(err("exclude_uids = [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]").find("at most 16 entries, got 17"),
            std::string::npos);
  EXPECT_NE(err("include_cgroups = [1]").find("wrong type"), std::string::npos);
}

TEST(Config, SinkKeysAreCheckedPerType) {
  auto r = load_config_text("[[shipper.sinks]]\ntype = \"splunk_hec\"\nendpoint = \"http://x\"\n", "s.toml");
  ASSERT_FALSE(r.config);
  EXPECT_NE(r.error.find("key 'shipper.sinks.token': required"), std::string::npos) << r.error;
  r = load_config_text("[[shipper.sinks]]\ntype = \"file\"\npath = \"/x\"\nurl = \"nats://\"\n", "s.toml");
  EXPECT_NE(r.error.find("s.toml:4: key 'shipper.sinks.url': unknown key for a 'file' sink"), std::string::npos) << r.error;
}

TEST(Config, SyntaxErrorHasLineAndColumn) {
  auto r = load_config_text("[capture\n", "bad.toml");
  ASSERT_FALSE(r.config);
  EXPECT_EQ(r.error.rfind("bad.toml:1:", 0), 0u) << r.error;
}

TEST(Config, EnvironmentOverridesTheFile) {
  setenv("RINGWARD_PROCESSOR_MAX_EVENTS_PER_SECOND", "1234", 1);
  setenv("RINGWARD_CAPTURE_SOURCE", "synthetic", 1);
  auto r = load_config("");
  unsetenv("RINGWARD_PROCESSOR_MAX_EVENTS_PER_SECOND");
  unsetenv("RINGWARD_CAPTURE_SOURCE");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->processor.max_events_per_second, 1234);
  EXPECT_EQ(r.config->capture.source, "synthetic");
  setenv("RINGWARD_PROCESSOR_BURST", "lots", 1);
  r = load_config("");
  unsetenv("RINGWARD_PROCESSOR_BURST");
  ASSERT_FALSE(r.config);
  EXPECT_NE(r.error.find("RINGWARD_PROCESSOR_BURST"), std::string::npos) << r.error;
}

TEST(Config, MissingFileIsAClearError) {
  auto r = load_config("/nonexistent/ringward.toml");
  ASSERT_FALSE(r.config);
  EXPECT_EQ(r.error, "/nonexistent/ringward.toml: cannot read the file");
}

}  // namespace
}  // namespace ringward
