// Harmony tool declarations (spec §6.4-6.5): tool namespaces, the built-in browser and python
// tools, and the JSON Schema -> TypeScript rendering that harmony uses to show a tool's
// parameters to the model.
//
// The output is byte-identical to openai/harmony (src/encoding.rs, json_schema_to_typescript and
// template_tools_section), including its quirks (oneOf layout, "// default:" placement, examples
// that are only rendered when they are strings). Schemas are nlohmann::ordered_json because
// harmony keeps the order of "properties" as written (serde_json "preserve_order"); a
// nlohmann::json (sorted keys) would reorder the parameters the model sees.
//
// Everything here is pure and thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace atom {

// One tool of a namespace: `type <name> = (_: <parameters as TypeScript>) => any;`.
struct ToolDescription {
  std::string name;
  std::string description;  // may span several lines; each becomes a "// " comment line
  std::optional<nlohmann::ordered_json> parameters;  // JSON Schema; nullopt = no parameters

  bool operator==(const ToolDescription&) const = default;
};

// A namespace of tools ("functions", "browser", "python"). A namespace without tools (python)
// is rendered as prose: its description lines without "// ".
struct ToolNamespace {
  std::string name;
  std::optional<std::string> description;
  std::vector<ToolDescription> tools;

  bool operator==(const ToolNamespace&) const = default;
};

// Harmony's built-in tools, with the exact texts of openai/harmony (fixtures
// test_browser_tool_only.txt, test_browser_and_python_tool.txt).
ToolNamespace BrowserToolNamespace();
ToolNamespace PythonToolNamespace();

// Checks that `schema` has the shape the renderer reads: a schema is an object (or a JSON
// Schema boolean); "properties" is an object of schemas; "required" an array of strings;
// "type" a string or an array of strings; "oneOf" an array of schemas; "items" a schema or an
// array of schemas; "enum" and "examples" arrays; "title" and "description" strings; nesting at
// most kMaxSchemaDepth levels. Unknown keywords are allowed and ignored. On error the message
// starts with `path` followed by the offending field, e.g.
// "tools[0].function.parameters.properties.unit.type: must be a string or an array of strings".
inline constexpr int kMaxSchemaDepth = 32;
Status ValidateToolSchema(const nlohmann::ordered_json& schema, std::string_view path);

// The TypeScript type harmony writes for `schema`; every line of a nested object is prefixed
// by `indent`. Never fails: anything it does not understand renders as "any" (deeper than
// kMaxSchemaDepth too). Call ValidateToolSchema first to reject malformed schemas.
std::string JsonSchemaToTypeScript(const nlohmann::ordered_json& schema,
                                   std::string_view indent = "");

// The "# Tools" section listing `namespaces` in the given order (harmony keeps them in a map,
// i.e. sorted by name; RenderSystem/DeveloperContent sort before calling). Validates every
// tool's parameters; errors name the namespace and tool ("functions.get_weather.parameters...").
StatusOr<std::string> RenderToolsSection(const std::vector<ToolNamespace>& namespaces);

// The lines of `text` as Rust's str::lines() splits them: on "\n", a trailing "\r" removed
// from each line, no empty last line for a trailing "\n", nothing at all for "".
std::vector<std::string_view> SplitLines(std::string_view text);

}  // namespace atom
