// Rules file parsing and compilation errors: each mistake must name the file, line, rule and
// problem. Also checks the shipped rules file parses and matches the embedded copy.
#include <fstream>
#include <sstream>

#include "tests/detect/detect_test_util.h"

#ifndef RINGWARD_SOURCE_ROOT
#define RINGWARD_SOURCE_ROOT "."
#endif

namespace ringward::detect {
namespace {

std::string load_error(std::string_view text) {
  auto e = Engine::load(text, "test.toml");
  EXPECT_FALSE(e.has_value()) << text;
  return e ? std::string() : e.error().to_string();
}

constexpr std::string_view kHeader = "schema_version = 1\n";

TEST(RulesFile, ShippedFileIsTheEmbeddedOne) {
  std::ifstream in(RINGWARD_SOURCE_ROOT "/processor/rules/default_rules.toml", std::ios::binary);
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), Engine::default_rules_text());
  auto e = Engine::load(ss.str(), "default_rules.toml");
  ASSERT_TRUE(e.has_value()) << e.error().to_string();
  // Every rule has an id, a severity and a description; ids are unique (checked at load).
  for (const Rule& r : e->rules().rules) {
    EXPECT_FALSE(r.description.empty()) << r.id;
  }
  EXPECT_GE(e->rules().rules.size(), 25u);
}

TEST(RulesFile, TomlSyntaxErrorHasLine) {
  const std::string err = load_error("schema_version = 1\n[[rule]]\nid = \"X\nseverity=\"low\"\n");
  EXPECT_NE(err.find("test.toml:3"), std::string::npos) << err;
  EXPECT_NE(err.find("TOML syntax"), std::string::npos) << err;
}

TEST(RulesFile, BadPatternNamesRuleAndPattern) {
  const std::string err = load_error(std::string(kHeader) +
                                     "[[rule]]\nid = \"RW-BAD-1\"\nseverity = \"high\"\n"
                                     "description = \"d\"\nfield = \"command\"\n"
                                     "patterns = ['ok', 'broken(']\n");
  EXPECT_NE(err.find("rule RW-BAD-1"), std::string::npos) << err;
  EXPECT_NE(err.find("pattern 2 'broken('"), std::string::npos) << err;
  EXPECT_NE(err.find("test.toml:2"), std::string::npos) << err;
}

TEST(RulesFile, PatternMatchingEmptyIsRejected) {
  const std::string err = load_error(std::string(kHeader) +
                                     "[[rule]]\nid = \"E\"\nseverity = \"low\"\n"
                                     "description = \"d\"\nfield = \"path\"\npatterns = ['a*']\n");
  EXPECT_NE(err.find("rule E: pattern 1"), std::string::npos) << err;
}

struct BadCase {
  const char* toml;
  const char* expect;
};
class RulesFileErrors : public ::testing::TestWithParam<BadCase> {};
TEST_P(RulesFileErrors, ClearMessage) {
  const std::string err = load_error(GetParam().toml);
  EXPECT_NE(err.find(GetParam().expect), std::string::npos) << err;
  EXPECT_EQ(err.rfind("test.toml", 0), 0u) << err;
}
INSTANTIATE_TEST_SUITE_P(
    Cases, RulesFileErrors,
    ::testing::Values(
        BadCase{"", "missing schema_version"},
        BadCase{"schema_version = 2\n", "schema_version must be 1"},
        BadCase{"schema_version = 1\nbogus = 1\n", "unknown top-level key 'bogus'"},
        BadCase{"schema_version = 1\n[[rule]]\nseverity=\"low\"\n", "without a string 'id'"},
        BadCase{"schema_version = 1\n[[rule]]\nid=\"bad id\"\n", "rule id must be"},
        BadCase{"schema_version = 1\n[[rule]]\nid=\"A\"\nseverity=\"severe\"\n",
                "rule A: severity must be"},
        BadCase{"schema_version = 1\n[[rule]]\nid=\"A\"\nseverity=\"low\"\ndescription=\"d\"\n"
                "detector=\"nope\"\n",
                "unknown detector 'nope'"},
        BadCase{"schema_version = 1\n[[rule]]\nid=\"A\"\nseverity=\"low\"\ndescription=\"d\"\n"
                "field=\"argv\"\npatterns=['x']\n",
                "unknown field 'argv'"},
        BadCase{"schema_version = 1\n[[rule]]\nid=\"A\"\nseverity=\"low\"\ndescription=\"d\"\n"
                "field=\"path\"\n",
                "either 'detector' or both"},
        BadCase{"schema_version = 1\n[[rule]]\nid=\"A\"\nseverity=\"low\"\ndescription=\"d\"\n"
                "detector=\"traversal_escape\"\nfield=\"path\"\npatterns=['x']\n",
                "either 'detector' or both"},
        BadCase{"schema_version = 1\n[[rule]]\nid=\"A\"\nseverity=\"low\"\n", "needs a severity and a description"},
        BadCase{"schema_version = 1\n[[rule]]\nid=\"A\"\nseverity=\"low\"\ndescription=\"d\"\n"
                "detector=\"traversal_escape\"\ncolour=1\n",
                "unknown key 'colour'"},
        BadCase{"schema_version = 1\n[[rule]]\nid=\"A\"\nseverity=\"low\"\ndescription=\"d\"\n"
                "field=\"path\"\npatterns=[1]\n",
                "patterns must contain only strings"},
        BadCase{"schema_version = 1\n[[rule]]\nid=\"A\"\nseverity=\"low\"\ndescription=\"d\"\n"
                "detector=\"traversal_escape\"\n[[rule]]\nid=\"A\"\nseverity=\"low\"\n"
                "description=\"d\"\ndetector=\"traversal_sensitive\"\n",
                "test.toml:7: rule A: duplicate rule id"},
        BadCase{"schema_version = 1\n[[rule]]\nid=\"A\"\nseverity=\"low\"\ndescription=\"d\"\n"
                "detector=\"traversal_escape\"\n[[rule]]\nid=\"B\"\nseverity=\"low\"\n"
                "description=\"d\"\ndetector=\"traversal_escape\"\n",
                "already used by another rule"},
        BadCase{"schema_version = 1\n[lists]\nweb_servers = \"nginx\"\n",
                "web_servers must be an array of strings"},
        BadCase{"schema_version = 1\n[lists]\nshells = []\n", "unknown key lists.shells"},
        BadCase{"schema_version = 1\n[traversal]\nmax_decode_rounds = 0\n",
                "max_decode_rounds must be an integer in [1, 16]"}));

TEST(RulesFile, CustomRulesAndDisabledDetectors) {
  // A file with one pattern rule: code detectors without a rule are disabled.
  auto e = Engine::load(std::string(kHeader) +
                            "[[rule]]\nid = \"MY-1\"\nseverity = \"medium\"\n"
                            "description = \"cryptominer\"\nfield = \"command\"\n"
                            "patterns = ['\\bxmrig\\b']\ncaseless = false\n",
                        "custom.toml");
  ASSERT_TRUE(e.has_value()) << e.error().to_string();
  std::vector<Finding> f;
  CommandInput c;
  c.command_line = "./xmrig -o pool:3333";
  e->inspect_command(c, f);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0], (Finding{"MY-1", Severity::medium}));
  f.clear();
  c.command_line = "./XMRIG";  // caseless = false
  e->inspect_command(c, f);
  EXPECT_TRUE(f.empty());
  e->inspect_http_target("/../../etc/passwd", f);
  EXPECT_TRUE(f.empty());
  e->inspect_sql_parameter("' or 1=1--", f);
  EXPECT_TRUE(f.empty());
}

TEST(RulesFile, ListsAreConfigurable) {
  auto e = Engine::load(std::string(kHeader) +
                            "[lists]\nsetuid_helpers = [\"myhelper\"]\n"
                            "trusted_exec_dirs = [\"/opt/tools/\"]\n"
                            "[[rule]]\nid = \"P\"\nseverity = \"critical\"\n"
                            "description = \"d\"\ndetector = \"privesc_uid_zero\"\n",
                        "custom.toml");
  ASSERT_TRUE(e.has_value()) << e.error().to_string();
  PrivilegeInput p;
  p.old_uid = p.old_euid = 1000;
  p.new_euid = 0;
  p.new_uid = 1000;
  p.filename = "/opt/tools/myhelper";
  std::vector<Finding> f;
  e->inspect_privilege(p, f);
  EXPECT_TRUE(f.empty());
  p.filename = "/usr/bin/sudo";  // not on this file's list
  e->inspect_privilege(p, f);
  EXPECT_EQ(testing::ids(f), std::vector<std::string>{"P"});
}

}  // namespace
}  // namespace ringward::detect
