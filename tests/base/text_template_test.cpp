#include <doctest/doctest.h>

#include <rote/base/text_template.h>

using rote::render_template;
using rote::templatize;

TEST_CASE("typed inputs and secrets become placeholders, and render back")
{
    const std::map<std::string, std::string> inputs {{"company", "ACME Ltd"}, {"short", "ACME"}, {"empty", ""}};
    const std::map<std::string, std::string> secrets {{"crm_password", "hunter2ACME"}};

    CHECK(templatize("ACME Ltd", inputs, secrets) == "{{company}}");
    CHECK(templatize("find ACME Ltd and ACME", inputs, secrets) == "find {{company}} and {{short}}");
    // The secret wins over the input that is part of it, so no piece of it survives.
    CHECK(templatize("hunter2ACME", inputs, secrets) == "{{secret:crm_password}}");
    CHECK(templatize("a {{literal}}", inputs, secrets) == "a {{{{literal}}");

    for (const std::string typed : {"find ACME Ltd and ACME", "hunter2ACME", "a {{literal}}", "plain"}) {
        CAPTURE(typed);
        auto r = render_template(templatize(typed, inputs, secrets), inputs, secrets);
        REQUIRE(r.ok());
        CHECK(*r == typed);
    }
    // Other inputs on replay.
    CHECK(render_template("{{company}}", {{"company", "Globex GmbH"}}, {}).value() == "Globex GmbH");
}

TEST_CASE("rendering fails clearly, and never shows a secret")
{
    auto missing = render_template("{{company}}", {}, {});
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().message().find("no input company") != std::string::npos);
    auto missing_secret = render_template("{{secret:pw}}", {{"pw", "not-a-secret-input"}}, {});
    REQUIRE_FALSE(missing_secret.ok());
    CHECK(missing_secret.error().message().find("no secret pw") != std::string::npos);
    CHECK_FALSE(render_template("{{unterminated", {}, {}).ok());
    CHECK_FALSE(render_template("{{}}", {}, {}).ok());
    auto ok = render_template("{{secret:pw}}", {}, {{"pw", "s3cret"}});
    REQUIRE(ok.ok());
    CHECK(*ok == "s3cret");
}

TEST_CASE("a secret is hidden in a JSON string and in HTML as they escape it")
{
    const std::map<std::string, std::string> secrets {{"pw", "a\"b\\c<&'d"}};
    CHECK(rote::hide_secrets(R"({"password":"a\"b\\c<&'d"})", secrets) == R"({"password":"{{secret:pw}}"})");
    CHECK(rote::hide_secrets(R"(<input value="a&quot;b\c&lt;&amp;&#39;d">)", secrets)
        == R"(<input value="{{secret:pw}}">)");
}

TEST_CASE("a secret is hidden in a URL as written, percent-encoded and form-encoded")
{
    const std::map<std::string, std::string> secrets {{"pw", "p@ss word/1"}, {"token", "abc"}, {"empty", ""}};
    CHECK(rote::hide_secrets("/login?pw=p%40ss%20word%2F1&x=1", secrets) == "/login?pw={{secret:pw}}&x=1");
    CHECK(rote::hide_secrets("/login?pw=p%40ss+word%2f1", secrets) == "/login?pw={{secret:pw}}");
    CHECK(rote::hide_secrets("/a/p@ss word/1/abc", secrets) == "/a/{{secret:pw}}/{{secret:token}}");
    CHECK(rote::hide_secrets("/search?q=Acme+Ltd", secrets) == "/search?q=Acme+Ltd");
    // A value that is part of its own placeholder is not replaced twice.
    CHECK(rote::hide_secrets("/x?k=secret", {{"secret", "secret"}}) == "/x?k={{secret:secret}}");
}
