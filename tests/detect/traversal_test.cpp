// Path traversal detection: the normaliser's decoding and resolution, and the engine's target,
// parameter and file-path entry points over attack and benign corpora.
#include <rapidcheck.h>

#include "processor/detect/path_normalizer.h"
#include "tests/detect/detect_test_util.h"

namespace ringward::detect {
namespace {

using testing::default_engine;
using testing::has;
using testing::has_prefix;
using testing::joined;

TEST(PathNormalizer, DecodesEveryForm) {
  PathNormalizer n;
  const auto dec = [&](std::string_view s) {
    PathAnalysis a;
    return std::string(n.decode(s, true, false, a));
  };
  EXPECT_EQ(dec("%2e%2e%2f"), "../");
  EXPECT_EQ(dec("%252e%252e%252f"), "../");
  EXPECT_EQ(dec("%25252e"), ".");
  EXPECT_EQ(dec("%c0%ae%c0%ae%c0%af"), "../");
  EXPECT_EQ(dec("%e0%80%ae"), ".");
  EXPECT_EQ(dec("%f0%80%80%ae"), ".");
  EXPECT_EQ(dec("%u002e%u002e%u2215"), "../");
  EXPECT_EQ(dec("..\\..\\"), "../../");
  EXPECT_EQ(dec("%ef%bc%8e%ef%bc%8e/"), "../");
  EXPECT_EQ(dec("%zz%4"), "%zz%4");  // malformed escapes pass through
  EXPECT_EQ(dec("a%00.png"), "a");   // NUL ends the path as in C
}

TEST(PathNormalizer, ResolvesAgainstItsRoot) {
  PathNormalizer n;
  const auto res = [&](std::string_view s, PathAnalysis& a) {
    return std::string(n.analyse(s, true, false, a));
  };
  PathAnalysis a;
  EXPECT_EQ(res("a/../b", a), "/b");
  EXPECT_EQ(a.escape_depth, 0);
  EXPECT_EQ(a.parent_segments, 1);
  a = {};
  EXPECT_EQ(res("../../etc/passwd", a), "/etc/passwd");
  EXPECT_EQ(a.escape_depth, 2);
  a = {};
  EXPECT_EQ(res("/x/./y//z/..", a), "/x/y");
  EXPECT_EQ(a.escape_depth, 0);
  a = {};
  res("/a/%2e%2e/%2e%2e/b", a);
  EXPECT_EQ(a.escape_depth, 1);
  EXPECT_TRUE(a.disguised);
  a = {};
  res("/a/b/../c", a);
  EXPECT_FALSE(a.disguised);
  a = {};
  res("%25%32%35%32%35%32%35%32%65", a);  // more layers than the bound
  EXPECT_TRUE(a.decode_rounds_exhausted);
}

TEST(PathNormalizer, SensitiveSuffixIsWholeSegment) {
  const std::vector<std::string> t = {"etc/shadow", ".env"};
  EXPECT_TRUE(is_sensitive_target("/etc/shadow", t));
  EXPECT_TRUE(is_sensitive_target("/ETC/Shadow", t));
  EXPECT_TRUE(is_sensitive_target("/app/.env", t));
  EXPECT_FALSE(is_sensitive_target("/etc/shadowx", t));
  EXPECT_FALSE(is_sensitive_target("/myetc/shadow", t));
  EXPECT_FALSE(is_sensitive_target("/app/prod.env", t));
}

TEST(PathNormalizer, PropertyEscapeNeverExceedsParentCountAndResolvedIsRooted) {
  rc::check([](const std::string& s) {
    PathNormalizer n(512, 4);
    PathAnalysis a;
    const std::string r(n.analyse(s, true, true, a));
    RC_ASSERT(!r.empty());
    RC_ASSERT(r.front() == '/');
    RC_ASSERT(a.escape_depth <= a.parent_segments);
    RC_ASSERT(r.find("/../") == std::string::npos);
  });
}

class TraversalAttack : public ::testing::TestWithParam<const char*> {};
TEST_P(TraversalAttack, Detected) {
  std::vector<Finding> f;
  default_engine().inspect_http_target(GetParam(), f);
  EXPECT_TRUE(has_prefix(f, "RW-TRAV-")) << GetParam() << " -> " << joined(f);
}
INSTANTIATE_TEST_SUITE_P(
    Corpus, TraversalAttack,
    ::testing::Values(
        "../../etc/passwd", "/../etc/passwd", "/static/../../etc/shadow", "/a/b/../../../x",
        "/..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd", "/%2E%2E/%2E%2E/etc/passwd",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/%252e%252e/%252e%252e/etc/passwd",
        "/%252e%252e%252f%252e%252e%252fetc", "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        "/%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%afetc/passwd", "/%e0%80%ae%e0%80%ae/x",
        "/%c0%2e%c0%2e/x", "/..\\..\\windows\\win.ini", "/files/..%5c..%5cboot.ini",
        "/files/%2e%2e%5c%2e%2e%5cboot.ini", "/download?file=../../../etc/passwd",
        "/download?file=..%2f..%2fetc%2fpasswd", "/view?page=....//....//etc/passwd",
        "/img/%u002e%u002e/%u002e%u002e/etc/passwd", "/x?f=%252e%252e%252fsecret",
        "/x?a=1&path=..%2F..%2F..%2Fproc%2Fself%2Fenviron", "/static/..;/..;/WEB-INF/web.xml",
        "/show?f=../../../../etc/passwd%00.png", "/%ef%bc%8e%ef%bc%8e/%ef%bc%8e%ef%bc%8e/etc",
        "/x?file=%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", "/a/.. /.. /b", "/cgi-bin/.%2e/.%2e/bin/sh",
        "/%2e%2e%2f%2e%2e%2f%2e%2e%2f"));

class TraversalBenign : public ::testing::TestWithParam<const char*> {};
TEST_P(TraversalBenign, NotDetected) {
  std::vector<Finding> f;
  default_engine().inspect_http_target(GetParam(), f);
  EXPECT_FALSE(has_prefix(f, "RW-TRAV-")) << GetParam() << " -> " << joined(f);
}
INSTANTIATE_TEST_SUITE_P(
    Corpus, TraversalBenign,
    ::testing::Values("/a/../b", "a/../b", "/static/css/../img/logo.png", "/docs/./intro.html",
                      "/search?q=a/../b", "/index.html?next=/home", "/blog/2024/01/hello-world...",
                      "/files/report..pdf", "/api/v1/users?id=5&sort=name", "/", "",
                      "/a/b/c/../../d", "/%2e/x", "/a/%2e%2e/b", "/v1.2.3/download",
                      "/x?range=1..10", "/x?q=..", "/x?q=...", "/.well-known/acme-challenge/t",
                      "/.hidden/file", "/a//b///c", "/a/b/..", "/%7Euser/page", "/x?next=%2Fhome%2F",
                      "/caf%C3%A9/menu", "/path%20with%20spaces/", "/x#../../etc/passwd",
                      "/wiki/Hmm...", "/a/./././b"));

TEST(TraversalSeverity, SensitiveTargetIsCritical) {
  std::vector<Finding> f;
  default_engine().inspect_http_target("/static/%2e%2e/%2e%2e/etc/shadow", f);
  ASSERT_TRUE(has(f, "RW-TRAV-003")) << joined(f);
  for (const Finding& x : f) {
    if (x.rule_id == "RW-TRAV-003") {
      EXPECT_EQ(x.severity, Severity::critical);
    }
  }
  EXPECT_TRUE(has(f, "RW-TRAV-002"));  // disguised
  f.clear();
  default_engine().inspect_http_target("/static/../../var/www/img.png", f);
  EXPECT_TRUE(has(f, "RW-TRAV-001"));
  EXPECT_FALSE(has(f, "RW-TRAV-002"));  // plain, not disguised
  EXPECT_FALSE(has(f, "RW-TRAV-003"));  // not a sensitive file
}

TEST(TraversalFilePaths, FileSemantics) {
  const Engine& e = default_engine();
  std::vector<Finding> f;
  e.inspect_file_path("../src/main.c", f);  // one level: build tools do this
  EXPECT_TRUE(f.empty()) << joined(f);
  e.inspect_file_path("/usr/lib/x86_64-linux-gnu/../lib/libc.so.6", f);
  EXPECT_TRUE(f.empty()) << joined(f);
  e.inspect_file_path("/etc/passwd", f);  // plain read of passwd is routine (libc does it)
  EXPECT_TRUE(f.empty()) << joined(f);
  e.inspect_file_path("../../../etc/shadow", f);
  EXPECT_TRUE(has(f, "RW-TRAV-001") && has(f, "RW-TRAV-003")) << joined(f);
  f.clear();
  e.inspect_file_path("/var/www/html/../../../etc/shadow", f);
  EXPECT_TRUE(has(f, "RW-TRAV-003")) << joined(f);
  f.clear();
  e.inspect_file_path("/var/www/html/..%2f..%2fetc/passwd", f);
  EXPECT_TRUE(has(f, "RW-PATH-001")) << joined(f);
}

}  // namespace
}  // namespace ringward::detect
