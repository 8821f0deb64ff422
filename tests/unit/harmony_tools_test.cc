// JSON Schema -> Harmony TypeScript (spec §6.4), the tools section, and schema validation.
// The fixture cases (test_render_functions_with_parameters.txt, the browser tool) are covered
// byte-for-byte in harmony_render_test.cc; these pin the other branches of harmony's
// json_schema_to_typescript, quirks included.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tokenizer/harmony_tools.h"

namespace atom {
namespace {

using Json = nlohmann::ordered_json;

std::string Ts(const char* schema) { return JsonSchemaToTypeScript(Json::parse(schema)); }

TEST(HarmonyTools, ScalarsEnumsAndArrays) {
  EXPECT_EQ(Ts(R"({"type": "string"})"), "string");
  EXPECT_EQ(Ts(R"({"type": "integer"})"), "number");
  EXPECT_EQ(Ts(R"({"type": "number"})"), "number");
  EXPECT_EQ(Ts(R"({"type": "boolean"})"), "boolean");
  EXPECT_EQ(Ts(R"({"type": "null"})"), "any");
  EXPECT_EQ(Ts(R"({})"), "any");
  EXPECT_EQ(Ts(R"({"enum": ["a", "b"]})"), "any");  // harmony needs "type"
  EXPECT_EQ(Ts(R"({"type": "string", "enum": ["a", "b"]})"), R"("a" | "b")");
  EXPECT_EQ(Ts(R"({"type": "string", "enum": [1, 2]})"), "string");
  EXPECT_EQ(Ts(R"({"type": ["integer", "null"]})"), "number | null");
  EXPECT_EQ(Ts(R"({"type": "array"})"), "Array<any>");
  EXPECT_EQ(Ts(R"({"type": "array", "items": {"type": "integer"}})"), "number[]");
  EXPECT_EQ(Ts(R"({"type": "array", "items": {"type": "array", "items": {"type": "string"}}})"),
            "string[][]");
  EXPECT_EQ(Ts("true"), "any");
}

TEST(HarmonyTools, ObjectPropertiesKeepTheirOrderAndMarkOptionalOnes) {
  EXPECT_EQ(Ts(R"({"type": "object",
                  "properties": {"z": {"type": "string"}, "a": {"type": "number"}},
                  "required": ["a"]})"),
            "{\nz?: string,\na: number,\n}");
  EXPECT_EQ(Ts(R"({"type": "object"})"), "{\n}");
}

TEST(HarmonyTools, Defaults) {
  EXPECT_EQ(Ts(R"({"type": "object", "properties": {
                    "n": {"type": "number", "default": 1.5},
                    "b": {"type": "boolean", "default": true},
                    "o": {"type": "object", "default": {"k": [1, "x"]}},
                    "s": {"type": "string", "default": "hi"},
                    "e": {"type": "string", "enum": ["c", "f"], "default": "c"}}})"),
            "{\n"
            "n?: number, // default: 1.5\n"
            "b?: boolean, // default: true\n"
            "o?: {\n    }, // default: {\"k\":[1,\"x\"]}\n"
            "s?: string, // default: \"hi\"\n"
            "e?: \"c\" | \"f\", // default: c\n"
            "}");
}

TEST(HarmonyTools, NestedObjectsIndentAndRepeatTheirDescription) {
  // harmony writes a nested object's description both above the property and before "{".
  EXPECT_EQ(Ts(R"({"type": "object", "properties": {
                    "a": {"type": "object", "description": "inner",
                          "properties": {"b": {"type": "integer"}}, "required": ["b"]}},
                  "required": ["a"]})"),
            "{\n// inner\na:     // inner\n{\n    b: number,\n    },\n}");
}

TEST(HarmonyTools, ArrayOfObjects) {
  EXPECT_EQ(Ts(R"({"type": "array", "items": {"type": "object",
                                               "properties": {"x": {"type": "string"}}}})"),
            "{\nx?: string,\n}[]");
}

TEST(HarmonyTools, NullableTitleAndExamples) {
  EXPECT_EQ(Ts(R"({"type": "object", "properties": {
                    "a": {"type": ["string", "null"], "nullable": true},
                    "b": {"type": "integer", "nullable": true, "title": "B",
                          "examples": [1, "two"]}}})"),
            "{\n"
            "a?: string | null,\n"
            "// B\n//\n// Examples:\n// - \"two\"\n"
            "b?: number | null,\n"
            "}");
}

TEST(HarmonyTools, TopLevelOneOf) {
  EXPECT_EQ(Ts(R"({"oneOf": [{"type": "string", "description": "s"},
                             {"type": "number", "default": 3, "nullable": true},
                             {"type": "string", "enum": ["x"], "default": "x"}]})"),
            "\n | string // s\n | number | null // default: 3\n | \"x\" // default: \"x\"");
}

TEST(HarmonyTools, PropertyOneOf) {
  // The property description equals the first variant's: harmony writes it nowhere.
  EXPECT_EQ(Ts(R"({"type": "object", "properties": {
                    "v": {"oneOf": [{"type": "string", "description": "d"},
                                    {"type": "number", "description": "n"}],
                          "description": "d"}},
                  "required": ["v"]})"),
            "{\nv:\n | string\n | number // n\n,\n}");
  // Otherwise above the name, with the default; variant defaults trail their line.
  EXPECT_EQ(Ts(R"({"type": "object", "properties": {
                    "v": {"oneOf": [{"type": "string", "description": "first"},
                                    {"type": "string", "enum": ["a"], "default": "a"}],
                          "description": "prop", "default": "a"}}})"),
            "{\n// prop\n// default: \"a\"\nv?:\n | string\n | \"a\" // default: a\n,\n}");
}

TEST(HarmonyTools, DeepSchemasNeverCrash) {
  Json deep = Json::object();
  for (int i = 0; i < 10000; ++i) {
    Json next = Json::object();
    next["type"] = "array";
    next["items"] = std::move(deep);
    deep = std::move(next);
  }
  std::string ts = JsonSchemaToTypeScript(deep);
  EXPECT_TRUE(ts.starts_with("any[]")) << ts.substr(0, 40);
  Status s = ValidateToolSchema(deep, "parameters");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("schema nested deeper than 32 levels"), std::string::npos);
  EXPECT_TRUE(s.message().starts_with("parameters.items.items.")) << s.message();
}

TEST(HarmonyTools, ValidationErrorsNameTheField) {
  struct Case {
    const char* schema;
    const char* message;
  };
  const Case cases[] = {
      {R"("object")", "p: a schema must be a JSON object, got string"},
      {R"({"type": 3})", "p.type: must be a string or an array of strings"},
      {R"({"type": ["string", 1]})", "p.type: must be a string or an array of strings"},
      {R"({"properties": []})", "p.properties: must be an object"},
      {R"({"properties": {"a": 1}})", "p.properties.a: a schema must be a JSON object, got number"},
      {R"({"required": "a"})", "p.required: must be an array"},
      {R"({"required": ["a", 2]})", "p.required[1]: must be a string"},
      {R"({"oneOf": {}})", "p.oneOf: must be an array"},
      {R"({"oneOf": [{}, null]})", "p.oneOf[1]: a schema must be a JSON object, got null"},
      {R"({"items": "x"})", "p.items: a schema must be a JSON object, got string"},
      {R"({"items": [{}, {"type": {}}]})",
       "p.items[1].type: must be a string or an array of strings"},
      {R"({"description": 5})", "p.description: must be a string"},
      {R"({"title": []})", "p.title: must be a string"},
      {R"({"enum": "a"})", "p.enum: must be an array"},
      {R"({"properties": {"a": {"properties": {"b": {"examples": 1}}}}})",
       "p.properties.a.properties.b.examples: must be an array"},
  };
  for (const Case& c : cases) {
    Status s = ValidateToolSchema(Json::parse(c.schema), "p");
    EXPECT_EQ(s.message(), c.message) << c.schema;
  }
  EXPECT_TRUE(ValidateToolSchema(Json::parse("true"), "p").ok());
  EXPECT_TRUE(ValidateToolSchema(Json::parse(R"({"type": "object", "properties": {"a": true},
                                                 "x-unknown": [1]})"),
                                 "p")
                  .ok());
}

TEST(HarmonyTools, ToolsSectionLayout) {
  ToolNamespace fns{"functions", std::nullopt,
                    {{"no_params", "", std::nullopt},
                     {"two_lines", "Line one.\r\nLine two.\n",
                      Json::parse(R"({"type": "object", "properties": {"q": {"type": "string"}},
                                      "required": ["q"]})")}}};
  ToolNamespace prose{"notes", "First paragraph.\n\nSecond.", {}};
  auto text = RenderToolsSection({fns, prose});
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text,
            "# Tools\n\n"
            "## functions\n\n"
            "namespace functions {\n\n"
            "type no_params = () => any;\n\n"
            "// Line one.\n// Line two.\n"
            "type two_lines = (_: {\nq: string,\n}) => any;\n\n"
            "} // namespace functions\n\n"
            "## notes\n\nFirst paragraph.\n\nSecond.");
}

TEST(HarmonyTools, ToolsSectionRejectsAMalformedSchema) {
  ToolNamespace fns{"functions", std::nullopt,
                    {{"get_weather", "", Json::parse(R"({"type": "object",
                                                         "properties": {"unit": {"type": 7}}})")}}};
  auto text = RenderToolsSection({fns});
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message(),
            "functions.get_weather.parameters.properties.unit.type: must be a string or an array "
            "of strings");
}

TEST(HarmonyTools, SplitLinesLikeRust) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(SplitLines(""), V{});
  EXPECT_EQ(SplitLines("a"), V{"a"});
  EXPECT_EQ(SplitLines("a\n"), V{"a"});
  EXPECT_EQ(SplitLines("a\n\nb"), (V{"a", "", "b"}));
  EXPECT_EQ(SplitLines("a\r\nb\r"), (V{"a", "b\r"}));
  EXPECT_EQ(SplitLines("\n"), V{""});
}

TEST(HarmonyTools, BuiltinNamespaces) {
  ToolNamespace browser = BrowserToolNamespace();
  EXPECT_EQ(browser.name, "browser");
  ASSERT_EQ(browser.tools.size(), 3u);
  EXPECT_EQ(browser.tools[1].name, "open");
  EXPECT_EQ(JsonSchemaToTypeScript(*browser.tools[0].parameters),
            "{\nquery: string,\ntopn?: number, // default: 10\nsource?: string,\n}");
  ToolNamespace python = PythonToolNamespace();
  EXPECT_EQ(python.name, "python");
  EXPECT_TRUE(python.tools.empty());
}

}  // namespace
}  // namespace atom
