// SQL injection detection: the lexer's fingerprints and the default shapes, over attack and
// benign corpora. Runs the same entry point the pipeline uses for each query parameter.
#include <rapidcheck.h>

#include "processor/detect/sql_lexer.h"
#include "tests/detect/detect_test_util.h"

namespace ringward::detect {
namespace {

using testing::default_engine;
using testing::has;
using testing::has_prefix;
using testing::joined;

std::string fp(std::string_view s, SqlContext c) {
  std::string out;
  sql_fingerprint(s, c, out);
  return out;
}

TEST(SqlLexer, Fingerprints) {
  EXPECT_EQ(fp("' or 1=1--", SqlContext::single_quote), "q:s&1o1c");
  EXPECT_EQ(fp("1 union select 1,2", SqlContext::raw), "r:1UE1,1");
  EXPECT_EQ(fp("admin'--", SqlContext::single_quote), "q:sc");
  EXPECT_EQ(fp("O'Brien", SqlContext::raw), "r:ns");
  EXPECT_EQ(fp("O'Brien", SqlContext::single_quote), "q:sn");
  EXPECT_EQ(fp("select a product", SqlContext::raw), "r:Enn");
  EXPECT_EQ(fp("-1 UNION ALL SELECT", SqlContext::raw), "r:1UE");
  EXPECT_EQ(fp("1 UN/**/ION SEL/**/ECT 1", SqlContext::raw), "r:1UE1");
  EXPECT_EQ(fp("1 UNION/**/SELECT 1", SqlContext::raw), "r:1UE1");
  EXPECT_EQ(fp("1 /*!50000UNION*/ SELECT", SqlContext::raw), "r:1UE");
  EXPECT_EQ(fp("' ORDER BY 3", SqlContext::single_quote), "q:sB1");
  EXPECT_EQ(fp("1 and sleep(5)", SqlContext::raw), "r:1&f(1)");
  EXPECT_EQ(fp("@@version", SqlContext::raw), "r:v");
  EXPECT_EQ(fp("0x414243 || 'a'", SqlContext::raw), "r:1&s");
  EXPECT_EQ(fp("5th avenue", SqlContext::raw), "r:nn");
  EXPECT_EQ(fp("'it''s' x", SqlContext::raw), "r:sn");
  EXPECT_EQ(fp("N'abc' x", SqlContext::raw), "r:sn");
  EXPECT_EQ(fp("", SqlContext::raw), "r:");
  EXPECT_EQ(fp("a b c d e f g h i j k l", SqlContext::raw), "r:nnnnnnnnnn");  // capped at 10
}

class SqliAttack : public ::testing::TestWithParam<const char*> {};
TEST_P(SqliAttack, Detected) {
  std::vector<Finding> f;
  default_engine().inspect_sql_parameter(GetParam(), f);
  EXPECT_TRUE(has_prefix(f, "RW-SQLI-")) << GetParam();
}
INSTANTIATE_TEST_SUITE_P(
    Corpus, SqliAttack,
    ::testing::Values(
        "' or 1=1--", "' OR 1=1 --", "' or 1=1#", "1' or '1'='1", "' OR 'x'='x", "\" or \"\"=\"",
        "admin'--", "admin' #", "admin'/*", "admin')--", "') or ('a'='a", "admin') or ('1'='1'--",
        "' or not 1=2--", "' or true--", "' || '1'='1", "' and 1=(select count(*) from users)--",
        "x' AND 1=(SELECT COUNT(*) FROM tabname); --", "' or 1 in (select 1)--",
        "' union select null,null--", "' UNION ALL SELECT username, password FROM users--",
        "-1 union all select 1,2,3", "1 UN/**/ION SEL/**/ECT 1,2", "1 UNION/**/SELECT/**/1,2",
        "1/*!50000union*/ select 1", "1 UnIoN SeLeCt 1", "1) union select 1,2--",
        "abc union select password from users", "1; DROP TABLE users", "1;drop table users--",
        "'; exec master..xp_cmdshell 'ping'--", "'; DROP TABLE users; --",
        "x; select * from users", "1' and sleep(5)#", "1 or sleep(5)", "1 and benchmark(1000000,md5(1))",
        "1' ORDER BY 3--+", "1 order by 10", "'; waitfor delay '0:0:5'--", "1 waitfor delay '0:0:5'",
        "1 AND 1=1", "1) or (1=1", "1)) or ((1=1", "1 or 1=1--", "1 and true--",
        "%27%20OR%201%3D1--", "%27+or+1%3D1--", "%2527%2520or%25201%253D1--", "1%20union%20select%201",
        "' and extractvalue(1,concat(0x5c,(select user())))--", "'-sleep(5)-'",
        "' (select load_file('/etc/passwd'))", "1 or @@version=1"));

class SqliBenign : public ::testing::TestWithParam<const char*> {};
TEST_P(SqliBenign, NotDetected) {
  std::vector<Finding> f;
  default_engine().inspect_sql_parameter(GetParam(), f);
  EXPECT_FALSE(has_prefix(f, "RW-SQLI-")) << GetParam() << " -> " << joined(f);
}
INSTANTIATE_TEST_SUITE_P(
    Corpus, SqliBenign,
    ::testing::Values(
        "select a product", "Select your size", "union station", "Union Square, San Francisco",
        "O'Brien", "O'Neil and O'Brien", "Rock 'n' Roll or Jazz", "Let's meet at 5 o'clock",
        "it's 100% -- guaranteed", "Barnes & Noble", "Tom and Jerry", "1 or 2", "5 or more",
        "The customers' select list", "I can't; won't", "5' 11\"", "price>=100 and price<=200",
        "C# tutorial", "--help", "100 - 20 = 80", "user's guide -- chapter 1", "drop zone",
        "delete my account", "order by price", "sort=name", "john.o'reilly@example.com",
        "hello world", "12345", "a-b-c", "2024-01-01", "email@example.com", "select",
        "union", "Don't stop me now", "x=1", "(555) 123-4567", "rock & roll; jazz", "1; 2; 3",
        "What's the union's position?", "How do I use UNION in SQL", "and or not",
        "Mc'Donalds -- best burgers", "+1 555 0100", "The 'or' operator", "café crème",
        "SELECT", "null", "true or false", "I'd like 1 or 2 items", "ab'cd"));

TEST(SqliBody, FormJsonAndPlainBodies) {
  const Engine& e = default_engine();
  std::vector<Finding> f;
  e.inspect_http_body("user=admin&pass=%27+or+1%3D1--", f);
  EXPECT_TRUE(has(f, "RW-SQLI-001")) << joined(f);
  f.clear();
  e.inspect_http_body(R"({"user":"admin'--","n":1})", f);
  EXPECT_TRUE(has(f, "RW-SQLI-004")) << joined(f);
  f.clear();
  e.inspect_http_body(R"({"q":"1 union select pass from users"})", f);
  EXPECT_TRUE(has(f, "RW-SQLI-002")) << joined(f);
  f.clear();
  e.inspect_http_body(R"({"name":"O'Brien","city":"Union station","note":"select a product"})", f);
  EXPECT_TRUE(f.empty()) << joined(f);
  f.clear();
  e.inspect_http_body("name=O%27Brien&q=select+a+product", f);
  EXPECT_TRUE(f.empty()) << joined(f);
  f.clear();
  // JSON keys are not values: a key that looks like SQL is not a finding.
  e.inspect_http_body(R"({"' or 1=1--":1})", f);
  EXPECT_TRUE(f.empty()) << joined(f);
}

TEST(SqliTarget, QueryPathSegmentsAndParameters) {
  const Engine& e = default_engine();
  std::vector<Finding> f;
  e.inspect_http_target("/products?id=1%20union%20select%20user,pass%20from%20users", f);
  EXPECT_TRUE(has(f, "RW-SQLI-002")) << joined(f);
  f.clear();
  e.inspect_http_target("/item/1'%20or%20'1'='1", f);
  EXPECT_TRUE(has(f, "RW-SQLI-001")) << joined(f);
  f.clear();
  e.inspect_http_target("/search?q=select+a+product&cat=union+station&name=O%27Brien", f);
  EXPECT_TRUE(f.empty()) << joined(f);
  f.clear();
  e.inspect_http_target("/a?x=1&y=2&id=%27;%20DROP%20TABLE%20users;--", f);
  EXPECT_TRUE(has(f, "RW-SQLI-003")) << joined(f);
}

TEST(SqlLexer, PropertyNeverExceedsCapAndIsDeterministic) {
  rc::check("fingerprint is bounded and stable", [](const std::string& s) {
    std::string a, b;
    sql_fingerprint(s, SqlContext::single_quote, a);
    sql_fingerprint(s, SqlContext::single_quote, b);
    RC_ASSERT(a == b);
    RC_ASSERT(a.size() <= 2 + kSqlMaxTokens);
    RC_ASSERT(a.substr(0, 2) == "q:");
  });
}

}  // namespace
}  // namespace ringward::detect
